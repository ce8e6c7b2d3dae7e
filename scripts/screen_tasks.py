"""Screen candidate tasks for chapter 4, and the ViT's recipes, by the dynamic-range precondition's own
quantities, before any of their chaos, cone or switch numbers exist.

    python scripts/screen_tasks.py [--kinds table sequence vit] [--out book/task_screen.json]

For every table of ``twophase_book.beyond.TABLES`` (with the tabular task's network and recipe), every target of
``twophase_book.beyond.SEQUENCES`` (with the sequence task's) and every recipe of
``twophase_book.beyond.VIT_RECIPES`` (the ViT on its window): two independently initialised networks trained on the
same batches for the chapter's window, their test disagreement; the first one's test accuracy; the model linearized
at initialisation trained as long, its test accuracy; the majority-class and logistic-regression baselines; and
``twophase_lib.verdicts.dynamic_range_precondition`` on that one pair and seed, with the better baseline (intervals
over test inputs only). Per kind, the chapter's choice is the candidate whose weaker check has the largest lower
bound; the script says which, and chapter 4 shows the screen. ``--kinds`` screens only those kinds and keeps the
file's other candidates as they were.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from twophase_book import beyond
from twophase_lib.chaos import REFERENCE_OFFSET
from twophase_lib.linearize import linearized_model, train_linearized
from twophase_lib.task import Task, run_data
from twophase_lib.training import compute_threads, initial_checkpoint, materialise, predict, train
from twophase_lib.verdicts import dynamic_range_precondition

ROOT = Path(__file__).resolve().parents[1]
#: The kinds of candidate, in the file's order.
KINDS = ("table", "sequence", "vit")
#: How a kind's candidate is chosen.
RULE = ("per kind, the candidate whose weaker precondition check has the largest lower bound; its margin where the "
        "screen's one pair gives no interval (the book's t intervals over seeds need two: the ViT's recipes, screened "
        "after that change; the tables and sequences were screened with intervals over test inputs)")


def _bound(check: dict) -> float:
    """A check's lower bound, or its margin where it has none (one pair and seed)."""
    return check["low"] if math.isfinite(check["low"]) else check["margin"]


def candidates() -> dict:
    """{name: run} of every candidate, each at the chapter's cpu window and recipe."""
    tabular = beyond.task_run("cpu", "tabular")
    steps = beyond.SIZES["tabular"][0]
    out = {}
    for table in beyond.TABLES:
        features, classes = beyond.table_shape(table)
        model = functools.partial(beyond.TabularMLP, features, 256, classes)
        task = Task(f"screen {table}", model, functools.partial(beyond.table_data, table))
        out[f"table: {table}"] = tabular.replace(task=task, optim={"steps": steps})
    sequence = beyond.task_run("cpu", "sequence").replace(optim={"steps": beyond.SIZES["sequence"][0]})
    for name, (data, classes) in beyond.SEQUENCES.items():
        task = Task(f"screen {name}", functools.partial(beyond.WordGRU, 128, classes), data)
        out[f"sequence: {name}"] = sequence.replace(task=task)
    for name, recipe in beyond.VIT_RECIPES.items():
        out[f"vit: {name}"] = beyond.task_run("cpu", "vit", recipe).replace(optim={"steps": beyond.SIZES["vit"][0]})
    return out


def screen(run) -> dict:
    """The precondition's quantities for one candidate run (seed 0, its reference partner, seed 0 linearized)."""
    data = run_data(run)
    y = data.y_test.cpu().numpy()
    t = time.perf_counter()
    with compute_threads():
        a = train(run, progress=False).final
        b = train(run.replace(seed=run.seed + REFERENCE_OFFSET, data_seed=run.seed), progress=False).final
        init = initial_checkpoint(run)
        lin = train_linearized(run, init, progress=False).final
        pa = predict(materialise(run, a), data.x_test).argmax(1).cpu().numpy()
        pb = predict(materialise(run, b), data.x_test).argmax(1).cpu().numpy()
        pl = predict(linearized_model(run, init, lin), data.x_test).argmax(1).cpu().numpy()
    base = beyond.baseline_accuracies(data)  # 10,000 training examples, as the chapter
    pre = dynamic_range_precondition((pa != pb)[None], (pa == y)[None], (pl == y)[None],
                                     baseline=max(base.values()))
    return {"train": len(data.x_train), "test": len(data.x_test), "steps": run.optim.steps,
            "standard": float(np.mean(pa == y)), "linearized at initialisation": float(np.mean(pl == y)),
            "unrelated disagreement": float(np.mean(pa != pb)), **base,
            "checks": [{"check": c.name, "margin": c.margin, "low": c.interval[0], "high": c.interval[1],
                        "mark": c.mark} for c in pre.checks],
            "applicable": pre.applicable, "seconds": time.perf_counter() - t}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "book" / "task_screen.json")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS),
                        help="screen these kinds only; the file keeps the others' candidates and choices")
    args = parser.parse_args(argv)
    old = json.loads(args.out.read_text()) if args.out.exists() else {"choices": {}, "candidates": {}}
    results = {k: v for k, v in old["candidates"].items() if k.split(": ", 1)[0] not in args.kinds}
    for name, run in candidates().items():
        if name.split(": ", 1)[0] not in args.kinds:
            continue
        print(f"screen_tasks: {name} ...", file=sys.stderr, flush=True)
        results[name] = screen(run)
        r = results[name]
        print(f"  standard {r['standard']:.3f}, linearized {r['linearized at initialisation']:.3f}, unrelated "
              f"disagree {r['unrelated disagreement']:.3f}, majority {r['majority class']:.3f}, logistic "
              f"{r['logistic regression']:.3f}: {'applicable' if r['applicable'] else 'inapplicable'} "
              f"({r['seconds']:.0f} s)", file=sys.stderr, flush=True)
    choices = dict(old["choices"])
    for kind in args.kinds:
        group = {k: v for k, v in results.items() if k.startswith(f"{kind}: ")}
        choices[kind] = max(group, key=lambda k: min(_bound(c) for c in group[k]["checks"])).split(": ", 1)[1]
    args.out.write_text(json.dumps({"rule": RULE, "choices": {k: choices[k] for k in KINDS if k in choices},
                                    "candidates": results}, indent=2) + "\n")
    print(f"screen_tasks: chosen {choices} (written to {args.out})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

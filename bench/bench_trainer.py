"""Training throughput of twophase_lib's trainer against a plain PyTorch loop with a torchvision DataLoader.

Both train the same ResNet-20 on the same embedded CIFAR-10 subset in this process, with the same
augmentation (random crop, pad 4; horizontal flip) and normalisation; the reference feeds it
through ``torchvision.transforms`` on PIL images and a ``DataLoader``. Prints images/s and ratios
for the whole training step and for the data path alone.

    python bench/bench_trainer.py [--width 1.0] [--steps 30] [--workers 0 2]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from twophase_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig
from twophase_lib.data import CIFAR10_MEAN, CIFAR10_STD, load_data, load_subset_arrays
from twophase_lib.models import build_model
from twophase_lib.training import make_optimizer, sgd_step


class PILCifar(Dataset):
    """The subset as PIL images through torchvision transforms, the way most CIFAR scripts feed data."""

    def __init__(self):
        arrays = load_subset_arrays()
        self.images = [Image.fromarray(im.transpose(1, 2, 0)) for im in arrays["x_train"]]
        self.labels = arrays["y_train"].astype("int64")
        self.transform = T.Compose(
            [
                T.RandomCrop(32, padding=4),
                T.RandomHorizontalFlip(),
                T.ToTensor(),
                T.Normalize(CIFAR10_MEAN, CIFAR10_STD),
            ]
        )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.transform(self.images[i]), self.labels[i]


def images_per_second(fn, steps: int, batch: int, warmup: int = 3) -> float:
    """Run ``fn(step)`` for warmup + steps calls; images/s over the timed ones."""
    for s in range(warmup):
        fn(s)
    t = time.perf_counter()
    for s in range(warmup, warmup + steps):
        fn(s)
    return steps * batch / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()

    cfg = RunConfig(
        model=ModelConfig("resnet20", args.width),
        data=DataConfig("cifar10-subset"),
        optim=OptimConfig(batch_size=args.batch, milestones=()),
    )
    data = load_data(cfg.data)
    print(
        f"ResNet-20 width {args.width}, batch {args.batch}, {torch.get_num_threads()} threads, {args.steps} timed steps"
    )

    # Data path alone.
    lib_data = images_per_second(lambda s: data.train_batch(cfg.seed, s, args.batch), args.steps * 4, args.batch)
    ds = PILCifar()
    ref_data = {}
    for workers in args.workers:
        loader = DataLoader(
            ds, batch_size=args.batch, shuffle=True, drop_last=True, num_workers=workers, persistent_workers=workers > 0
        )
        it = iter(loader)

        def next_batch(_s, it=it, loader=loader):
            try:
                return next(it)
            except StopIteration:  # pragma: no cover - the subset has 40 batches per epoch
                return next(iter(loader))

        ref_data[workers] = images_per_second(next_batch, min(args.steps * 4, 35), args.batch)
    best_workers = max(ref_data, key=ref_data.get)

    # Whole training step.
    model = build_model(cfg.model, cfg.seed)
    opt = make_optimizer(cfg, model)
    lib_train = images_per_second(lambda s: sgd_step(cfg, model, opt, data, s), args.steps, args.batch)

    model = build_model(cfg.model, cfg.seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loader = DataLoader(
        ds,
        batch_size=args.batch,
        shuffle=True,
        drop_last=True,
        num_workers=best_workers,
        persistent_workers=best_workers > 0,
    )
    state = {"it": iter(loader)}

    def ref_step(_s):
        try:
            x, y = next(state["it"])
        except StopIteration:
            state["it"] = iter(loader)
            x, y = next(state["it"])
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    ref_train = images_per_second(ref_step, args.steps, args.batch)

    print("\ndata path (images/s):")
    print(f"  twophase_lib on-device batches : {lib_data:10.0f}")
    for w, v in ref_data.items():
        print(f"  DataLoader, {w} workers          : {v:10.0f}   ratio lib/ref = {lib_data / v:6.1f}x")
    print("training step (images/s):")
    print(f"  twophase_lib trainer           : {lib_train:10.0f}")
    print(
        f"  plain loop + DataLoader ({best_workers} wk) : {ref_train:10.0f}"
        f"   ratio lib/ref = {lib_train / ref_train:6.2f}x"
    )


if __name__ == "__main__":
    main()

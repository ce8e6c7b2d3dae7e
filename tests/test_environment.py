"""pyproject.toml (compatible ranges), constraints.txt (exact pins) and environment.yml describe one environment.

The library declares ranges so that it installs into a researcher's own environment; the versions that
build and test the book are pinned in constraints.txt (``make`` installs with ``-c constraints.txt``).
There is no conda on the build machines, so environment.yml cannot be tested by creating the
environment; instead it must name exactly the packages and pins of constraints.txt, every requirement of
pyproject.toml (core and every extra) must have a pin there that satisfies its range, and the running
environment must have the pinned versions installed.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _key(req: Requirement) -> tuple[str, str]:
    """(canonical name, normalized requirement text without the name) for comparison."""
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    marker = f"; {req.marker}" if req.marker else ""
    spec = ",".join(sorted(str(s) for s in req.specifier))
    return canonicalize_name(req.name), f"{extras}{spec}{marker}"


def _as_dict(reqs: list[str], source: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for text in reqs:
        name, rest = _key(Requirement(text))
        assert name not in out, f"{source}: {name} listed twice"
        out[name] = rest
    return out


def pyproject_requirements(path: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """All requirements of pyproject.toml: project.dependencies plus every extra."""
    project = tomllib.loads(path.read_text())["project"]
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return _as_dict(reqs, path.name)


def constraints(path: Path = ROOT / "constraints.txt") -> dict[str, str]:
    """The exact pins of constraints.txt (comments and blank lines skipped)."""
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return _as_dict([line for line in lines if line], path.name)


def environment_yml(path: Path = ROOT / "environment.yml") -> tuple[list[str], dict[str, str]]:
    """(conda dependencies as strings, pip requirements as a dict) of environment.yml.

    pip options such as ``-e .`` (installing this project itself) are not requirements and are skipped.
    """
    env = yaml.safe_load(path.read_text())
    conda: list[str] = []
    pip: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"}, f"{path.name}: unexpected dependency block {dep!r}"
            pip.extend(str(d) for d in dep["pip"] if not str(d).lstrip().startswith("-"))
        else:
            conda.append(str(dep))
    return conda, _as_dict(pip, path.name)


def compare(a: dict[str, str], b: dict[str, str], name_a: str, name_b: str) -> list[str]:
    """Human-readable differences between two requirement dicts (empty when they agree)."""
    problems = []
    for name in sorted(a.keys() - b.keys()):
        problems.append(f"{name}{a[name]} is in {name_a} but not in {name_b}")
    for name in sorted(b.keys() - a.keys()):
        problems.append(f"{name}{b[name]} is in {name_b} but not in {name_a}")
    for name in sorted(a.keys() & b.keys()):
        if a[name] != b[name]:
            problems.append(f"{name}: {name_a} says {a[name]!r}, {name_b} says {b[name]!r}")
    return problems


def test_environment_yml_matches_constraints():
    problems = compare(constraints(), environment_yml()[1], "constraints.txt", "environment.yml")
    assert not problems, "constraints.txt and environment.yml disagree:\n" + "\n".join(problems)


def test_every_requirement_has_a_pin_inside_its_range():
    pins = constraints()
    problems = []
    for name, spec in pyproject_requirements().items():
        if name not in pins:
            problems.append(f"{name}{spec} (pyproject.toml) has no pin in constraints.txt")
            continue
        version = pins[name].removeprefix("==")
        if not Requirement(f"{name}{spec}").specifier.contains(version, prereleases=True):
            problems.append(f"{name}: the pin {version} is outside pyproject.toml's range {spec}")
    extra = sorted(set(pins) - set(pyproject_requirements()))
    problems += [f"{name} is pinned in constraints.txt but required nowhere" for name in extra]
    assert not problems, "\n".join(problems)


def test_library_requirements_are_ranges_not_pins():
    """pip install of the library must not force its exact torch onto a researcher's environment."""
    exact = {n: s for n, s in pyproject_requirements().items() if s.startswith("==")}
    assert not exact, f"pyproject.toml pins exactly (use a range; the pin goes to constraints.txt): {exact}"


def test_python_version_agrees():
    conda, _ = environment_yml()
    pythons = [d for d in conda if re.match(r"python\s*[=<>!]", d)]
    assert len(pythons) == 1, f"environment.yml must pin python exactly once, found {pythons}"
    version = re.sub(r"^python\s*=+\s*", "", pythons[0])
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == f">={version}", f"requires-python {requires!r} vs environment.yml python={version}"
    assert "pip" in conda, "environment.yml needs pip in its conda dependencies for the pip section"


def test_every_constraint_is_pinned_exactly():
    loose = {n: s for n, s in constraints().items() if not re.fullmatch(r"==[^,;]+", s)}
    assert not loose, f"constraints.txt entries without an exact == pin: {loose}"


def test_compare_reports_differences():
    """The comparison itself can fail: it names missing packages and changed pins."""
    a = {"torch": "==2.14.1", "numpy": "==2.4.6"}
    b = {"torch": "==2.14.0", "tqdm": "==4.70.1"}
    problems = compare(a, b, "A", "B")
    assert problems == [
        "numpy==2.4.6 is in A but not in B",
        "tqdm==4.70.1 is in B but not in A",
        "torch: A says '==2.14.1', B says '==2.14.0'",
    ]


@pytest.mark.parametrize("name,spec", sorted(constraints().items()))
def test_installed_version_matches_pin(name, spec):
    """The environment running the tests is the pinned one (``make test`` installs it)."""
    try:
        installed = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{name} is not installed; run `make test` "
                    "(it installs -c constraints.txt .[book,test,ray,beyond])")
    assert Requirement(f"{name}{spec}").specifier.contains(installed, prereleases=True), (
        f"{name} {installed} is installed but constraints.txt pins {spec}"
    )

"""Two commits of autotask side by side: ``python3 benchmarks/compare.py BASE [HEAD]``.

"The plain figures must not fall" can't be checked against a table measured on
another day: on the machines here the same code measures up to twice as fast or
slow from one day to the next. This runs autotask's own runner
(``bench_autotask.py``, each commit's own copy) for both commits, in turns (each
side first every other round: BASE, HEAD, HEAD, BASE...), and prints the median of
each figure and HEAD's ratio to BASE. HEAD defaults to the work tree as it is
(uncommitted changes too).

    python3 benchmarks/compare.py 012d157                   # enqueue and drain on SQLite, 3 rounds
    python3 benchmarks/compare.py 012d157 --db sqlite,postgresql --rounds 5 --scenarios enqueue,drain,latency
    python3 benchmarks/compare.py 012d157 --db postgresql --scenarios drain,priority_latency
    python3 benchmarks/compare.py 012d157 --db postgresql --scenarios scaleout

Each commit gets a virtualenv under ``--cache-dir`` (``pip install <tree> psycopg[binary]``,
kept per commit hash; the work tree's is installed again on every run). PostgreSQL as for
``run.py`` (127.0.0.1:5432, user postgres). Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = {  # scenario -> (figure, higher is better)
    "enqueue": [("single_us", False), ("bulk_us", False)],
    "drain": [("tasks_per_s", True)],
    "latency": [("in_task.p50_ms", False), ("in_task.p95_ms", False)],
    "backlog": [("tasks_per_s", True)],
    "priority_latency": [("p50_ms", False), ("p95_ms", False)],
    "io_drain": [("pct_of_limit", True)],
    "scaleout": [("p1_tasks_per_s", True), ("p2_tasks_per_s", True), ("p2_speedup", True), ("p4_speedup", True),
                 ("p1_cores", False), ("p2_ceiling", True)],
}


def tree_of(revision: str | None, workdir: Path) -> Path:
    """A checkout of ``revision`` (None: the work tree itself)."""
    if revision is None:
        return ROOT
    tree = workdir / f"tree-{revision}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def venv_for(revision: str | None, tree: Path, cache: Path) -> Path:
    name = "worktree" if revision is None else subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", revision], check=True, capture_output=True, text=True
    ).stdout.strip()
    venv = cache / f"compare-{name}"
    python = venv / "bin" / "python"
    if revision is None or not python.exists():
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # Not editable: the same kind of install for both commits.
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(tree)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(tree), "psycopg[binary]"], check=True)
    return python


def run_once(python: Path, tree: Path, db: str, scenarios: str, workdir: Path) -> dict:
    out = workdir / "out.json"
    out.unlink(missing_ok=True)
    subprocess.run(
        [str(python), "bench_autotask.py", "--db", db, "--scenarios", scenarios, "--workdir", str(workdir), "--out", str(out)],
        cwd=tree / "benchmarks", check=False, stderr=subprocess.DEVNULL,
    )
    return json.loads(out.read_text()) if out.exists() else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("head", nargs="?", default=None, help="a commit (default: the work tree)")
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--scenarios", default="enqueue,drain")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "autotask-bench"))
    args = parser.parse_args()
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="autotask-compare-") as tmp:
        workdir = Path(tmp)
        sides = {}
        for label, revision in (("base", args.base), ("head", args.head)):
            tree = tree_of(revision, workdir)
            sides[label] = (tree, venv_for(revision, tree, cache))
        figures: dict[tuple[str, str, str, str], list[float]] = {}
        for round_ in range(args.rounds):
            for db in args.db.split(","):
                # ABBA: each side goes first every other round, so that neither always runs right
                # after the other (whose files the system may still be writing back) or first.
                order = list(sides.items()) if round_ % 2 == 0 else list(sides.items())[::-1]
                for label, (tree, python) in order:
                    print(f"round {round_ + 1}/{args.rounds}: {label} on {db}", file=sys.stderr, flush=True)
                    results = run_once(python, tree, db, args.scenarios, workdir)
                    for scenario, names in FIGURES.items():
                        for name, _ in names:
                            value = results.get(scenario, {})
                            for key in name.split("."):
                                value = value.get(key) if isinstance(value, dict) else None
                            if isinstance(value, (int, float)):
                                figures.setdefault((db, scenario, name, label), []).append(value)
    print(f"\nbase {args.base}, head {args.head or 'work tree'}; medians of {args.rounds} rounds; "
          "ratio > 1: head better")
    print(f"{'database':<11}{'figure':<24}{'base':>10}{'head':>10}{'ratio':>8}  each round: base | head")
    for db in args.db.split(","):
        for scenario, names in FIGURES.items():
            for name, higher_is_better in names:
                base, head = figures.get((db, scenario, name, "base")), figures.get((db, scenario, name, "head"))
                if not base or not head:
                    continue
                b, h = statistics.median(base), statistics.median(head)
                ratio = (h / b if higher_is_better else b / h) if b and h else float("nan")
                rounds = " ".join(f"{v:.4g}" for v in base) + " | " + " ".join(f"{v:.4g}" for v in head)
                print(f"{db:<11}{scenario + ' ' + name:<24}{b:>10.4g}{h:>10.4g}{ratio:>8.3f}  {rounds}")


if __name__ == "__main__":
    main()

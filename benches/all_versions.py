#!/usr/bin/env python3
"""benches/bench_calls.py on every CPython found, one table and one chart for all of them.

    python benches/all_versions.py [--quick] [--build] [--png PATH] [--out DIR]
    python benches/all_versions.py --redraw [--png PATH] [--out DIR]

Each interpreter that ``scripts/pythons.sh`` finds (3.11 to 3.15; ``FERROTYPES_PYTHON_X_Y``
picks one) runs ``bench_calls.py --json DIR/X.Y.json`` in its own process, in turn, so no two
runs share the cores. ``--build`` first builds and installs ferrotypes into each of them
(``scripts/build.sh``, one target directory per version as ``scripts/test.sh`` keeps them);
without it each must have ferrotypes installed already. A version that is not found, or
whose run fails, is named on stderr and in the table; it is never left out silently.

Then it prints the ratios ferrotypes ÷ ctypes and ferrotypes ÷ cffi's compiled API mode
of every row for every version as Markdown (the tables of ``docs/performance.md``) and
draws them into one chart (``docs/bench-ratios.png`` by default, the one README.md shows):
per row one bar per version, against ctypes on the left and against cffi on the right.
``--redraw`` only reads the JSON files already in DIR.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_PNG = os.path.join(ROOT, "docs", "bench-ratios.png")
# Under the repository, not /tmp: the 3.14/3.15 launchers run in a root with its own /tmp
# and bind the work tree into it.
DEFAULT_OUT = os.path.join(ROOT, "target", "bench")
VERSIONS = ("3.11", "3.12", "3.13", "3.14", "3.15")


def find_interpreters() -> dict[str, str]:
    """version -> interpreter, from scripts/pythons.sh (which names the missing ones)."""
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "pythons.sh")],
                         capture_output=True, text=True, check=False)
    if out.stderr:
        sys.stderr.write(out.stderr)
    found = {}
    for line in out.stdout.splitlines():
        version, _, path = line.partition(" ")
        if path:
            found[version] = path
    return found


def run_one(version: str, python: str, out_dir: str, quick: bool, build: bool) -> str | None:
    """Runs the benchmark on one interpreter; the JSON path, or None if it failed."""
    env = dict(os.environ)
    if build:
        env.update(PYTHON=python, CARGO_TARGET_DIR=os.path.join(ROOT, "target", "cp" + version.replace(".", "")))
        built = subprocess.run(["bash", os.path.join(ROOT, "scripts", "build.sh")], cwd=ROOT, env=env)
        if built.returncode:
            print(f"all_versions.py: building for CPython {version} FAILED", file=sys.stderr)
            return None
    out_dir = os.path.abspath(out_dir)
    path = os.path.join(out_dir, f"{version}.json")
    if os.path.exists(path):
        os.unlink(path)
    command = [python, os.path.join(HERE, "bench_calls.py"), "--json", path]
    if quick:
        command.append("--quick")
    print(f"\n=== CPython {version}: {' '.join(command)}", flush=True)
    # The interpreters of the Debian root (3.14, 3.15; scripts/sid-root.sh) see only what
    # their launcher binds into it: the output directory is added to that (others ignore it).
    binds = env.get("FERROTYPES_ROOT_BINDS", "").split()
    env["FERROTYPES_ROOT_BINDS"] = " ".join(binds + [out_dir])
    done = subprocess.run(command, cwd=ROOT, env=env)
    if done.returncode or not os.path.exists(path):
        print(f"all_versions.py: the benchmark on CPython {version} FAILED (exit {done.returncode})",
              file=sys.stderr)
        return None
    return path


def load(out_dir: str) -> dict[str, dict]:
    runs = {}
    for version in VERSIONS:
        path = os.path.join(out_dir, f"{version}.json")
        if os.path.exists(path):
            with open(path) as f:
                runs[version] = json.load(f)
    return runs


def row_names(runs: dict[str, dict]) -> list[str]:
    names: list[str] = []
    for run in runs.values():
        for row in run["rows"]:
            if row["row"] not in names:
                names.append(row["row"])
    return names


def ratio_of(run: dict | None, name: str, key: str) -> float | None:
    for row in (run or {}).get("rows", ()):
        if row["row"] == name:
            return row[key]
    return None


def markdown(runs: dict[str, dict], key: str) -> str:
    versions = [v for v in VERSIONS if v in runs]
    header = "| row | " + " | ".join(runs[v]["python"] + (" (quick)" if runs[v]["quick"] else "")
                                      for v in versions) + " |"
    lines = [header, "|---|" + "---|" * len(versions)]
    for name in row_names(runs):
        cells = [ratio_of(runs[v], name, key) for v in versions]
        if all(c is None for c in cells):
            continue
        lines.append(f"| {name} | " + " | ".join("-" if c is None else f"{c:.2f}" for c in cells) + " |")
    return "\n".join(lines)


def draw(runs: dict[str, dict], path: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print(f"matplotlib is not importable: no chart written to {path} (pip install matplotlib)")
        return
    versions = [v for v in VERSIONS if v in runs]
    names = row_names(runs)
    height = 0.8 / max(len(versions), 1)
    fig, axes = plt.subplots(1, 2, figsize=(15, 0.42 * len(names) + 1.8), sharey=True)
    panels = (("ferro/ctypes", "ferrotypes ÷ stdlib ctypes"),
              ("ferro/cffi-API", "ferrotypes ÷ cffi compiled API mode"))
    for ax, (key, title) in zip(axes, panels):
        for i, version in enumerate(versions):
            ys = [y - 0.4 + height * (i + 0.5) for y in range(len(names))]
            values = [ratio_of(runs[version], name, key) or math.nan for name in names]
            ax.barh(ys, values, height=height, label=f"CPython {runs[version]['python']}")
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xticks([0.1, 0.2, 0.5, 1, 2, 5])
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", linewidth=0.3)
    axes[0].set_yticks(list(range(len(names))), names)
    axes[0].invert_yaxis()
    axes[0].legend(loc="lower center", bbox_to_anchor=(1.0, 1.04), ncol=len(versions), frameon=False)
    fig.supxlabel("time (or size) of ferrotypes ÷ the other: < 1 is faster; no bar: no counterpart",
                  fontsize=9)
    # Not tight_layout: with a shared y axis it keeps room for the right panel's (hidden)
    # row labels, a blank band as wide as the left panel's labels.
    top = 1 - 1.1 / fig.get_figheight()
    # Room for the longest row label (about 0.075 inch per character at this font size).
    left = min(0.5, (0.075 * max(map(len, names)) + 0.3) / fig.get_figwidth())
    fig.subplots_adjust(left=left, right=0.98, top=top, bottom=0.8 / fig.get_figheight(), wspace=0.06)
    fig.savefig(path, dpi=110)
    print(f"chart written to {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="bench_calls.py --quick on each")
    parser.add_argument("--build", action="store_true", help="build ferrotypes into each first")
    parser.add_argument("--redraw", action="store_true", help="only read the JSON files in --out")
    parser.add_argument("--png", default=DEFAULT_PNG, help="the chart (default: %(default)s; '' for none)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="where the JSON files go (default: %(default)s)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    failed = []
    if not args.redraw:
        interpreters = find_interpreters()
        for version in VERSIONS:
            if version not in interpreters:
                failed.append(f"{version} not found")
            elif run_one(version, interpreters[version], args.out, args.quick, args.build) is None:
                failed.append(f"{version} failed")
    runs = load(args.out)
    if not runs:
        print("all_versions.py: no results", file=sys.stderr)
        return 1
    print("\n### ferrotypes ÷ stdlib ctypes (time; size for getsizeof)\n")
    print(markdown(runs, "ferro/ctypes"))
    print("\n### ferrotypes ÷ cffi compiled API mode\n")
    print(markdown(runs, "ferro/cffi-API"))
    if args.png:
        draw(runs, args.png)
    if failed:
        print(f"\n!!! all_versions.py: {', '.join(failed)} !!!", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

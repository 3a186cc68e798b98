#!/usr/bin/env python3
"""Run the running interpreter's whole ctypes test suite in stock, core and full mode.

    python tests/conformance/run_all.py [--jobs N] [--details FILE]

Each (mode, module) is one subprocess of ``runner.py`` next to this file, as in
tests/test_conformance.py, but without pytest: only the standard library is needed, so
this runs in a bare venv that holds nothing but an installed ferrotypes wheel
(scripts/wheels.sh). The judgement is test_conformance.py's: a mode conforms when no
module crashes, nothing fails or errors, every module passes at least as many tests as
stock ctypes, and nothing is skipped that stock ctypes does not also skip.

Prints the problems, one per line, on stderr, and one JSON line on stdout: per mode the
passed/failed/skipped totals (failed counts failures and errors), the crashed modules, the
tests skipped here but not by stock, the ``_ctypes`` file each ferrotypes mode loaded, and
``conforms``. --details writes every runner result as JSON. Exit status: 0 when both
ferrotypes modes conform, 1 otherwise.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.util
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "runner.py")
MODES = ("stock", "core", "full")
TIMEOUT_S = float(os.environ.get("FERROTYPES_CONFORMANCE_TIMEOUT", "300"))


def load_runner():
    spec = importlib.util.spec_from_file_location("ferrotypes_conformance_runner", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_one(mode: str, module: str) -> dict:
    """One runner subprocess; a crash, timeout or missing JSON line becomes a result."""
    command = [sys.executable, RUNNER, "--mode", mode, "--watchdog", str(TIMEOUT_S), module]
    base = {"mode": mode, "module": module, "passed": 0, "failed": 0, "errors": 0,
            "skipped": 0, "failed_tests": [], "errored_tests": [], "skipped_tests": []}
    try:
        proc = subprocess.run(command, capture_output=True, text=True, errors="replace",
                              timeout=TIMEOUT_S + 30)
    except subprocess.TimeoutExpired:
        return {**base, "status": "timeout", "crash": f"timeout after {TIMEOUT_S + 30:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if lines and proc.returncode >= 0:
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    if proc.returncode < 0:
        how = f"signal {-proc.returncode}"
    elif "Timeout (" in proc.stderr:
        how = f"watchdog timeout after {TIMEOUT_S:.0f} s"
    else:
        how = f"exit status {proc.returncode} without a result line"
    tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
    return {**base, "status": "crash", "crash": f"{how}: {tail}"}


def judge(results: dict) -> dict:
    """Totals and problems per mode; results maps (mode, module) to a runner result."""
    modules = sorted({module for _, module in results})
    summary = {}
    for mode in MODES:
        totals = {"passed": 0, "failed": 0, "skipped": 0, "crashed": [], "problems": [],
                  "extra_skips": [], "ctypes_files": []}
        for module in modules:
            result, stock = results[mode, module], results["stock", module]
            totals["passed"] += result.get("passed", 0)
            totals["failed"] += result.get("failed", 0) + result.get("errors", 0)
            totals["skipped"] += result.get("skipped", 0)
            if result["status"] in ("crash", "timeout"):
                totals["crashed"].append(module)
                totals["problems"].append(f"{module}: {result['status']}: {result['crash']}")
                continue
            if result.get("setup_error"):
                totals["problems"].append(f"{module}: setup error: {result['setup_error']}")
            for test in result.get("failed_tests", []) + result.get("errored_tests", []):
                totals["problems"].append(f"{module}: {test['id']}: {test['msg']}")
            so = result.get("_ctypes_file")
            if mode != "stock" and so and so not in totals["ctypes_files"]:
                totals["ctypes_files"].append(so)
            if mode == "stock" or stock["status"] in ("crash", "timeout"):
                continue
            extra = sorted({t["id"] for t in result.get("skipped_tests", [])}
                           - {t["id"] for t in stock.get("skipped_tests", [])})
            totals["extra_skips"] += extra
            for test_id in extra:
                totals["problems"].append(f"{module}: skipped here, not by stock ctypes: {test_id}")
            if result.get("passed", 0) < stock.get("passed", 0):
                totals["problems"].append(f"{module}: passed {result['passed']}, "
                                          f"stock ctypes passes {stock['passed']}")
        totals["conforms"] = not totals["problems"]
        summary[mode] = totals
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--details", metavar="FILE", help="write every runner result here (JSON)")
    args = parser.parse_args(argv)

    modules = load_runner().discover_modules()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {(mode, module): pool.submit(run_one, mode, module)
                   for module in modules for mode in MODES}
        results = {key: future.result() for key, future in futures.items()}
    summary = judge(results)
    if args.details:
        with open(args.details, "w", encoding="utf-8") as out:
            json.dump([results[key] for key in sorted(results)], out, indent=1)

    for mode in MODES:
        for problem in summary[mode]["problems"]:
            print(f"[{mode}] {problem}", file=sys.stderr)
    conforms = summary["core"]["conforms"] and summary["full"]["conforms"]
    print(json.dumps({"python": sys.version.split()[0], "prefix": sys.prefix,
                      "modules": len(modules), "conforms": conforms, **summary}))
    return 0 if conforms else 1


if __name__ == "__main__":
    sys.exit(main())

"""Session-wide pytest hooks for the ferrotypes test suite.

The conformance run (tests/test_conformance.py) records one result per (mode, module) in
each test report's ``user_properties``; the terminal summary below turns them into a
module x mode table, prints it and writes it to tests/conformance/last-report.txt.
Reading the reports, not shared globals, keeps this working under pytest-xdist.
"""

from __future__ import annotations

import platform
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from support import compile_shared

REPORT_FILE = Path(__file__).parent / "conformance" / "last-report.txt"
MODES = ("core", "full")


def _conformance_records(terminalreporter):
    results: dict[str, dict[str, dict]] = defaultdict(dict)
    stock: dict[str, dict] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            for key, value in getattr(report, "user_properties", ()):
                if key == "conformance":
                    results[value["module"]][value["mode"]] = value
                elif key == "conformance_stock":
                    stock[value["module"]] = value
    return results, stock


def _cell(record: dict | None) -> list[str]:
    """pass, fail (failures + errors), skip, crash for one mode of one module."""
    if record is None:
        return ["", "", "", ""]
    if record["status"] in ("crash", "timeout"):
        return ["-", "-", "-", "TIMEOUT" if record["status"] == "timeout" else "CRASH"]
    if record["status"] == "setup-error":
        return ["-", "-", "-", "SETUP"]
    return [str(record["passed"]), str(record["failed"] + record["errors"]), str(record["skipped"]), ""]


def format_report(results: dict, stock: dict) -> str:
    header = ["module", "req", "stock", "skip",
              "core", "fail", "skip", "crash",
              "full", "fail", "skip", "crash"]
    rows = []
    for module in sorted(results):
        row = [module, "*" if any(r.get("required") for r in results[module].values()) else ""]
        base = stock.get(module)
        if base is None or base["status"] in ("crash", "timeout", "setup-error"):
            row += ["CRASH" if base else "", ""]
        else:
            row += [str(base["passed"]), str(base["skipped"])]
        for mode in MODES:
            row += _cell(results[module].get(mode))
        rows.append(row)

    totals = ["TOTAL", str(sum(1 for m in results if any(r.get("required") for r in results[m].values())))]
    stock_ok = [s for s in stock.values() if s["status"] not in ("crash", "timeout", "setup-error")]
    totals += [str(sum(s["passed"] for s in stock_ok)), str(sum(s["skipped"] for s in stock_ok))]
    for mode in MODES:
        records = [results[m][mode] for m in results if mode in results[m]]
        ran = [r for r in records if r["status"] not in ("crash", "timeout", "setup-error")]
        broken = len(records) - len(ran)
        totals += [str(sum(r["passed"] for r in ran)),
                   str(sum(r["failed"] + r["errors"] for r in ran)),
                   str(sum(r["skipped"] for r in ran)),
                   str(broken) if broken else ""]

    widths = [max(len(row[i]) for row in [header, totals, *rows]) for i in range(len(header))]

    def line(cells):
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        # group separators between the stock, core and full blocks
        return "  ".join(parts[:2]) + " | " + "  ".join(parts[2:4]) + " | " + \
            "  ".join(parts[4:8]) + " | " + "  ".join(parts[8:12])

    rule = "-" * len(line(header))
    out = [
        f"ferrotypes conformance: CPython {platform.python_version()} ctypes.test, "
        f"{len(results)} modules, {sys.platform} {platform.machine()}",
        "stock = stdlib ctypes; core = ferrotypes._ctypes under stdlib ctypes; "
        "full = ferrotypes.install();\nthe first column of a block counts passed tests; "
        "fail = failures + errors; every module is required",
        rule, line(header), rule, *map(line, rows), rule, line(totals), rule,
    ]
    stock_run = sum(s["run"] for s in stock_ok)
    out.append(f"stock totals: {stock_run} run, {sum(s['passed'] for s in stock_ok)} passed, "
               f"{sum(s['skipped'] for s in stock_ok)} skipped, over {len(stock_ok)} modules")

    details = []
    for module in sorted(results):
        for mode in MODES:
            record = results[module].get(mode)
            if record is None:
                continue
            if record.get("crash"):
                details.append(f"  {module} [{mode}] {record['status']}: {record['crash']}")
            elif record["status"] != "ok" and record.get("required"):
                shown = record["failing"][:5]
                more = f" (+{len(record['failing']) - 5} more)" if len(record["failing"]) > 5 else ""
                details.append(f"  {module} [{mode}] required, failing: {', '.join(shown)}{more}")
    if details:
        out.append("crashes and failing required modules:")
        out.extend(details)

    return "\n".join(out) + "\n"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results, stock = _conformance_records(terminalreporter)
    if not results:
        return
    text = format_report(results, stock)
    terminalreporter.section("ferrotypes conformance")
    for row in text.splitlines():
        terminalreporter.write_line(row)
    try:
        REPORT_FILE.write_text(text, encoding="utf-8")
        terminalreporter.write_line(f"(written to {REPORT_FILE})")
    except OSError as exc:
        terminalreporter.write_line(f"(could not write {REPORT_FILE}: {exc})")


@pytest.fixture(scope="session")
def testlib(tmp_path_factory):
    """Path of tests/clib/calls.c built as a shared library."""
    source = Path(__file__).parent / "clib" / "calls.c"
    return compile_shared(source, tmp_path_factory.mktemp("clib") / "libcalls.so", "-O1")

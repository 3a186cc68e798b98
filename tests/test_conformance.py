"""CPython's own ctypes test suite, run against ferrotypes.

One test per (mode, module): every ``test_*.py`` in the stdlib ``ctypes/test`` directory,
discovered at collection time, in the ``core`` mode (ferrotypes' extension under the
stdlib ``ctypes`` package) and the ``full`` mode (``ferrotypes.install()``). Each run is a
subprocess of ``tests/conformance/runner.py`` with a timeout, so a segfault costs only its
module. The ``stock`` run of each module (plain stdlib ctypes) is the baseline; it is run
once per module per session, also in subprocesses.

Every module is required: it must not crash, must have no failures or errors, must pass
at least as many tests as stock ctypes does, and may skip only tests that stock ctypes
also skips on this machine (platform skips). Results go into the table printed at the end
of the session (``conftest.py``) and written to ``tests/conformance/last-report.txt``.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

CONFORMANCE_DIR = Path(__file__).parent / "conformance"
RUNNER = CONFORMANCE_DIR / "runner.py"
TIMEOUT_S = float(os.environ.get("FERROTYPES_CONFORMANCE_TIMEOUT", "300"))
MODES = ("core", "full")
STDERR_TAIL_LINES = 30


def _load_runner():
    # The runner is a plain script; its top level imports only the stdlib, so loading it
    # here for its discovery helpers is harmless.
    spec = importlib.util.spec_from_file_location("ferrotypes_conformance_runner", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()
MODULES = runner.discover_modules()


def required_modules() -> set[str]:
    # The whole suite conforms; the list of required modules that grew with each
    # capability is gone: every module is required.
    return set(MODULES)


def _crash_detail(stderr: str) -> str:
    """The test that was running when the process died: the last verbose unittest line."""
    running = re.findall(r"^\w+ \(([\w.]+)\) \.\.\. ", stderr, re.M)
    return running[-1] if running else "(before the first test)"


def run_runner(mode: str, module: str, cwd: Path) -> dict:
    """Run one module in a subprocess; a crash or timeout becomes a result, never raises."""
    # The runner's own watchdog fires first and dumps the stacks of a hang; the
    # subprocess timeout is the backstop.
    command = [sys.executable, str(RUNNER), "--mode", mode, "--watchdog", str(TIMEOUT_S), module]
    base = {"mode": mode, "module": module, "run": 0, "passed": 0, "failed": 0, "errors": 0,
            "skipped": 0, "failed_tests": [], "errored_tests": [], "skipped_tests": []}
    try:
        proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                              errors="replace", timeout=TIMEOUT_S + 30)
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return {**base, "status": "timeout",
                "crash": f"timeout after {TIMEOUT_S + 30:.0f} s in {_crash_detail(stderr)}",
                "stderr_tail": _tail(stderr)}

    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    result = None
    if lines:
        try:
            result = json.loads(lines[-1])
        except json.JSONDecodeError:
            result = None
    if result is not None and proc.returncode >= 0:
        result["stderr_tail"] = _tail(proc.stderr) if result.get("status") != "ok" else ""
        return result

    if proc.returncode == 1 and re.search(r"Timeout \(\d+:\d\d:\d\d\)!", proc.stderr):
        return {**base, "status": "timeout",
                "crash": f"timeout after {TIMEOUT_S:.0f} s in {_crash_detail(proc.stderr)}",
                "stderr_tail": _tail(proc.stderr)}
    if proc.returncode < 0:
        try:
            how = signal.Signals(-proc.returncode).name
        except ValueError:
            how = f"signal {-proc.returncode}"
    else:
        how = f"exit status {proc.returncode} without a result line"
    return {**base, "status": "crash", "crash": f"{how} in {_crash_detail(proc.stderr)}",
            "stderr_tail": _tail(proc.stderr)}


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-STDERR_TAIL_LINES:])


def summary(result: dict, required: bool) -> dict:
    """What the report needs of one result: counts, status, crash and failing ids."""
    keys = ("mode", "module", "status", "run", "passed", "failed", "errors", "skipped", "crash")
    out = {key: result.get(key) for key in keys}
    out["required"] = required
    out["failing"] = [t["id"] for t in result.get("failed_tests", []) + result.get("errored_tests", [])]
    return out


class StockResults:
    """Stock-mode results, each module run once per session, fetched in parallel."""

    def __init__(self, cwd: Path, modules: list[str]):
        self._cwd = cwd
        self._lock = threading.Lock()
        self._futures: dict[str, concurrent.futures.Future] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
        for module in modules:
            self._submit(module)

    def _submit(self, module: str) -> concurrent.futures.Future:
        with self._lock:
            if module not in self._futures:
                self._futures[module] = self._pool.submit(run_runner, "stock", module, self._cwd)
            return self._futures[module]

    def get(self, module: str) -> dict:
        return self._submit(module).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def stock_results(request, tmp_path_factory):
    this_file = Path(__file__).resolve()
    collected = sorted({
        item.callspec.params["module"]
        for item in request.session.items
        if getattr(item, "callspec", None) is not None
        and "module" in item.callspec.params
        and Path(str(item.fspath)).resolve() == this_file
    })
    results = StockResults(tmp_path_factory.mktemp("conformance-stock"), collected)
    yield results
    results.close()


@pytest.mark.parametrize(
    ("mode", "module"),
    [(mode, module) for mode in MODES for module in MODULES],
    ids=[f"{mode}-{module}" for mode in MODES for module in MODULES],
)
def test_conformance(mode, module, stock_results, record_property, tmp_path):
    required = module in required_modules()
    result = run_runner(mode, module, tmp_path)
    stock = stock_results.get(module)
    record_property("conformance", summary(result, required))
    record_property("conformance_stock", summary(stock, False))

    if not required:
        return  # reported in the summary table, never failed

    problems = []
    if result["status"] in ("crash", "timeout"):
        problems.append(f"{mode} run of {module} crashed: {result['crash']}")
    if result.get("setup_error"):
        problems.append(f"{mode} mode could not be set up: {result['setup_error']}")
    for test in result.get("failed_tests", []):
        problems.append(f"FAIL  {test['id']}: {test['msg']}")
    for test in result.get("errored_tests", []):
        problems.append(f"ERROR {test['id']}: {test['msg']}")
    if stock["status"] in ("crash", "timeout"):
        problems.append(f"the stock baseline crashed: {stock['crash']}")
    elif result["status"] in ("ok", "failures") and result["passed"] < stock["passed"]:
        extra_skips = sorted(
            {t["id"] for t in result.get("skipped_tests", [])}
            - {t["id"] for t in stock.get("skipped_tests", [])}
        )
        problems.append(
            f"passed {result['passed']} tests, stock ctypes passes {stock['passed']}"
            + (f"; skipped here but not in stock: {', '.join(extra_skips)}" if extra_skips else "")
        )
    if result["status"] in ("ok", "failures") and stock["status"] not in ("crash", "timeout"):
        extra = sorted(
            {t["id"] for t in result.get("skipped_tests", [])}
            - {t["id"] for t in stock.get("skipped_tests", [])}
        )
        if extra:
            problems.append(f"skipped here but not by stock ctypes: {', '.join(extra)}")
    if problems:
        tail = result.get("stderr_tail") or ""
        message = f"{module} [{mode}] must conform:\n  " + "\n  ".join(problems)
        if result["status"] in ("crash", "timeout") and tail:
            message += "\n--- stderr tail ---\n" + tail
        pytest.fail(message, pytrace=False)

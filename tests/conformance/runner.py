#!/usr/bin/env python3
"""Run ONE module of CPython's own ctypes test suite and print one JSON line.

The suite is the running interpreter's own: ``ctypes.test`` on 3.11, ``test.test_ctypes``
from 3.12 on.

    python tests/conformance/runner.py --mode {stock,core,full} MODULE

Modes:

stock   the stdlib ``ctypes`` on the stdlib ``_ctypes`` extension: the baseline.
core    ferrotypes' extension module loaded as the top-level ``_ctypes`` before anything
        imports ``ctypes``; the stdlib's pure-Python ``ctypes`` package runs on top of it.
        ferrotypes' Python package is located but never imported.
full    ``ferrotypes.install()``: ``import ctypes`` (and ``_ctypes``, ``ctypes.util``, ...)
        resolve to ferrotypes; the test modules are imported from the stdlib as usual (on
        3.11 install() keeps ``ctypes.test`` pointing at the stdlib's test directory).

The module runs in this process with unittest. The verbose unittest log and anything the
tests print (Python or C level) goes to stderr; stdout carries exactly one JSON line with
the counts and the ids of failed/errored/skipped tests. A segfault kills only this process:
the pytest side (tests/test_conformance.py) runs one subprocess per module and treats a
signal, a timeout or a missing JSON line as a crash. faulthandler writes the Python stack
of a crash to stderr, after the verbose line naming the test that was running.

After the run the isolation of the mode is checked (the right ``_ctypes`` was used, no
stdlib ctypes module leaked into a ``full`` run); a violation is reported as an error
with the id ``<isolation>``.

Exit status: 0 all passed, 1 failures or errors (or the --watchdog fired: then there is no
JSON line and stderr has "Timeout (...)!" and the stacks), 2 the mode could not be set up.

Top-level imports are kept to modules that cannot import ``ctypes``: in ``core`` mode
``_ctypes`` must be in ``sys.modules`` before unittest and the test support code load.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import sysconfig
import time

MODES = ("stock", "core", "full")
MSG_LIMIT = 300


# --- where things are -------------------------------------------------------------------


def stdlib_ctypes_dir() -> str:
    """The stdlib ``ctypes`` package directory, found without importing it."""
    return os.path.join(sysconfig.get_path("stdlib"), "ctypes")


# Where each version keeps its ctypes tests: the package ``ctypes.test`` up to 3.11, the
# package ``test.test_ctypes`` from 3.12 on.
TEST_PACKAGE = "ctypes.test" if sys.version_info < (3, 12) else "test.test_ctypes"


def stdlib_test_dir() -> str:
    return os.path.join(sysconfig.get_path("stdlib"), *TEST_PACKAGE.split("."))


# The test package's own ``__init__.py`` holds tests too on some versions (3.15:
# ``TestModule``, the deprecated ``__version__``); it is run as the pseudo-module
# ``__init__`` (only its own test classes; its ``load_tests`` would load the whole suite).
PACKAGE_MODULE = "__init__"


def _package_has_tests() -> bool:
    """Whether the package's ``__init__.py`` defines test cases (read, not imported: in core
    mode nothing may import ``ctypes`` before the set-up)."""
    try:
        with open(os.path.join(stdlib_test_dir(), "__init__.py"), encoding="utf-8") as f:
            return "unittest.TestCase" in f.read()
    except OSError:
        return False


def discover_modules() -> list[str]:
    """Names of the stdlib ctypes test modules (``test_*.py``, and ``__init__`` when the
    package itself has tests), sorted."""
    names = sorted(
        name[:-3]
        for name in os.listdir(stdlib_test_dir())
        if name.startswith("test_") and name.endswith(".py")
    )
    return ([PACKAGE_MODULE] if _package_has_tests() else []) + names


def stdlib_ctypes_extension() -> str | None:
    """Path of the stdlib ``_ctypes`` extension (``PathFinder`` ignores install() hooks)."""
    spec = importlib.machinery.PathFinder.find_spec("_ctypes")
    return spec.origin if spec is not None else None


def ferrotypes_extension() -> str:
    """Path of the installed ``ferrotypes/_ctypes*.so``, found without importing ferrotypes."""
    spec = importlib.util.find_spec("ferrotypes")
    if spec is None or not spec.submodule_search_locations:
        raise SetupError("the ferrotypes package is not installed (run: bash scripts/build.sh)")
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    for location in spec.submodule_search_locations:
        try:
            names = sorted(os.listdir(location))
        except OSError:
            continue
        for name in names:
            if name.startswith("_ctypes") and any(name.endswith(s) for s in suffixes):
                return os.path.join(location, name)
    raise SetupError(
        "no _ctypes extension in ferrotypes package at "
        + ", ".join(spec.submodule_search_locations)
    )


class SetupError(Exception):
    """The requested mode cannot be set up; reported in the JSON, exit status 2."""


def _realpath(path: str | None) -> str | None:
    return os.path.realpath(path) if path else None


# --- setting up a mode ------------------------------------------------------------------


def setup_core() -> dict:
    so_path = ferrotypes_extension()
    if "_ctypes" in sys.modules or "ctypes" in sys.modules:
        raise SetupError("_ctypes/ctypes already imported before the core-mode setup")
    loader = importlib.machinery.ExtensionFileLoader("_ctypes", so_path)
    spec = importlib.util.spec_from_file_location("_ctypes", so_path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["_ctypes"] = module
    try:
        loader.exec_module(module)
    except BaseException:
        del sys.modules["_ctypes"]
        raise
    return {"ferrotypes_extension": so_path}


def setup_full() -> dict:
    import ferrotypes

    ferrotypes.install()
    import ctypes  # noqa: F401  - must now be ferrotypes

    # The test package is imported as it is by ``python -m test``: on 3.11 ``ctypes.test``
    # must resolve, through install()'s finder, to the stdlib's test directory.
    return {"ferrotypes_package": os.path.dirname(ferrotypes.__file__)}


# --- checking a mode afterwards ---------------------------------------------------------


def _mapped_files() -> set[str]:
    """Files mapped into this process (Linux); catches a stdlib _ctypes loaded by dlopen."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return {
                os.path.realpath(parts[5].rstrip("\n"))
                for parts in (line.split(None, 5) for line in maps)
                if len(parts) == 6 and parts[5].startswith("/")
            }
    except OSError:
        return set()


def _module_file(module) -> str | None:
    path = getattr(module, "__file__", None)
    return path if isinstance(path, str) else None


def check_isolation(mode: str, info: dict) -> list[str]:
    violations = []
    stdlib_ext = _realpath(stdlib_ctypes_extension())
    loaded_ctypes = sys.modules.get("_ctypes")
    loaded_file = _realpath(_module_file(loaded_ctypes)) if loaded_ctypes else None

    if mode == "stock":
        if loaded_file is not None and loaded_file != stdlib_ext:
            violations.append(f"stock run used _ctypes from {loaded_file}, not {stdlib_ext}")
        return violations

    if stdlib_ext and stdlib_ext in _mapped_files():
        violations.append(f"the stdlib extension {stdlib_ext} is mapped into the process")

    if mode == "core":
        expected = _realpath(info["ferrotypes_extension"])
        if loaded_file != expected:
            violations.append(f'sys.modules["_ctypes"].__file__ is {loaded_file}, expected {expected}')
        return violations

    # full
    ctypes_dir = _realpath(stdlib_ctypes_dir()) + os.sep
    test_dir = _realpath(stdlib_test_dir()) + os.sep
    for name, module in sorted(sys.modules.items()):
        path = _realpath(_module_file(module))
        if path is None:
            continue
        if path == stdlib_ext:
            violations.append(f"sys.modules[{name!r}] is the stdlib extension {path}")
        elif path.startswith(ctypes_dir) and not path.startswith(test_dir):
            violations.append(f"sys.modules[{name!r}] is the stdlib module {path}")
    ferro_dir = _realpath(info["ferrotypes_package"]) + os.sep
    for name in ("ctypes", "_ctypes"):
        if name == "_ctypes" and name not in sys.modules:
            continue  # nothing imported the top-level name; ferrotypes uses its own
        path = _realpath(_module_file(sys.modules.get(name)))
        if path is None or not path.startswith(ferro_dir):
            violations.append(f"sys.modules[{name!r}] is {path}, not inside {ferro_dir}")
    return violations


# --- running ----------------------------------------------------------------------------


def short_message(err) -> str:
    """First line of ``Type: message`` for an exc_info tuple, truncated."""
    exc_type, exc_value, _ = err
    text = f"{exc_type.__name__}: {exc_value}".strip()
    first = text.splitlines()[0] if text else exc_type.__name__
    more = " ..." if len(text.splitlines()) > 1 else ""
    line = first + more
    return line if len(line) <= MSG_LIMIT else line[: MSG_LIMIT - 3] + "..."


def _truncate(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MSG_LIMIT else text[: MSG_LIMIT - 3] + "..."


def make_result_class(unittest):
    class RecordingResult(unittest.TextTestResult):
        """Records successes and short messages alongside unittest's own bookkeeping."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.passed_ids: list[str] = []
            self.failed: list[dict] = []
            self.errored: list[dict] = []
            self.skipped_tests: list[dict] = []

        def addSuccess(self, test):
            super().addSuccess(test)
            self.passed_ids.append(test.id())

        def addFailure(self, test, err):
            super().addFailure(test, err)
            self.failed.append({"id": test.id(), "msg": short_message(err)})

        def addError(self, test, err):
            super().addError(test, err)
            self.errored.append({"id": test.id(), "msg": short_message(err)})

        def addSubTest(self, test, subtest, err):
            super().addSubTest(test, subtest, err)
            if err is not None:
                bucket = self.failed if issubclass(err[0], test.failureException) else self.errored
                bucket.append({"id": subtest.id(), "msg": short_message(err)})

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            self.skipped_tests.append({"id": test.id(), "msg": _truncate(reason)})

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            self.failed.append({"id": test.id(), "msg": "unexpected success"})

    return RecordingResult


class _UnbufferedStderr:
    """stderr flushed on every write: "test_x (...) ... " must be out before a crash."""

    def write(self, text: str) -> int:
        written = sys.stderr.write(text)
        sys.stderr.flush()
        return written

    def flush(self) -> None:
        sys.stderr.flush()


def module_name(module: str) -> str:
    """The importable name of a module from ``discover_modules()``."""
    return TEST_PACKAGE if module == PACKAGE_MODULE else f"{TEST_PACKAGE}.{module}"


def load_suite(unittest, module: str, test_module):
    """The tests of one module; for the package itself only the classes it defines."""
    if module != PACKAGE_MODULE:
        return unittest.defaultTestLoader.loadTestsFromModule(test_module)
    return unittest.TestSuite(
        unittest.defaultTestLoader.loadTestsFromTestCase(cls)
        for cls in vars(test_module).values()
        if isinstance(cls, type) and issubclass(cls, unittest.TestCase)
        and cls.__module__ == test_module.__name__
    )


def run_module(module: str) -> dict:
    import unittest

    qualified = module_name(module)
    try:
        test_module = importlib.import_module(qualified)
    except unittest.SkipTest as exc:
        return {"run": 0, "passed": 0, "xfail": 0, "failed_tests": [], "errored_tests": [],
                "skipped_tests": [{"id": qualified, "msg": _truncate(exc)}]}
    except Exception:
        return {"run": 0, "passed": 0, "xfail": 0, "failed_tests": [],
                "errored_tests": [{"id": qualified, "msg": "import: " + short_message(sys.exc_info())}],
                "skipped_tests": []}

    expected_dir = _realpath(stdlib_test_dir()) + os.sep
    module_file = _realpath(_module_file(test_module)) or ""
    isolation = []
    if not module_file.startswith(expected_dir):
        isolation.append(f"{qualified} was loaded from {module_file}, not {expected_dir}")

    suite = load_suite(unittest, module, test_module)
    runner = unittest.TextTestRunner(
        stream=_UnbufferedStderr(), verbosity=2, resultclass=make_result_class(unittest)
    )
    result = runner.run(suite)
    return {
        "run": result.testsRun,
        "passed": len(result.passed_ids),
        "xfail": len(result.expectedFailures),
        "failed_tests": result.failed,
        "errored_tests": result.errored,
        "skipped_tests": result.skipped_tests,
        "module_isolation": isolation,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, default="stock")
    parser.add_argument("--list", action="store_true", help="print the module names as JSON and exit")
    parser.add_argument("--watchdog", type=float, default=0, metavar="SECONDS",
                        help="dump all Python stacks to stderr and exit 1 after SECONDS")
    parser.add_argument("module", nargs="?", help="e.g. test_loading or test.test_ctypes.test_loading")
    args = parser.parse_args(argv)

    if args.list:
        print(json.dumps(discover_modules()))
        return 0
    if not args.module:
        parser.error("MODULE is required")
    module = args.module.rsplit(".", 1)[-1].removesuffix(".py")
    module = os.path.basename(module)
    if module not in discover_modules():
        parser.error(f"{module!r} is not a module of {stdlib_test_dir()}")

    # Everything printed from here on, by Python or by C code writing to fd 1, goes to
    # stderr; the JSON line is written to a duplicate of the original stdout.
    sys.stdout.flush()
    json_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    faulthandler.enable(file=sys.stderr, all_threads=True)
    if args.watchdog > 0:
        # Prints "Timeout (h:mm:ss)!" and the stacks, then _exit(1): a hang shows where.
        faulthandler.dump_traceback_later(args.watchdog, exit=True, file=sys.stderr)

    report = {
        "mode": args.mode,
        "module": module,
        "python": sys.version.split()[0],
        "status": "ok",
    }
    started = time.perf_counter()
    info: dict = {}
    try:
        if args.mode == "core":
            info = setup_core()
        elif args.mode == "full":
            info = setup_full()
    except Exception:
        message = short_message(sys.exc_info())
        import traceback

        traceback.print_exc()
        report.update(
            status="setup-error", setup_error=message, run=0, passed=0, failed=0,
            errors=1, skipped=0, xfail=0, failed_tests=[], skipped_tests=[],
            errored_tests=[{"id": "<setup>", "msg": message}], violations=[],
        )
        _emit(json_out, report, started)
        return 2

    outcome = run_module(module)
    violations = outcome.pop("module_isolation", []) + check_isolation(args.mode, info)
    errored = outcome["errored_tests"] + [{"id": "<isolation>", "msg": v} for v in violations]
    report.update(
        run=outcome["run"],
        passed=outcome["passed"],
        failed=len(outcome["failed_tests"]),
        errors=len(errored),
        skipped=len(outcome["skipped_tests"]),
        xfail=outcome["xfail"],
        failed_tests=outcome["failed_tests"],
        errored_tests=errored,
        skipped_tests=outcome["skipped_tests"],
        violations=violations,
        ctypes_file=_module_file(sys.modules.get("ctypes")),
        _ctypes_file=_module_file(sys.modules.get("_ctypes")),
    )
    if report["failed"] or report["errors"]:
        report["status"] = "failures"
    faulthandler.cancel_dump_traceback_later()
    _emit(json_out, report, started)
    return 0 if report["status"] == "ok" else 1


def _emit(json_out, report: dict, started: float) -> None:
    report["duration_s"] = round(time.perf_counter() - started, 3)
    sys.stdout.flush()
    sys.stderr.flush()
    json_out.write(json.dumps(report, sort_keys=True) + "\n")
    json_out.flush()


if __name__ == "__main__":
    sys.exit(main())

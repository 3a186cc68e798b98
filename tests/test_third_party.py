"""Real third-party packages that use ctypes, run unchanged under ``python -m ferrotypes run``.

Each case runs one package's own pytest suite twice in fresh interpreters, at the same time:
once as ``python -m pytest ...`` (the standard ctypes) and once as
``python -m ferrotypes run -m pytest ...``. Every test id must end with the same outcome in
both runs, so the pass/fail/skip counts are equal too; a test that passes with the standard
ctypes and fails under ferrotypes is a ferrotypes bug (its minimal reproduction then goes in
tests/test_third_party_regressions.py).

A small pytest plugin, loaded into both runs with ``-p``, records which module
``import ctypes`` gave the suite, so a run that silently fell back to the standard ctypes
cannot pass as a ferrotypes run.

The packages are optional test dependencies: scripts/test.sh installs them from wheels only
(``--only-binary=:all:``), on every interpreter where the package publishes one. A case
whose package is missing is skipped with the reason: "no numba wheel for CPython 3.15" when
scripts/test.sh found none on the index for this interpreter (it says so through
``FERROTYPES_NO_WHEEL``, the distributions without a wheel, space-separated), "numba's
install failed" when it had one but pip failed (``FERROTYPES_INSTALL_FAILED``), else "not
installed", with the command that installs it.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# Each run gets this long; both runs of a case go side by side, so a case takes about one.
RUN_TIMEOUT = 150

# Loaded with ``-p _ctypes_probe`` in both runs: writes the module that ``import ctypes``
# and ``import _ctypes`` resolve to once the session ends (the suite has imported them).
PROBE_PLUGIN = """
import json, os, sys

def pytest_sessionfinish(session):
    with open(os.environ["CTYPES_PROBE_OUT"], "w") as f:
        json.dump({name: getattr(sys.modules.get(name), "__name__", None)
                   for name in ("ctypes", "_ctypes")}, f)
"""


@dataclass(frozen=True)
class Suite:
    """One package's test suite: what must be importable, and the pytest arguments."""

    requires: tuple[str, ...]
    pytest_args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


# pysdl2 runs 10 of its 60 test modules, about 230 tests (the whole suite takes over a minute
# per run, mostly its conftest's gc.collect() after every test): the modules that lean hardest
# on ctypes -- structures passed by pointer and by value (rect, pixels, surface), arrays and
# buffers over SDL memory (sdl2ext.array, sdl2ext.pixelaccess), Python callbacks called from C
# (log, hints, timer, rwops' Python-implemented RWops) and unions (events). Two timer tests
# measure wall-clock delays, are marked xfail as unreliable and flip between xfail and xpass
# from run to run with either ctypes; they are deselected.
SDL2_MODULES = (
    "events_test", "hints_test", "log_test", "pixels_test", "rect_test", "rwops_test",
    "surface_test", "timer_test", "sdl2ext_array_test", "sdl2ext_pixelaccess_test",
)

SUITES = {
    # numpy.ctypeslib: ndpointer, as_array/as_ctypes, load_library, ctypes-typed arrays.
    "numpy.ctypeslib": Suite(
        requires=("numpy",),
        pytest_args=("--pyargs", "numpy.tests.test_ctypeslib"),
    ),
    # llvmlite's whole binding layer is ctypes over its bundled libllvmlite.so: the full
    # suite (about 390 tests; test_ir checks every module it builds with the binding's
    # parse_assembly too).
    "llvmlite": Suite(
        requires=("llvmlite",),
        pytest_args=("--pyargs", "llvmlite.tests"),
    ),
    # numba compiles calls to ctypes function pointers and turns ctypes pointers into arrays
    # (numba.carray/farray); its two ctypes test modules, less the two cases that JIT-compile
    # carray/farray (about 50 s of LLVM work that the pure-Python carray cases already cover).
    "numba": Suite(
        requires=("numba",),
        pytest_args=("--pyargs", "numba.tests.test_ctypes", "numba.tests.test_cfunc",
                     "-k", "not test_numba_carray and not test_numba_farray"),
    ),
    # PySDL2 with the SDL2 binaries from the pysdl2-dll wheel, on SDL's dummy video and
    # audio drivers (no display or sound card needed).
    "pysdl2": Suite(
        requires=("sdl2", "sdl2dll"),
        pytest_args=(
            "--pyargs", *(f"sdl2.test.{name}" for name in SDL2_MODULES),
            "-k", "not test_SDL_Delay and not test_SDL_AddRemoveTimer",
        ),
        env={"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"},
    ),
}

# What to pip install for each importable name above.
DISTRIBUTIONS = {"numpy": "numpy", "llvmlite": "llvmlite", "numba": "numba",
                 "sdl2": "pysdl2", "sdl2dll": "pysdl2-dll"}


def missing_reason(name: str, distributions: list[str]) -> str:
    """Why a suite cannot run here: no wheel for this CPython, a failed install, or none."""
    version = "CPython %d.%d" % sys.version_info[:2]
    no_wheel = os.environ.get("FERROTYPES_NO_WHEEL", "").split()
    failed = os.environ.get("FERROTYPES_INSTALL_FAILED", "").split()
    reasons = []
    for dist in distributions:
        if dist in no_wheel:
            reasons.append(f"no {dist} wheel for {version}")
        elif dist in failed:
            reasons.append(f"{dist} has a wheel for {version} but its install failed "
                           f"(scripts/test.sh printed pip's error)")
        else:
            reasons.append(f"{dist} is not installed "
                           f"(pip install --only-binary=:all: {dist}; scripts/test.sh does)")
    return f"{name}'s suite cannot run: " + "; ".join(reasons)


@dataclass
class RunResult:
    outcomes: collections.Counter  # (test id, outcome) -> how many times
    summary: str  # pytest's closing line
    ctypes_modules: dict
    returncode: int

    def counts(self) -> collections.Counter:
        return collections.Counter(outcome for (_, outcome), n in self.outcomes.items()
                                   for _ in range(n))


def junit_outcomes(path: Path) -> collections.Counter:
    """(test id, outcome) pairs from pytest's JUnit XML, outcome as pytest names it."""
    outcomes: collections.Counter = collections.Counter()
    for case in ET.parse(path).iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        children = {child.tag: child for child in case}
        if "error" in children:
            outcome = "error"
        elif "failure" in children:
            outcome = "failed"
        elif "skipped" in children:
            xfail = children["skipped"].get("type") == "pytest.xfail"
            outcome = "xfailed" if xfail else "skipped"
        else:
            outcome = "passed"
        outcomes[test_id, outcome] += 1
    return outcomes


def start_run(suite: Suite, workdir: Path, under_ferrotypes: bool):
    label = "ferrotypes" if under_ferrotypes else "stock"
    junit = workdir / f"{label}.xml"
    probe_out = workdir / f"{label}-probe.json"
    runner = ["-m", "ferrotypes", "run"] if under_ferrotypes else []
    cmd = [sys.executable, *runner, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-p", "_ctypes_probe", f"--junitxml={junit}", *suite.pytest_args]
    env = dict(os.environ, **suite.env, CTYPES_PROBE_OUT=str(probe_out))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(workdir), env.get("PYTHONPATH")]))
    # cwd is the scratch directory, so neither this repository's pytest configuration nor
    # its source tree is picked up by the package's suite.
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    return proc, junit, probe_out


def finish_run(started) -> RunResult:
    proc, junit, probe_out = started
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        raise AssertionError(f"{proc.args} took over {RUN_TIMEOUT} s:\n{output[-4000:]}")
    if not junit.exists() or not probe_out.exists():
        raise AssertionError(f"{proc.args} exited {proc.returncode} without finishing its "
                             f"session:\n{output[-4000:]}")
    lines = output.strip().splitlines()
    return RunResult(junit_outcomes(junit), lines[-1] if lines else "",
                     json.loads(probe_out.read_text()), proc.returncode)


@pytest.mark.parametrize("name", sorted(SUITES))
def test_suite_same_outcomes_under_ferrotypes(name, tmp_path):
    suite = SUITES[name]
    missing = [mod for mod in suite.requires if importlib.util.find_spec(mod) is None]
    if missing:
        pytest.skip(missing_reason(name, [DISTRIBUTIONS[m] for m in missing]))
    (tmp_path / "_ctypes_probe.py").write_text(textwrap.dedent(PROBE_PLUGIN))

    stock_run = start_run(suite, tmp_path, under_ferrotypes=False)
    ferro_run = start_run(suite, tmp_path, under_ferrotypes=True)
    stock, ferro = finish_run(stock_run), finish_run(ferro_run)

    assert stock.ctypes_modules == {"ctypes": "ctypes", "_ctypes": "_ctypes"}
    assert ferro.ctypes_modules == {"ctypes": "ferrotypes", "_ctypes": "ferrotypes._ctypes"}
    assert stock.outcomes, f"the stock run collected no tests: {stock.summary}"

    # Shown with -rP (or -s): the counts of both runs, for docs/third-party.md.
    print(f"{name} on CPython {sys.version.split()[0]}: stock: {stock.summary} | "
          f"ferrotypes: {ferro.summary}")
    only_stock = sorted((stock.outcomes - ferro.outcomes).elements())
    only_ferro = sorted((ferro.outcomes - stock.outcomes).elements())
    assert not only_stock and not only_ferro, (
        f"{name}: outcomes differ\n  stock:      {stock.summary}\n"
        f"  ferrotypes: {ferro.summary}\n"
        f"  stock only: {only_stock}\n  ferrotypes only: {only_ferro}")
    assert stock.counts() == ferro.counts()
    assert stock.returncode == ferro.returncode

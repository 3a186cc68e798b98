"""The benchmark harness itself (benches/bench_calls.py): what it reports must be what it
says it measures. Timings are never asserted here; only the bookkeeping."""
import importlib.util
import itertools
import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benches" / "bench_calls.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_calls_under_test", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Target:
    kind = "ctypes"

    def __init__(self, name):
        self.import_name = name


def test_import_row_is_the_best_of_every_run(bench, monkeypatch):
    """The import row reports the fastest of its fresh-process runs. (It once kept the
    first run only: the first sample, an int, ended the series meant for floats, and single
    runs on a busy machine read 0.13x to 86x.)"""
    samples = {"ctypes": iter([9e6, 4e6, 2e6, 3e6]), "ferrotypes": iter([7e6, 5e6, 1e6, 6e6])}
    calls = []

    def fake_import_time(module):
        calls.append(module)
        return next(samples[module])

    monkeypatch.setattr(bench, "import_time", fake_import_time)
    targets = {"ctypes": _Target("ctypes"), "ferrotypes": _Target("ferrotypes")}
    rows = list(bench.measure(targets, repeats=1, min_time=0.0, import_runs=4, only=r"^import "))
    assert len(rows) == 1
    name, unit, cells = rows[0]
    assert unit == "import"
    assert calls == ["ctypes", "ferrotypes"] * 4
    assert cells["ctypes"] == 2e6 and cells["ferrotypes"] == 1e6


def test_import_time_reads_the_cumulative_column(bench, monkeypatch):
    class Done:
        stderr = ("import time: self [us] | cumulative | imported package\n"
                  "import time:       120 |        120 |   _struct\n"
                  "import time:      1055 |       2481 | ferrotypes\n")

    monkeypatch.setattr(bench.subprocess, "run", lambda *a, **k: Done())
    value = bench.import_time("ferrotypes")
    assert isinstance(value, float) and value == 2481 * 1000


IMPORT_COST = BENCH.parent / "import_cost.py"


def test_import_cost_reports_the_best_of_its_runs(monkeypatch, capsys):
    """benches/import_cost.py prints, per package, the smallest of its fresh-process
    figures and their ratio (the wall clock is faked: only the bookkeeping is checked)."""
    spec = importlib.util.spec_from_file_location("import_cost_under_test", IMPORT_COST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    real_import_time = module.import_time
    samples = {"ctypes": iter([900, 400, 500]), "ferrotypes": iter([700, 600, 440])}
    monkeypatch.setattr(module, "import_time", lambda name: next(samples[name]))
    monkeypatch.setattr("sys.argv", ["import_cost.py", "--runs", "3"])
    module.main()
    out = capsys.readouterr().out
    assert "import ctypes 400 us, import ferrotypes 440 us (best of 3): ratio 1.10" in out
    # A real fresh-process figure is a positive number of microseconds.
    assert real_import_time("ferrotypes") > 0


CALL_FLOOR = BENCH.parent / "call_floor.py"


def test_call_floor_times_what_it_names(monkeypatch, capsys, tmp_path):
    """benches/call_floor.py compiles two callables with one body (a builtin function and a
    vectorcall object); both must compute abs() and refuse what the body refuses, and the
    report must name every candidate and the ratios it claims (timings are not checked)."""
    spec = importlib.util.spec_from_file_location("call_floor_under_test", CALL_FLOOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build_floor_module(str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))
    built = importlib.import_module("_call_floor")
    for f in (built.builtin_abs, built.object_abs):
        assert [f(-5), f(7), f(0)] == [5, 7, 0]
        with pytest.raises(TypeError):
            f(1.5)
    assert type(built.object_abs).__name__ == "AbsObject"
    assert type(built.builtin_abs).__name__ == "builtin_function_or_method"
    monkeypatch.setattr("sys.argv", ["call_floor.py", "--repeat", "2", "--number", "1000"])
    path_before = list(sys.path)
    module.main()
    # Its own build was imported (not the one above) and forgotten, and its temporary
    # directory left sys.path (importing setuptools for cffi may add a live entry).
    assert all(os.path.isdir(p) for p in sys.path if p not in path_before), sys.path
    assert "_call_floor" not in sys.modules
    out, err = capsys.readouterr()
    for name in ("builtin_abs", "object_abs", "ferrotypes", "object_abs ÷ builtin_abs",
                 "ferrotypes ÷ object_abs"):
        assert f"  {name} " in out, out
    # The cffi lines are there exactly when cffi's module could be built (cffi needs
    # setuptools to compile from 3.12 on); otherwise a note says why they are not.
    cffi_lines = ["  cffi ", "  object_abs ÷ cffi ", "  ferrotypes ÷ cffi "]
    if "note: cffi column n/a" in err:
        assert not any(line in out for line in cffi_lines), out
    else:
        assert all(line in out for line in cffi_lines), (out, err)

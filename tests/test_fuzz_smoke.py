"""A short bounded run of every fuzz target (scripts/fuzz.sh, fuzz/README.md).

* the cargo-fuzz targets ``layout`` and ``classify`` (nightly Rust, libFuzzer, ASan):
  ``FERROTYPES_FUZZ_RUST_SECONDS`` each (default 15). They do not depend on the Python
  interpreter, so scripts/test.sh runs them with its first interpreter only
  (``FERROTYPES_FUZZ_RUST=0`` for the others);
* the atheris harnesses ``cdef`` and ``convert`` with this interpreter:
  ``FERROTYPES_FUZZ_PY_SECONDS`` each (default 10);
* the committed corpora and regression inputs of both harnesses replayed once, without
  atheris, on every interpreter.

Any crash, panic, sanitizer report or unexpected exception fails the test with the
fuzzer's output; the failing input is kept under target/fuzz-artifacts/.
"""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ_SH = os.path.join(ROOT, "scripts", "fuzz.sh")
RUST_SECONDS = os.environ.get("FERROTYPES_FUZZ_RUST_SECONDS", "15")
PY_SECONDS = os.environ.get("FERROTYPES_FUZZ_PY_SECONDS", "10")


def _run(args, timeout):
    # At normal priority (FUZZ_NICE=0): at nice 19 the bounded run starves while other
    # processes keep the cores busy, and its limits are wall-clock time.
    env = dict(os.environ, PYTHON=sys.executable, FUZZ_NICE=os.environ.get("FUZZ_NICE", "0"))
    proc = subprocess.run(["bash", FUZZ_SH, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    summary = out[out.rfind("== fuzz summary"):] if "== fuzz summary" in out else out[-3000:]
    print(summary)
    return proc.returncode, out, summary


def _have(*cmd):
    return shutil.which(cmd[0]) is not None and subprocess.run(
        list(cmd), capture_output=True).returncode == 0


def test_rust_fuzz_targets_run_clean():
    if os.environ.get("FERROTYPES_FUZZ_RUST") == "0":
        pytest.skip("the Rust fuzz targets ran once in this scripts/test.sh run, with the "
                    "first interpreter that can build them (they do not depend on Python)")
    if not _have("c++", "--version"):
        pytest.skip("RUST FUZZ SMOKE NOT RUN: no C++ compiler here (libfuzzer-sys needs one)")
    if not _have("cargo", "+nightly", "--version"):
        pytest.skip("RUST FUZZ SMOKE NOT RUN: no nightly Rust toolchain (cargo +nightly)")
    if not _have("cargo", "+nightly", "fuzz", "--version"):
        pytest.skip("RUST FUZZ SMOKE NOT RUN: cargo-fuzz is not installed and "
                    "scripts/test.sh could not install it (cargo install cargo-fuzz)")
    code, out, summary = _run(["--rust-only", "--seconds", RUST_SECONDS], timeout=1800)
    assert code == 0, out[-8000:]
    assert summary.count(": passed,") == 2, summary


def test_python_harness_corpora_replay_clean():
    for name in ("cdef", "convert"):
        proc = subprocess.run(
            [sys.executable, os.path.join(ROOT, "fuzz", "python", "%s_fuzz.py" % name),
             "--replay", os.path.join(ROOT, "fuzz", "corpus", name),
             os.path.join(ROOT, "fuzz", "regressions", name)],
            capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr[-8000:]
        assert "0 failures" in proc.stdout


def test_python_harnesses_fuzz_clean():
    try:
        import atheris  # noqa: F401
    except ImportError:
        pytest.skip("ATHERIS FUZZ SMOKE NOT RUN: atheris publishes no wheel for CPython "
                    "%d.%d (the corpora are still replayed)" % sys.version_info[:2])
    code, out, summary = _run(["--python-only", "--seconds", PY_SECONDS], timeout=900)
    assert code == 0, out[-8000:]
    assert summary.count(": passed,") == 2, summary

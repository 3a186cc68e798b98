"""The interpreter finalizes while C threads keep calling Python callbacks.

Each case is a child process that starts the load and then simply ends: `Py_FinalizeEx`
runs while C threads call back into Python, Python daemon threads sit in foreign calls with
the GIL released, and callbacks release the GIL themselves. The child must exit 0, at once
(no hang), with nothing on stderr but what the test expects (no fatal error, no signal).
FERROTYPES_SHUTDOWN_RUNS sets the number of runs per case (the long run uses 200).
"""

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from support import compile_shared

HERE = Path(__file__).resolve().parent
RUNS = int(os.environ.get("FERROTYPES_SHUTDOWN_RUNS", "10"))


@pytest.fixture(scope="module")
def shutdown_lib(tmp_path_factory):
    so = tmp_path_factory.mktemp("shutdownlib") / "libshutdown.so"
    return compile_shared(HERE / "clib" / "shutdown.c", so, "-O1", "-pthread")


PRELUDE = """
import sys, threading, time
import ferrotypes
from ferrotypes import CDLL, CFUNCTYPE, c_int
lib = CDLL({lib!r})
CB = CFUNCTYPE(c_int, c_int)
lib.start_callers.argtypes = [c_int, CB]
lib.nap.argtypes = [c_int]
lib.call_once.argtypes = [CB, c_int]
"""

CASES = {
    # Four C threads call a trivial callback as fast as they can.
    "c_threads": """
        counted = []
        cb = CB(lambda i: counted.append(i) or i)
        lib.start_callers(4, cb)
        while len(counted) < 1000:
            time.sleep(0.001)
    """,
    # The callback releases the GIL itself (sleeps) while the interpreter goes away.
    "callback_releases_gil": """
        def slow(i):
            time.sleep(0.0005)
            return i
        cb = CB(slow)
        lib.start_callers(3, cb)
        time.sleep(0.02)
    """,
    # Python daemon threads in foreign calls (GIL released), some calling back into Python
    # from inside the call, while the main thread ends.
    "daemon_threads_in_calls": """
        cb = CB(lambda i: lib.nap(50))
        def worker(k):
            while True:
                lib.nap(100)
                lib.call_once(cb, k)
        for k in range(4):
            threading.Thread(target=worker, args=(k,), daemon=True).start()
        cb2 = CB(lambda i: i)
        lib.start_callers(2, cb2)
        time.sleep(0.02)
    """,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_finalizing_with_callers_running(shutdown_lib, case):
    source = PRELUDE.format(lib=str(shutdown_lib)) + textwrap.dedent(CASES[case]) + "\nprint('end of main')\n"
    for run in range(RUNS):
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=60)
        took = time.monotonic() - started
        assert proc.returncode == 0, f"run {run}: exit status {proc.returncode}\n{proc.stderr[-3000:]}"
        assert proc.stdout.strip() == "end of main", proc.stdout
        assert "Fatal Python error" not in proc.stderr, proc.stderr[-3000:]
        assert took < 20, f"run {run} took {took:.1f} s"


def test_exit_hooks_registered_before_import_still_call_c():
    """`atexit` runs hooks last-registered first, so a hook the program registered before
    `import ferrotypes` runs after ferrotypes closed its shutdown gate. The thread running
    it is the finalizing thread itself: its foreign calls (GIL released) and callbacks must
    work as before, not park it for good (which hung the process at exit)."""
    source = textwrap.dedent("""
        import atexit
        def hook():
            import ferrotypes as C
            libc = C.CDLL(None)
            print("abs", libc.abs(-3))
            CMP = C.CFUNCTYPE(C.c_int, C.POINTER(C.c_int), C.POINTER(C.c_int))
            arr = (C.c_int * 5)(3, 1, 4, 0, 2)
            libc.qsort(arr, 5, C.sizeof(C.c_int), CMP(lambda a, b: a[0] - b[0]))
            print("sorted", list(arr))
        atexit.register(hook)
        import ferrotypes
        print("end of main")
    """)
    proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[:3] == ["end of main", "abs 3", "sorted [0, 1, 2, 3, 4]"], proc.stdout

"""Callbacks under load: C threads calling back while Python threads call into C, and the
memory cost of making and dropping many callbacks.
"""
import subprocess
import sys
import textwrap
import threading

import pytest

import ferrotypes as ct
from test_callbacks import THREADS_C
from support import compile_shared

# The pthread driver is test_callbacks' own; only `mix` is added here.
PTHREADS_C = THREADS_C + r"""
/* A plain function Python threads call while the C threads run: it computes only, so the
   GIL must be released around it for everything to proceed. */
long mix(long a, long b) { return a * 31 + b; }
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cbload")
    (tmp / "cbload.c").write_text(PTHREADS_C)
    return ct.CDLL(compile_shared(tmp / "cbload.c", tmp / "libcbload.so", "-O1", "-pthread"))


CALLBACK = ct.CFUNCTYPE(ct.c_int, ct.c_int)


def test_four_c_threads_ten_thousand_calls_while_python_threads_call_c(lib):
    nthreads, calls = 4, 10_000
    lock = threading.Lock()
    counted = {"calls": 0, "threads": set(), "local_ok": True}
    local = threading.local()

    def on_call(i):
        # threading.local set in one callback must still be there in the next one on the
        # same C thread: one Python thread state per foreign thread, kept across calls.
        local.count = getattr(local, "count", 0) + 1
        if local.count != i + 1:
            counted["local_ok"] = False
        with lock:
            counted["calls"] += 1
            counted["threads"].add(threading.get_ident())
        return i

    cb = CALLBACK(on_call)
    run_threads = lib.run_threads
    run_threads.argtypes = [CALLBACK, ct.c_int, ct.c_int]
    run_threads.restype = ct.c_long

    stop = threading.Event()
    py_errors = []
    py_calls = [0] * 4

    def python_caller(k):
        mix = lib["mix"]
        mix.argtypes = [ct.c_long, ct.c_long]
        mix.restype = ct.c_long
        n = 0
        try:
            while not stop.is_set():
                n += 1
                assert mix(n, k) == n * 31 + k
        except BaseException as exc:
            py_errors.append(repr(exc))
        py_calls[k] = n

    callers = [threading.Thread(target=python_caller, args=(k,)) for k in range(4)]
    for t in callers:
        t.start()
    result = {}
    runner = threading.Thread(target=lambda: result.update(total=run_threads(cb, nthreads, calls)))
    runner.start()
    runner.join(120)
    stop.set()
    for t in callers:
        t.join(30)
    assert not runner.is_alive(), "the C threads never finished: deadlock"
    assert not any(t.is_alive() for t in callers)
    assert py_errors == []
    assert all(n > 0 for n in py_calls)
    assert counted["calls"] == nthreads * calls
    assert len(counted["threads"]) == nthreads
    assert counted["local_ok"]
    assert result["total"] == nthreads * (calls * (calls - 1) // 2)


def test_hundred_thousand_callbacks_keep_memory_flat():
    code = textwrap.dedent("""
        import gc, resource
        import ferrotypes as ct
        libc = ct.CDLL(None)
        CMP = ct.CFUNCTYPE(ct.c_int, ct.POINTER(ct.c_int), ct.POINTER(ct.c_int))
        qsort = libc.qsort
        qsort.argtypes = [ct.c_void_p, ct.c_size_t, ct.c_size_t, CMP]
        arr = (ct.c_int * 4)(3, 1, 2, 0)

        def rss_kb():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * resource.getpagesize() // 1024

        def churn(n):
            for i in range(n):
                cb = CMP(lambda a, b: a[0] - b[0])
                if i % 1000 == 0:
                    qsort(arr, 4, ct.sizeof(ct.c_int), cb)   # some of them really called
            gc.collect()

        churn(10000)
        base = rss_kb()
        churn(100000)
        print(rss_kb() - base, list(arr))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    grown_kb, arr = proc.stdout.split(" ", 1)
    assert arr.strip() == "[0, 1, 2, 3]"
    assert int(grown_kb) < 5 * 1024, f"RSS grew by {grown_kb} KiB over 100,000 callbacks"

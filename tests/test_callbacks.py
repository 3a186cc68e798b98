"""Callbacks: C calling Python through ferrotypes' libffi closures.

Covers a libc caller (qsort), a C library built at test time that calls back from several
pthreads at once (every call counted, no deadlock, one Python thread state kept per
foreign thread), exceptions reaching ``sys.unraisablehook`` with CPython's messages,
result conversion, ``_objects`` keep-alive and garbage collection of cycles through a
callback.
"""

import gc
import subprocess
import sys
import threading
import warnings
import weakref

import pytest

import ferrotypes as ct
from support import compile_shared

libc = ct.CDLL(None)


def test_qsort_with_python_comparator():
    calls = []

    @ct.CFUNCTYPE(ct.c_int, ct.POINTER(ct.c_int), ct.POINTER(ct.c_int))
    def compare(a, b):
        calls.append((a[0], b[0]))
        return a[0] - b[0]

    values = [5, 1, 99, 7, 33, -4, 0]
    array = (ct.c_int * len(values))(*values)
    libc.qsort.restype = None
    libc.qsort(array, len(array), ct.sizeof(ct.c_int), compare)
    assert list(array) == sorted(values)
    assert calls


def test_qsort_doubles_descending():
    @ct.CFUNCTYPE(ct.c_int, ct.POINTER(ct.c_double), ct.POINTER(ct.c_double))
    def descending(a, b):
        return (a[0] < b[0]) - (a[0] > b[0])

    array = (ct.c_double * 5)(0.5, -1.25, 3.0, 2.0, 1e10)
    libc.qsort(array, 5, ct.sizeof(ct.c_double), descending)
    assert list(array) == [1e10, 3.0, 2.0, 0.5, -1.25]


THREADS_C = r"""
#include <pthread.h>

typedef int (*callback_t)(int);

struct job { callback_t cb; int calls; long sum; };

static void *worker(void *arg) {
    struct job *job = arg;
    for (int i = 0; i < job->calls; i++)
        job->sum += job->cb(i);
    return 0;
}

/* Calls `cb` `calls` times from each of `nthreads` new threads; returns the sum of results. */
long run_threads(callback_t cb, int nthreads, int calls) {
    pthread_t threads[16];
    struct job jobs[16];
    if (nthreads > 16) return -1;
    for (int t = 0; t < nthreads; t++) {
        jobs[t].cb = cb; jobs[t].calls = calls; jobs[t].sum = 0;
        if (pthread_create(&threads[t], 0, worker, &jobs[t])) return -2;
    }
    long total = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(threads[t], 0);
        total += jobs[t].sum;
    }
    return total;
}
"""


@pytest.fixture(scope="module")
def threads_lib(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cbthreads")
    src = tmp / "cbthreads.c"
    src.write_text(THREADS_C)
    lib = ct.CDLL(compile_shared(src, tmp / "libcbthreads.so", "-O1", "-pthread"))
    lib.run_threads.restype = ct.c_long
    return lib


CALLBACK = ct.CFUNCTYPE(ct.c_int, ct.c_int)


def test_callbacks_from_four_pthreads(threads_lib):
    nthreads, calls = 4, 2000
    lock = threading.Lock()
    seen = {"calls": 0, "threads": set()}
    local = threading.local()

    def on_call(i):
        with lock:
            seen["calls"] += 1
            seen["threads"].add(threading.get_ident())
        # One thread state per foreign thread, kept across calls: thread-local data
        # survives from one callback to the next on the same C thread.
        local.count = getattr(local, "count", 0) + 1
        assert local.count == i + 1
        return i

    cb = CALLBACK(on_call)
    threads_lib.run_threads.argtypes = [CALLBACK, ct.c_int, ct.c_int]
    total = threads_lib.run_threads(cb, nthreads, calls)
    assert seen["calls"] == nthreads * calls
    assert len(seen["threads"]) == nthreads
    assert threading.get_ident() not in seen["threads"]
    assert total == nthreads * (calls * (calls - 1) // 2)


def test_threads_repeatedly(threads_lib):
    # Thread states of exited foreign threads are released at thread exit; doing this many
    # times must neither leak into a crash nor deadlock.
    threads_lib.run_threads.argtypes = [CALLBACK, ct.c_int, ct.c_int]
    cb = CALLBACK(lambda i: 1)
    for _ in range(50):
        assert threads_lib.run_threads(cb, 4, 10) == 40


def test_exception_in_foreign_thread_goes_to_unraisablehook(threads_lib, monkeypatch):
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)

    def fails(i):
        raise ValueError(i)

    threads_lib.run_threads.argtypes = [CALLBACK, ct.c_int, ct.c_int]
    assert threads_lib.run_threads(CALLBACK(fails), 4, 3) == 0
    assert len(reports) == 12
    assert all(isinstance(r.exc_value, ValueError) for r in reports)


def stock_report(monkeypatch, callable_, *argtypes_and_args):
    """What the stdlib ctypes of this interpreter reports for the same failing callback: the
    messages changed with the versions (the object moved into the text in 3.13, "on"
    became "while" in 3.14), so the running version's stock ctypes is the reference."""
    import ctypes
    from support import require_stock
    require_stock(ctypes)
    argtypes, args = argtypes_and_args
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    ctypes.CFUNCTYPE(ctypes.c_int, *argtypes)(callable_)(*args)  # its result is undefined
    (report,) = reports
    return report


def test_exception_reaches_unraisablehook(monkeypatch):
    def divide(x):
        return 1 // x

    stock = stock_report(monkeypatch, divide, [__import__("ctypes").c_int], [0])
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    cb = CALLBACK(divide)
    assert cb(0) == 0  # the result storage is zeroed
    assert len(reports) == 1
    (report,) = reports
    assert isinstance(report.exc_value, ZeroDivisionError)
    assert report.err_msg == stock.err_msg
    assert report.object is stock.object
    assert report.err_msg.startswith("Exception ignored ")
    assert "calling ctypes callback function" in report.err_msg
    assert cb(1) == 1


def test_result_conversion_error(monkeypatch):
    def bad():
        return ("not", "an int")

    stock = stock_report(monkeypatch, bad, [], [])
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    assert ct.CFUNCTYPE(ct.c_int)(bad)() == 0
    (report,) = reports
    assert isinstance(report.exc_value, TypeError)
    assert report.err_msg == stock.err_msg
    assert report.object is stock.object
    assert "converting result of ctypes callback function" in report.err_msg


def test_char_p_result_warns_about_leak():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ct.CFUNCTYPE(ct.c_char_p)(lambda: b"spam")() == b"spam"
    assert any("memory leak in callback function" in str(w.message) for w in caught)


@pytest.mark.parametrize(
    "typ, value",
    [
        (ct.c_byte, -42), (ct.c_ubyte, 200), (ct.c_short, -1234), (ct.c_ushort, 60000),
        (ct.c_int, -7), (ct.c_uint, 4000000000), (ct.c_long, -(2**40)), (ct.c_ulonglong, 2**63 + 5),
        (ct.c_double, -3.25), (ct.c_bool, True), (ct.c_char, b"x"), (ct.c_wchar, "\u20ac"),
    ],
)
def test_round_trip_scalar(typ, value):
    got = []
    proto = ct.CFUNCTYPE(typ, ct.c_byte, typ)
    cb = proto(lambda a, b: got.append((a, b)) or b)
    assert cb(-3, value) == value
    assert got == [(-3, value)]


def test_simple_subclass_arguments_stay_instances():
    class MyInt(ct.c_int):
        pass

    got = []
    ct.CFUNCTYPE(None, MyInt)(got.append)(42)
    assert type(got[0]) is MyInt and got[0].value == 42


def test_use_errno_in_callback():
    proto = ct.CFUNCTYPE(ct.c_int, use_errno=True)
    seen = []

    def cb():
        seen.append(ct.get_errno())
        ct.set_errno(17)
        return 0

    ct.set_errno(5)
    proto(cb)()
    # Inside the callback ctypes' copy holds the C errno of the calling thread; the value
    # the callback set is swapped back into ctypes' copy afterwards.
    assert len(seen) == 1 and isinstance(seen[0], int)


def test_invalid_result_types():
    with pytest.raises(TypeError, match="invalid result type for callback function"):
        ct.CFUNCTYPE(ct.POINTER(ct.c_int))(lambda: None)
    with pytest.raises(TypeError):
        ct.CFUNCTYPE(object)(lambda: None)


def test_objects_hold_the_thunk():
    def func(x):
        return x

    cb = CALLBACK(func)
    objs = cb._objects
    assert list(objs) == ["0"]
    refs = sys.getrefcount(func)
    del cb, objs
    gc.collect()
    assert sys.getrefcount(func) < refs


def test_cycle_through_callback_is_collected():
    proto = ct.CFUNCTYPE(None)

    class Holder:
        def method(self):
            pass

        def __init__(self):
            self.cb = proto(self.method)

    ref = weakref.ref(Holder())
    gc.collect()
    assert ref() is None


def test_cycle_through_thunk_callable_is_collected():
    # function -> its own callback object -> _objects -> CThunkObject -> function
    def func():
        pass

    func.cb = ct.CFUNCTYPE(None)(func)
    ref = weakref.ref(func)
    del func
    gc.collect()
    assert ref() is None


def test_callback_passed_to_c_and_called_back():
    # A C function pointer made from a callback goes back through the ordinary call path.
    cb = CALLBACK(lambda x: x * 3)
    as_ptr = ct.cast(cb, ct.c_void_p).value
    again = CALLBACK(as_ptr)
    assert again(14) == 42


def test_callback_freed_during_its_own_call(threads_lib):
    # C holds only the bare code pointer; the callback drops the last reference to its
    # function object while it runs. The closure state must stay valid until it returns.
    holder = {}

    def func(i):
        holder.clear()
        gc.collect()
        return 7

    holder["cb"] = CALLBACK(func)
    ref = weakref.ref(holder["cb"])
    address = ct.cast(holder["cb"], ct.c_void_p).value
    objects = holder["cb"]._objects
    for key in [k for k in objects if k != "0"]:  # cast() stored a self-reference
        del objects[key]
    del objects
    threads_lib.run_threads.argtypes = [ct.c_void_p, ct.c_int, ct.c_int]
    assert threads_lib.run_threads(address, 1, 1) == 7
    assert ref() is None


BACKGROUND_C = r"""
#include <pthread.h>
#include <unistd.h>

typedef int (*callback_t)(int);
static callback_t callback;

static void *forever(void *arg) {
    for (int i = 0;; i++) { callback(i); usleep(200); }
    return 0;
}

/* Starts a detached thread that calls `cb` every 200us until the process exits. */
int start_forever(callback_t cb) {
    pthread_t t;
    callback = cb;
    return pthread_create(&t, 0, forever, 0) || pthread_detach(t);
}
"""

SHUTDOWN_SCRIPT = r"""
import sys, time
import ferrotypes as ct
lib = ct.CDLL(sys.argv[1])
CB = ct.CFUNCTYPE(ct.c_int, ct.c_int)
calls = []
cb = CB(lambda i: calls.append(i) or 0)
lib.start_forever(cb)
time.sleep(0.1)
assert calls
"""


def test_interpreter_exit_while_c_thread_keeps_calling(tmp_path):
    # The callback object dies with its module at shutdown while the C thread still calls
    # it: the interpreter must exit cleanly, every time.
    src = tmp_path / "forever.c"
    src.write_text(BACKGROUND_C)
    so = compile_shared(src, tmp_path / "libforever.so", "-pthread")
    script = tmp_path / "shutdown.py"
    script.write_text(SHUTDOWN_SCRIPT)
    for _ in range(5):
        proc = subprocess.run([sys.executable, str(script), str(so)], capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]

"""How a callback gets the GIL (issue #15): on a thread Python knows, the thread's own state
is restored directly (no PyGILState_Ensure); a thread that already holds the GIL runs the
callback as it is. These tests pin down what must stay true on every path: the callback
runs on the calling thread with its thread state (threading.local, thread ident), nested
callbacks through calls made with and without the GIL released work, exceptions still
reach sys.unraisablehook, and no reference is left pending between callbacks.
"""
import sys
import threading

import pytest

import ferrotypes as ct
from support import compile_shared

LOOP_C = r"""
typedef int (*cb_t)(int);
int call_n(cb_t cb, int n) { int s = 0; for (int i = 0; i < n; i++) s += cb(i); return s; }
int call_once(cb_t cb, int v) { return cb(v); }
"""

CB = ct.CFUNCTYPE(ct.c_int, ct.c_int)


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cbattach")
    (tmp / "loop.c").write_text(LOOP_C)
    lib = ct.CDLL(compile_shared(tmp / "loop.c", tmp / "libloop.so", "-O1"))
    for name in ("call_n", "call_once"):
        f = getattr(lib, name)
        f.argtypes = (CB, ct.c_int)
        f.restype = ct.c_int
    return lib


def test_released_call_calls_back_on_its_own_thread_state(lib):
    local = threading.local()
    local.tag = "set before the call"
    seen = []

    def cb(i):
        seen.append((threading.get_ident(), getattr(local, "tag", None)))
        return i

    assert lib.call_n.release_gil is True
    assert lib.call_n(CB(cb), 50) == sum(range(50))
    assert seen == [(threading.get_ident(), "set before the call")] * 50


def test_callback_from_a_call_that_keeps_the_gil(lib):
    call_once = ct.CDLL(lib._name).call_once
    call_once.argtypes, call_once.restype = (CB, ct.c_int), ct.c_int
    call_once.release_gil = False
    assert call_once(CB(lambda v: v * 3), 14) == 42


@pytest.mark.parametrize("inner_releases", [True, False])
def test_nested_callbacks(lib, inner_releases):
    inner_call = ct.CDLL(lib._name).call_once
    inner_call.argtypes, inner_call.restype = (CB, ct.c_int), ct.c_int
    inner_call.release_gil = inner_releases
    events = []

    def inner(v):
        events.append(("inner", v))
        return v + 1

    inner_cb = CB(inner)

    def outer(i):
        events.append(("outer", i))
        # A call from inside a callback: with the GIL released, the inner callback takes
        # it back itself; without, it finds it held by this thread.
        return inner_call(inner_cb, i * 10)

    assert lib.call_n(CB(outer), 3) == 1 + 11 + 21
    assert events == [("outer", 0), ("inner", 0), ("outer", 1), ("inner", 10), ("outer", 2), ("inner", 20)]


def test_exception_in_nested_callback_is_unraisable_and_the_loop_goes_on(lib, monkeypatch):
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)

    def cb(i):
        if i == 2:
            raise ValueError("two")
        return 1

    # The failing call returns a zeroed result; the others still run.
    assert lib.call_n(CB(cb), 5) == 4
    assert len(reports) == 1
    assert isinstance(reports[0].exc_value, ValueError)


def test_no_reference_is_left_pending_between_callbacks(lib):
    # The callable's reference count inside the callback must be the same on every call:
    # a reference taken per callback and released only later (deferred) would grow it.
    class Counter:
        def __init__(self):
            self.counts = []

        def __call__(self, i):
            self.counts.append(sys.getrefcount(self))
            return 0

    counter = Counter()
    lib.call_n(CB(counter), 200)
    assert len(counter.counts) == 200
    assert len(set(counter.counts)) == 1


def test_callbacks_with_instance_arguments_release_them(lib):
    # Each decoded argument object is released after its call: one kept alive by the
    # argument vector would be seen again (same id, higher count) or accumulate.
    PTR_CB = ct.CFUNCTYPE(ct.c_int, ct.POINTER(ct.c_int))
    caller = ct.CDLL(lib._name).call_n
    caller.argtypes, caller.restype = (PTR_CB, ct.c_int), ct.c_int
    counts = []

    def cb(p):
        counts.append(sys.getrefcount(p))
        return 0

    # call_n passes its int as the pointer's bits (never dereferenced here).
    caller(PTR_CB(cb), 100)
    assert len(counts) == 100
    assert len(set(counts)) == 1


ENSURE_C = r"""
#include <dlfcn.h>
typedef int (*cb_t)(int);
typedef int (*ensure_t)(void);
typedef void (*release_t)(int);
/* Python-aware C code: takes the GIL itself before it calls back. */
int call_holding_gil(cb_t cb, int v) {
    ensure_t ensure = (ensure_t)dlsym(RTLD_DEFAULT, "PyGILState_Ensure");
    release_t release = (release_t)dlsym(RTLD_DEFAULT, "PyGILState_Release");
    if (!ensure || !release) return -1;
    int state = ensure();
    int r = cb(v);
    release(state);
    return r;
}
"""

ENSURE_SCRIPT = r"""
import sys, threading
import ferrotypes as ct
CB = ct.CFUNCTYPE(ct.c_int, ct.c_int)
f = ct.CDLL(sys.argv[1]).call_holding_gil
f.argtypes, f.restype = (CB, ct.c_int), ct.c_int
assert f.release_gil is True
local = threading.local()
local.tag = "main"
seen = []
def cb(v):
    seen.append(local.tag)
    return v * 2
cb_obj = CB(cb)
for i in range(200):
    assert f(cb_obj, i) == 2 * i
assert seen == ["main"] * 200, seen[:3]
print("ok")
"""


def test_callback_when_c_code_took_the_gil_itself(tmp_path):
    # The call released the GIL (its thread state is stashed for callbacks), but the C
    # function took the GIL back with PyGILState_Ensure before calling back: the callback
    # must see it held and run as it is. Taking it again would deadlock, hence the
    # subprocess and its timeout.
    import subprocess

    (tmp_path / "ensure.c").write_text(ENSURE_C)
    so = compile_shared(tmp_path / "ensure.c", tmp_path / "libensure.so", "-O1", "-ldl")
    done = subprocess.run([sys.executable, "-c", ENSURE_SCRIPT, str(so)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_callbacks_on_a_c_thread_during_a_released_call(tmp_path):
    # The calling thread is inside a fast-lane call with its state stashed; callbacks from
    # a thread C started must not take that state: they run on their own.
    src = r"""
    #include <pthread.h>
    typedef int (*cb_t)(int);
    static cb_t g_cb; static int g_sum;
    static void *body(void *arg) { for (int i = 0; i < 50; i++) g_sum += g_cb(i); return 0; }
    int run_on_thread(cb_t cb) {
        pthread_t t; g_cb = cb; g_sum = 0;
        if (pthread_create(&t, 0, body, 0)) return -1;
        pthread_join(t, 0);
        return g_sum;
    }
    """
    (tmp_path / "thr.c").write_text(src)
    lib = ct.CDLL(compile_shared(tmp_path / "thr.c", tmp_path / "libthr.so", "-O1", "-pthread"))
    f = lib.run_on_thread
    f.argtypes, f.restype = (CB,), ct.c_int
    me = threading.get_ident()
    idents = set()

    def cb(i):
        idents.add(threading.get_ident())
        return i

    assert f(CB(cb)) == sum(range(50))
    assert len(idents) == 1 and me not in idents

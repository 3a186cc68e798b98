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

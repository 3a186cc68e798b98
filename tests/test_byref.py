"""``byref()`` (``crates/ferrotypes-py/src/data/carg.rs``: a raw ``METH_FASTCALL`` function,
``CArgObject``'s own ``tp_dealloc``) against the stdlib ctypes of the same interpreter:
results, offsets, each version's errors, ``_obj``, ``repr``, keep-alive, and use by both the
fast lane and the general call path."""

import ctypes
import gc
import re
import sys

import pytest

import ferrotypes
from support import require_stock

require_stock(ctypes)

MODULES = (ctypes, ferrotypes)

CALLS = [
    "byref()", "byref(x, 1, 2)", "byref(1)", "byref(None)", "byref(m.c_int)", "byref(x, 'a')",
    "byref(1, 'a')", "byref(x, 1.5)", "byref(x, offset=4)", "byref(obj=x)", "byref(x, *[], **{})",
    "byref(x)", "byref(x, 0)", "byref(x, 3)", "byref(x, -8)", "byref(x, True)",
    "byref(x, 2**70)", "byref(x, -2**70)", "byref(x, 2**63)", "byref(arr, 8)", "byref(s)",
    "byref(p)", "byref(x, Index())",
]


class Index:
    def __index__(self):
        return 12


def outcome(m, call):
    x = m.c_int(7)
    arr = (m.c_int * 4)(1, 2, 3, 4)

    class S(m.Structure):
        _fields_ = [("a", m.c_int), ("b", m.c_double)]

    s = S(1, 2.0)
    p = m.pointer(x)
    env = {"byref": m.byref, "x": x, "arr": arr, "s": s, "p": p, "m": m, "Index": Index}
    try:
        r = eval(call, env)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome
        return (type(exc).__name__, str(exc))
    referent = r._obj
    base = m.addressof(referent)
    shown = int(re.fullmatch(r"<cparam 'P' \((0x[0-9a-f]+)\)>", repr(r)).group(1), 16)
    return ("ok", type(r).__name__, [k for k, v in env.items() if v is referent], (shown - base) % 2**64)


@pytest.mark.parametrize("call", CALLS)
def test_byref_like_stock(call):
    assert outcome(ferrotypes, call) == outcome(ctypes, call)


def test_byref_function_object_like_stock():
    assert ferrotypes.byref.__doc__ == ctypes.byref.__doc__
    assert ferrotypes.byref.__text_signature__ == ctypes.byref.__text_signature__
    assert type(ferrotypes.byref).__name__ == "builtin_function_or_method"
    assert type(ferrotypes.byref(ferrotypes.c_int())).__qualname__ == type(ctypes.byref(ctypes.c_int())).__qualname__


def test_byref_keeps_its_referent_alive_and_releases_it():
    x = ferrotypes.c_int(5)
    base = sys.getrefcount(x)
    refs = [ferrotypes.byref(x) for _ in range(100)]
    assert sys.getrefcount(x) == base + 100
    del refs
    assert sys.getrefcount(x) == base
    r = ferrotypes.byref(ferrotypes.c_int(9))
    gc.collect()
    assert r._obj.value == 9
    for _ in range(1000):  # dealloc by the type's own slot: nothing accumulates
        ferrotypes.byref(x, 4)
    assert sys.getrefcount(x) == base


def test_byref_through_the_lane_and_the_general_path():
    results = {}
    for m in MODULES:
        libm = m.CDLL(None)
        frexp = libm.frexp
        frexp.argtypes = (m.c_double, m.POINTER(m.c_int))
        frexp.restype = m.c_double
        checked = m.CFUNCTYPE(m.c_double, m.c_double, m.POINTER(m.c_int))(("frexp", libm))
        checked.errcheck = lambda result, func, args: (result, args[1]._obj.value)
        e = m.c_int()
        out = []
        for _ in range(3):
            out.append((frexp(8.0, m.byref(e)), e.value))
            out.append(checked(32.0, m.byref(e)))
        # A byref of the wrong target type is refused by the general path.
        try:
            frexp(1.0, m.byref(m.c_long()))
        except Exception as exc:  # noqa: BLE001
            out.append((type(exc).__name__, str(exc)))
        # A byref of an array (refused for POINTER(c_int), as in ctypes), and with an
        # offset into a structure through an untyped call.
        arr = (m.c_int * 2)()
        try:
            frexp(64.0, m.byref(arr, m.sizeof(m.c_int)))
        except Exception as exc:  # noqa: BLE001
            out.append((type(exc).__name__, str(exc)))
        pair = (m.c_int * 2)()
        untyped = libm.frexp
        untyped.restype = m.c_double
        untyped.argtypes = None
        out.append((untyped(m.c_double(64.0), m.byref(pair, m.sizeof(m.c_int))), list(pair)))
        results[m.__name__] = out
    assert results["ferrotypes"] == results["ctypes"]


def test_byref_calls_take_the_lane():
    f = ferrotypes.CDLL(None).frexp
    f.argtypes = (ferrotypes.c_double, ferrotypes.POINTER(ferrotypes.c_int))
    f.restype = ferrotypes.c_double
    e = ferrotypes.c_int()
    f(2.0, ferrotypes.byref(e))
    before = ferrotypes._ctypes._rs.fast_lane_calls()
    for _ in range(5):
        assert f(8.0, ferrotypes.byref(e)) == 0.5 and e.value == 4
    assert ferrotypes._ctypes._rs.fast_lane_calls() - before == 5

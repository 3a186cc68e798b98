"""Callback prototypes at the edges of the direct entries (core ``direct_closure.rs``).

On x86-64 Unix, a callback whose arguments all travel in registers (up to five integers or
pointers and eight ``float``/``double``) and whose result is ``void``, an integer, a pointer
or a floating value gets a direct entry; every other prototype keeps libffi's closure. Each
prototype here is called through its C function pointer (a foreign call into the thunk, so
the C calling convention is the one exercised) with the same arguments under stock ctypes
and ferrotypes, and must give the same result and pass the same values to Python.
"""

import ctypes
import math

import pytest

import ferrotypes
from support import require_stock

require_stock(ctypes)

# Argument type names and a value of each, chosen so that a register read at the wrong
# width or from the wrong register shows in the result.
VALUES = {
    "c_byte": -100, "c_ubyte": 200, "c_short": -30000, "c_ushort": 60000, "c_int": -2_000_000_000,
    "c_uint": 4_000_000_000, "c_longlong": -(2**62) - 3, "c_ulonglong": 2**63 + 5,
    "c_bool": True, "c_char": b"x", "c_float": 1.5, "c_double": -2.25e100, "c_void_p": 0x1234_5678_9ABC,
}

SHAPES = [
    # (argument types, result type): direct entries
    ((), None),
    ((), "c_int"),
    ((), "c_double"),
    (("c_int",), "c_short"),
    (("c_byte", "c_double", "c_uint", "c_float", "c_longlong", "c_void_p"), "c_longlong"),
    (("c_double",) * 8 + ("c_int",) * 5, "c_double"),
    (("c_float", "c_float"), "c_float"),
    (("c_bool", "c_char", "c_ushort"), "c_bool"),
    (("c_ulonglong", "c_ubyte"), "c_ulonglong"),
    (("c_int", "c_short"), "c_void_p"),
    # beyond the registers: libffi's closures
    (("c_int",) * 6, "c_int"),
    (("c_double",) * 9, "c_double"),
    (("c_int",) * 5 + ("c_double",) * 9, "c_longlong"),
]


def run(m, argtypes, restype):
    """Calls a Python callback of this prototype through its C pointer: what it received,
    and what the call returned."""
    seen = []

    def body(*args):
        seen.append(args)
        if restype is None:
            return None
        numbers = [float(a) if not isinstance(a, bytes) else float(a[0]) for a in args]
        total = sum(n * (k + 1) for k, n in enumerate(numbers))
        if restype in ("c_double", "c_float"):
            return total
        if restype == "c_bool":
            return bool(total)
        if restype == "c_void_p":
            return int(abs(total)) or None
        return int(total) % 2**64

    proto = m.CFUNCTYPE(getattr(m, restype) if restype else None, *(getattr(m, t) for t in argtypes))
    callback = proto(body)
    # The thunk's C address called as a foreign function of the same prototype.
    pointer = proto(m.cast(callback, m.c_void_p).value)
    result = pointer(*(VALUES[t] for t in argtypes))
    return seen, result


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("argtypes, restype", SHAPES, ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v))
def test_callback_prototypes_match_stock(argtypes, restype):
    stock = run(ctypes, argtypes, restype)
    ours = run(ferrotypes, argtypes, restype)
    assert same(stock[0], ours[0]), (stock[0], ours[0])
    assert same(stock[1], ours[1]), (stock[1], ours[1])
    assert len(ours[0]) == 1


def test_many_live_callbacks_each_call_their_own_function():
    """More callbacks alive at once than one page of slots holds (128), each bound to its
    own Python function; freed ones are reused by later ones."""
    proto = ferrotypes.CFUNCTYPE(ferrotypes.c_int, ferrotypes.c_int)
    for _ in range(2):
        callbacks = [proto(lambda x, k=k: x * 1000 + k) for k in range(300)]
        calls = [proto(ferrotypes.cast(c, ferrotypes.c_void_p).value) for c in callbacks]
        assert [f(7) for f in calls] == [7000 + k for k in range(300)]
        del callbacks, calls

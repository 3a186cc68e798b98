"""Callbacks returning structures and unions by value, and instances of their
own simple result type: beyond CPython's ctypes, which refuses the first ("invalid result
type for callback function", open since 2009) and leaves the C result unset for the last
(gh-148596). Every value is checked by C code that receives it (tests/clib/byvalue_callbacks.c).
"""

import ferrotypes as ct
import pytest

from support import compile_shared
from pathlib import Path

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    so = tmp_path_factory.mktemp("byvalue") / "libbyvalue.so"
    return ct.CDLL(compile_shared(HERE / "clib" / "byvalue_callbacks.c", so, "-O1"))


class Small(ct.Structure):
    _fields_ = [("a", ct.c_int), ("b", ct.c_double)]


class Large(ct.Structure):
    _fields_ = [(n, ct.c_int64) for n in "abcd"]


class Floats(ct.Structure):
    _fields_ = [("x", ct.c_float), ("y", ct.c_float)]


class Nested(ct.Structure):
    _fields_ = [("c", ct.c_char), ("s", Small), ("t", ct.c_short)]


class Word(ct.Union):
    _fields_ = [("i", ct.c_int64), ("d", ct.c_double), ("b", ct.c_ubyte * 8)]


class Packed(ct.Structure):
    _pack_ = 1
    _fields_ = [("c", ct.c_char), ("i", ct.c_int32), ("s", ct.c_int16)]


class Rgb(ct.Structure):
    _fields_ = [("r", ct.c_ubyte), ("g", ct.c_ubyte), ("b", ct.c_ubyte)]


def call(lib, name, restype, proto, fn, *args):
    f = getattr(lib, name)
    f.argtypes = [proto] + [type(a) if isinstance(a, ct._SimpleCData) else ct.c_int for a in args]
    f.restype = restype
    keep = proto(fn)
    return f(keep, *args)


def test_small_structure_in_registers(lib):
    proto = ct.CFUNCTYPE(Small, ct.c_int)
    assert call(lib, "use_small", ct.c_double, proto, lambda k: Small(k * 2, 0.25), 21) == 42000.25


def test_large_structure_in_memory(lib):
    proto = ct.CFUNCTYPE(Large, ct.c_int)
    assert call(lib, "use_large", ct.c_int64, proto, lambda k: Large(k, k + 1, k + 2, -k), 3) == 3 + 40 + 500 - 3000


def test_two_floats_in_one_register(lib):
    proto = ct.CFUNCTYPE(Floats)
    assert call(lib, "use_floats", ct.c_double, proto, lambda: Floats(1.5, 0.25)) == 150.25


def test_nested_structure(lib):
    proto = ct.CFUNCTYPE(Nested)
    value = call(lib, "use_nested", ct.c_double, proto, lambda: Nested(b"\x02", Small(7, 0.5), 250))
    assert value == pytest.approx(2e6 + 7e3 + 0.5 + 0.25)


def test_union(lib):
    proto = ct.CFUNCTYPE(Word, ct.c_int64)

    def as_bytes(v):
        w = Word()
        for k in range(8):
            w.b[k] = (v >> (8 * k)) & 0xFF
        return w
    f = lib.use_word
    f.argtypes, f.restype = [proto, ct.c_int64], ct.c_int64
    keep = proto(as_bytes)
    assert f(keep, 0x0102030405060708) == 0x0102030405060708
    assert f(keep, -2) == -2


def test_packed_structure(lib):
    proto = ct.CFUNCTYPE(Packed)
    assert call(lib, "use_packed", ct.c_int64, proto, lambda: Packed(b"\x03", -12345, 777)) == 3 * 10**8 - 12345 * 10**4 + 777


def test_three_byte_structure(lib):
    proto = ct.CFUNCTYPE(Rgb)
    assert call(lib, "use_rgb", ct.c_int, proto, lambda: Rgb(0x12, 0x34, 0x56)) == 0x123456


def test_wrong_result_is_reported_and_zeroed(lib):
    proto = ct.CFUNCTYPE(Small, ct.c_int)
    seen = []
    import sys
    old, sys.unraisablehook = sys.unraisablehook, seen.append
    try:
        assert call(lib, "use_small", ct.c_double, proto, lambda k: (1, 2.0), 1) == 0.0
        assert call(lib, "use_small", ct.c_double, proto, lambda k: Large(), 1) == 0.0
    finally:
        sys.unraisablehook = old
    assert len(seen) == 2
    assert all(isinstance(s.exc_value, TypeError) and "Small" in str(s.exc_value) for s in seen)


class MyInt(ct.c_int):
    pass


class MyDouble(ct.c_double):
    pass


def test_simple_subclass_instance_gives_its_value(lib):
    # gh-148596: CPython leaves the C result unset here.
    proto = ct.CFUNCTYPE(MyInt, ct.c_int)
    assert call(lib, "use_int", ct.c_int, proto, lambda v: MyInt(v * 2), 21) == 42
    assert call(lib, "use_int", ct.c_int, proto, lambda v: v * 3, 21) == 63
    proto = ct.CFUNCTYPE(ct.c_int, ct.c_int)
    assert call(lib, "use_int", ct.c_int, proto, lambda v: ct.c_int(v + 1), 41) == 42
    dproto = ct.CFUNCTYPE(MyDouble, ct.c_double)
    f = lib.use_double
    f.argtypes, f.restype = [dproto, ct.c_double], ct.c_double
    keep = dproto(lambda v: MyDouble(v / 4))
    assert f(keep, 3.0) == 0.75


def test_arrays_and_pointers_are_still_refused():
    # Pointer result types stay refused: every CPython version's own suite requires it.
    for restype in (ct.c_int * 3, ct.POINTER(ct.c_double)):
        with pytest.raises(TypeError, match="invalid result type for callback function"):
            ct.CFUNCTYPE(restype)(lambda: None)

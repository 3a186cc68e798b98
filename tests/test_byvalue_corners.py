"""The by-value corners of x86-64 named in crates/ferrotypes-core/src/ffi_type.rs, each
checked against C compiled from tests/clib/byvalue_corners.c, as arguments, as results and
through callbacks: fixed where libffi can express what GCC does, refused with a clear error
where it cannot, never a crash or a wrong value.

* a ``_pack_ = 1`` structure with a 32-bit bit field at offset 1 (issue #16);
* a bit field of exactly 8/16/32/64 bits at a multiple of its width, which GCC makes an
  ordinary member: misaligned by an enclosing ``_pack_``, the enclosing aggregate goes in
  memory;
* an aggregate that is one ``long double`` (alone, in an array of one, in a union):
  returned in %st0 as GCC does, where libffi reads a structure from %rax:%rdx;
* a structure aligned to more than 16 bytes as an argument: refused when the prototype is
  made (libffi aligns stack arguments to 16 bytes), fine as a result.
"""

import platform
from pathlib import Path

import pytest

import ferrotypes as ct
from support import compile_shared

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                                reason="the corners are the x86-64 psABI's")


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    so = tmp_path_factory.mktemp("corners") / "libcorners.so"
    return ct.CDLL(compile_shared(HERE / "clib" / "byvalue_corners.c", so, "-O1"))


class P1(ct.Structure):
    _pack_ = 1
    _fields_ = [("c", ct.c_char), ("x", ct.c_uint32, 32)]


class Whole(ct.Structure):
    _fields_ = [("x", ct.c_uint32, 32)]


class Outer(ct.Structure):
    _pack_ = 1
    _fields_ = [("c", ct.c_byte), ("w", Whole), ("d", ct.c_byte)]


class E3(ct.Structure):
    _pack_ = 1
    _fields_ = [("s", ct.c_int16), ("c", ct.c_char)]


class Arr(ct.Structure):
    _pack_ = 1
    _fields_ = [("e", E3 * 2)]


class LD(ct.Structure):
    _fields_ = [("x", ct.c_longdouble)]


class LDA(ct.Structure):
    _fields_ = [("a", ct.c_longdouble * 1)]


class LDU(ct.Union):
    _fields_ = [("a", ct.c_longdouble), ("b", ct.c_longdouble)]


class A32(ct.Structure):
    _align_ = 32
    _fields_ = [("a", ct.c_double), ("b", ct.c_double)]


def proto(lib, name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype, f.argtypes = restype, argtypes
    return f


def test_packed_32_bit_field_at_offset_1(lib):
    assert (ct.sizeof(P1), P1.x.offset) == (5, 1) or ct.sizeof(P1) == 5
    r = proto(lib, "p1_edit", P1, P1)(P1(b"a", 0x7FFFFFFF))
    assert (r.c, r.x) == (b"b", 0xFFFFFFFF)
    seen = []

    @ct.CFUNCTYPE(P1, P1)
    def cb(p):
        seen.append((p.c, p.x))
        return P1(b"q", p.x + 1)
    assert proto(lib, "p1_use", ct.c_uint64, type(cb), ct.c_uint32)(cb, 0xABCDEF01) \
        == (ord("q") << 32) | 0xABCDEF02
    assert seen == [(b"a", 0xABCDEF01)]


def test_whole_mode_bit_field_misaligned_by_enclosing_pack(lib):
    assert Outer.w.offset == 1 and ct.sizeof(Outer) == 6
    r = proto(lib, "outer_edit", Outer, Outer)(Outer(10, Whole(0x12345678), 20))
    assert (r.c, r.w.x, r.d) == (11, 0xEDCB5678, 19)
    seen = []

    @ct.CFUNCTYPE(Outer, Outer)
    def cb(o):
        seen.append((o.c, o.w.x, o.d))
        return Outer(o.c + 5, Whole(o.w.x + 1), o.d + 5)
    assert proto(lib, "outer_use", ct.c_uint64, type(cb))(cb) == (15 << 48) | (25 << 40) | 0x12345679
    assert seen == [(10, 0x12345678, 20)]


def test_array_of_packed_elements(lib):
    assert ct.sizeof(Arr) == 6
    a = Arr()
    a.e[0].s, a.e[0].c, a.e[1].s, a.e[1].c = 1, b"x", 2, b"y"
    r = proto(lib, "arr_edit", Arr, Arr)(a)
    assert [(e.s, e.c) for e in r.e] == [(2, b"x"), (1, b"z")]

    @ct.CFUNCTYPE(Arr, Arr)
    def cb(v):
        v.e[0].s += 7
        return v
    assert proto(lib, "arr_use", ct.c_int64, type(cb))(cb) == 107 * 1000000 + 200 * 1000 + ord("b")


def test_lone_long_double_aggregates_are_returned_from_st0(lib):
    assert proto(lib, "ld_half", LD, LD)(LD(5)).x == 2.5
    assert proto(lib, "lda_neg", LDA, LDA)(LDA((ct.c_longdouble * 1)(3.25))).a[0] == -3.25
    assert proto(lib, "ldu_twice", LDU, LDU)(LDU(b=1.5)).a == 3.0
    assert proto(lib, "ld_arg", ct.c_longdouble, ct.c_int, LD, ct.c_double, LD)(
        2, LD(1.5), 0.25, LD(10)) == 13.25

    @ct.CFUNCTYPE(LD, ct.c_longdouble)
    def cb(x):
        return LD(x * 4)
    assert proto(lib, "ld_use", ct.c_longdouble, type(cb), ct.c_longdouble)(cb, 0.5) == 3.0


class LDP(ct.Structure):
    _pack_ = 2
    _fields_ = [("x", ct.c_longdouble)]


def test_packed_lone_long_double_keeps_its_stack_slot(lib):
    assert ct.alignment(LDP) == 2
    assert proto(lib, "ldp_make", LDP, ct.c_longdouble)(1.25).x == 1.25
    f = proto(lib, "ldp_sum", ct.c_longdouble, *[ct.c_long] * 7, LDP)
    assert f(1, 2, 3, 4, 5, 6, 7, LDP(0.5)) == 28.5


def test_over_aligned_argument_is_refused_result_works(lib):
    r = proto(lib, "a32_make", A32, ct.c_double, ct.c_double)(1.5, 2.5)
    assert (r.a, r.b) == (1.5, 2.5)
    message = ("item 1 in _argtypes_: A32 is aligned to 32 bytes and cannot be passed by value "
               "(libffi aligns stack arguments to 16 bytes at most); pass a pointer to it instead")
    with pytest.raises(TypeError) as info:
        lib.a32_sum.argtypes = (A32,)
    assert str(info.value) == message
    with pytest.raises(TypeError) as info:
        ct.CFUNCTYPE(ct.c_double, A32)
    assert str(info.value) == message
    # By reference it is an ordinary argument.
    lib.a32_sum.argtypes = ()
    assert ct.CFUNCTYPE(ct.c_double, ct.POINTER(A32)) is not None

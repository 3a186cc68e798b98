"""Structures and unions: field descriptors, bit fields, by-value calls, keep-alive.

The by-value cases call a tiny C library compiled with ``cc`` into ``tmp_path`` at test
time, so what libffi passes in registers or on the stack is checked against a real C
compiler's view of the same declarations.
"""

import gc
import json
import shutil
import subprocess
import sys
import weakref

import pytest

import ferrotypes as ct

C_SOURCE = r"""
#include <stdint.h>
struct point { int x, y; };
struct dpair { double a, b; };
struct mixed { char c; double d; short s; };
struct big { long a, b, c, d; };
struct arr { uint8_t data[12]; };
struct farr { float f[2]; double d; };
struct bits { unsigned a : 3; int b : 5; unsigned c : 24; };
struct nested { struct point p; double z; };

int point_sum(struct point p) { return p.x + p.y; }
struct point point_make(int x, int y) { struct point p = {x, y}; return p; }
double dpair_sum(struct dpair d) { return d.a + d.b; }
struct dpair dpair_swap(struct dpair d) { struct dpair r = {d.b, d.a}; return r; }
double mixed_sum(struct mixed m) { return m.c + m.d + m.s; }
long big_sum(struct big b) { return b.a + b.b + b.c + b.d; }
struct big big_make(long a) { struct big b = {a, a + 1, a + 2, a + 3}; return b; }
int arr_sum(struct arr a) { int s = 0; for (int i = 0; i < 12; i++) s += a.data[i]; return s; }
double farr_sum(struct farr a) { return a.f[0] + a.f[1] + a.d; }
int bits_get(struct bits *b, int which) { return which == 0 ? b->a : which == 1 ? b->b : (int)b->c; }
struct nested nested_make(int x, int y, double z) { struct nested n = {{x, y}, z}; return n; }
double nested_sum(struct nested n) { return n.p.x + n.p.y + n.z; }
union fi { float f; int i; };
union dd { double d; float f[2]; };
struct fbits { int a : 3; float f; };
int fi_get(union fi u) { return u.i; }
union fi fi_make(int i) { union fi u; u.i = i; return u; }
double dd_get(union dd u) { return u.d; }
union dd dd_make(double d) { union dd u; u.d = d; return u; }
int bits_sum(struct bits b) { return b.a + b.b + (int)b.c; }
double fbits_sum(struct fbits b) { return b.a + b.f; }
struct cf { float _Complex c; };
struct icf { int i; float _Complex c; };
struct cd { double _Complex c; };
float cf_sum(struct cf s) { return __real__ s.c + 2 * __imag__ s.c; }
float icf_sum(struct icf s) { return s.i + __real__ s.c + 2 * __imag__ s.c; }
double cd_sum(struct cd s) { return __real__ s.c + 2 * __imag__ s.c; }
struct cd cd_make(double re, double im) { struct cd s; __real__ s.c = re; __imag__ s.c = im; return s; }
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not sys.platform.startswith("linux"):
        pytest.skip("needs a C compiler on Linux")
    tmp = tmp_path_factory.mktemp("structlib")
    src = tmp / "structs.c"
    src.write_text(C_SOURCE)
    out = tmp / "libstructs.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(out), str(src)], check=True)
    return ct.CDLL(str(out))


class POINT(ct.Structure):
    _fields_ = [("x", ct.c_int), ("y", ct.c_int)]


class DPAIR(ct.Structure):
    _fields_ = [("a", ct.c_double), ("b", ct.c_double)]


class MIXED(ct.Structure):
    _fields_ = [("c", ct.c_char), ("d", ct.c_double), ("s", ct.c_short)]


class BIG(ct.Structure):
    _fields_ = [(n, ct.c_long) for n in "abcd"]


class ARR(ct.Structure):
    _fields_ = [("data", ct.c_uint8 * 12)]


class FARR(ct.Structure):
    _fields_ = [("f", ct.c_float * 2), ("d", ct.c_double)]


class BITS(ct.Structure):
    _fields_ = [("a", ct.c_uint, 3), ("b", ct.c_int, 5), ("c", ct.c_uint, 24)]


class NESTED(ct.Structure):
    _fields_ = [("p", POINT), ("z", ct.c_double)]


# --- descriptors --------------------------------------------------------------------------

def test_field_descriptor_attributes():
    f = MIXED.d
    assert type(f).__name__ == "CField"
    assert (f.offset, f.size) == (8, 8)
    assert (f.name, f.type, f.byte_offset, f.byte_size) == ("d", ct.c_double, 8, 8)
    assert not f.is_bitfield and not f.is_anonymous
    if sys.version_info >= (3, 14):  # 3.14: the public ctypes.CField, named in its repr
        assert repr(f) == "<ctypes.CField 'd' type=c_double, ofs=8, size=8>"
    else:
        assert repr(f) == "<Field type=c_double, ofs=8, size=8>"
    with pytest.raises(AttributeError):
        f.offset = 3


def test_bitfield_descriptor_and_values_match_c(lib):
    if sys.version_info >= (3, 14):
        assert repr(BITS.b) == "<ctypes.CField 'b' type=c_int, ofs=0, bit_size=5, bit_offset=3>"
    else:
        assert repr(BITS.b) == "<Field type=c_int, ofs=0:3, bits=5>"
    assert BITS.c.size == (24 << 16) | 8
    assert (BITS.c.bit_offset, BITS.c.bit_size, BITS.c.is_bitfield) == (8, 24, True)
    lib.bits_get.argtypes = (ct.POINTER(BITS), ct.c_int)
    b = BITS(5, -3, 0xABCDEF)
    assert (b.a, b.b, b.c) == (5, -3, 0xABCDEF)
    assert [lib.bits_get(ct.byref(b), i) for i in range(3)] == [5, -3, 0xABCDEF]
    b.b = 31  # out of range for 5 signed bits: wraps like C
    assert b.b == -1
    assert (b.a, b.c) == (5, 0xABCDEF)


def test_delete_field_value_is_refused():
    p = POINT(1, 2)
    with pytest.raises(TypeError, match="can't delete attribute"):
        del p.x


def test_init_positional_keyword_and_inherited():
    class P3(POINT):
        _fields_ = [("z", ct.c_int)]

    p = P3(1, 2, z=3)
    assert (p.x, p.y, p.z) == (1, 2, 3)
    with pytest.raises(TypeError, match="too many initializers"):
        P3(1, 2, 3, 4)
    with pytest.raises(TypeError, match="duplicate values for field 'x'"):
        P3(1, x=2)


def test_fields_errors():
    # 3.14's layout code asks for the member's size first.
    no_c_type = "this type has no size" if sys.version_info >= (3, 14) else "must be a C type"
    with pytest.raises(TypeError, match=no_c_type):
        type(ct.Structure)("S", (ct.Structure,), {"_fields_": [("a", int)]})
    with pytest.raises(TypeError, match="bit fields not allowed for type c_double"):
        type(ct.Structure)("S", (ct.Structure,), {"_fields_": [("a", ct.c_double, 3)]})
    with pytest.raises(ValueError, match="_pack_ must be a non-negative integer"):
        type(ct.Structure)("S", (ct.Structure,), {"_fields_": [("a", ct.c_int)], "_pack_": -1})

    class Done(ct.Structure):
        _fields_ = [("a", ct.c_int)]

    with pytest.raises(AttributeError, match="_fields_ is final"):
        Done._fields_ = [("b", ct.c_int)]


def test_layout_options():
    class Packed(ct.Structure):
        _pack_ = 1
        _fields_ = [("a", ct.c_char), ("b", ct.c_int)]

    class Aligned(ct.Structure):
        _align_ = 16
        _fields_ = [("a", ct.c_char)]

    assert (ct.sizeof(Packed), Packed.b.offset) == (5, 1)
    assert (ct.sizeof(Aligned), ct.alignment(Aligned)) == (16, 16)


def test_anonymous_promotes_fields():
    class U(ct.Union):
        _fields_ = [("i", ct.c_int), ("f", ct.c_float)]

    class S(ct.Structure):
        _anonymous_ = ["u"]
        _fields_ = [("tag", ct.c_int), ("u", U)]

    s = S()
    s.i = 7
    assert (S.i.offset, s.u.i, S.u.is_anonymous) == (4, 7, True)


def test_pep3118_format():
    assert memoryview(NESTED()).format == "T{T{<i:x:<i:y:}:p:<d:z:}"
    assert memoryview(FARR()).format == "T{(2)<f:f:<d:d:}"


# --- by value ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, restype, args, expected", [
    ("point_sum", ct.c_int, lambda: POINT(3, 4), 7),
    ("dpair_sum", ct.c_double, lambda: DPAIR(1.5, 2.25), 3.75),
    ("mixed_sum", ct.c_double, lambda: MIXED(b"\x01", 2.5, 3), 6.5),
    ("big_sum", ct.c_long, lambda: BIG(1, 2, 3, 4), 10),
    ("arr_sum", ct.c_int, lambda: ARR(tuple(range(12))), 66),
    ("farr_sum", ct.c_double, lambda: FARR((1.5, 2.5), 4.0), 8.0),
    ("nested_sum", ct.c_double, lambda: NESTED((1, 2), 0.5), 3.5),
])
def test_struct_argument_by_value(lib, name, restype, args, expected):
    fn = getattr(lib, name)
    value = args()
    fn.argtypes = (type(value),)
    fn.restype = restype
    before = bytes(value)
    assert fn(value) == expected
    assert bytes(value) == before


def test_struct_results_by_value(lib):
    lib.point_make.restype = POINT
    lib.point_make.argtypes = (ct.c_int, ct.c_int)
    p = lib.point_make(5, -6)
    assert (type(p), p.x, p.y) == (POINT, 5, -6)

    lib.dpair_swap.restype = DPAIR
    lib.dpair_swap.argtypes = (DPAIR,)
    d = lib.dpair_swap(DPAIR(1.0, 2.0))
    assert (d.a, d.b) == (2.0, 1.0)

    lib.big_make.restype = BIG
    lib.big_make.argtypes = (ct.c_long,)
    b = lib.big_make(10)
    assert (b.a, b.b, b.c, b.d) == (10, 11, 12, 13)

    lib.nested_make.restype = NESTED
    lib.nested_make.argtypes = (ct.c_int, ct.c_int, ct.c_double)
    n = lib.nested_make(1, 2, 3.0)
    assert (n.p.x, n.p.y, n.z) == (1, 2, 3.0)


class UFI(ct.Union):
    _fields_ = [("f", ct.c_float), ("i", ct.c_int)]


class UDD(ct.Union):
    _fields_ = [("d", ct.c_double), ("f", ct.c_float * 2)]


class FBITS(ct.Structure):
    _fields_ = [("a", ct.c_int, 3), ("f", ct.c_float)]


def test_unions_and_bit_fields_by_value(lib):
    lib.fi_get.argtypes, lib.fi_get.restype = (UFI,), ct.c_int
    lib.fi_make.argtypes, lib.fi_make.restype = (ct.c_int,), UFI
    lib.dd_get.argtypes, lib.dd_get.restype = (UDD,), ct.c_double
    lib.dd_make.argtypes, lib.dd_make.restype = (ct.c_double,), UDD
    lib.bits_sum.argtypes, lib.bits_sum.restype = (BITS,), ct.c_int
    lib.fbits_sum.argtypes, lib.fbits_sum.restype = (FBITS,), ct.c_double
    assert lib.fi_get(UFI(i=123456)) == 123456
    assert lib.fi_make(-77).i == -77
    assert lib.dd_get(UDD(2.5)) == 2.5
    assert lib.dd_make(-1.25).d == -1.25
    assert lib.bits_sum(BITS(3, -2, 1000)) == 1001
    assert lib.fbits_sum(FBITS(-3, 0.5)) == -2.5


# --- keep-alive ----------------------------------------------------------------------------

def test_nested_structure_keeps_its_container_alive():
    outer = NESTED((1, 2), 3.0)
    inner = outer.p
    assert inner._b_base_ is outer
    ref = weakref.ref(outer)
    del outer
    gc.collect()
    assert ref() is not None
    inner.x = 42
    assert ref().p.x == 42
    del inner
    gc.collect()
    assert ref() is None


def test_pointer_field_keeps_target_alive():
    class HOLDER(ct.Structure):
        _fields_ = [("p", ct.POINTER(ct.c_int))]

    target = (ct.c_int * 3)(1, 2, 3)
    h = HOLDER()
    h.p = target
    ref = weakref.ref(target)
    del target
    gc.collect()
    assert ref() is not None
    assert [h.p[i] for i in range(3)] == [1, 2, 3]


def test_structure_cycle_is_collected():
    class NODE(ct.Structure):
        pass

    NODE._fields_ = [("next", ct.POINTER(NODE))]
    a = NODE()
    a.next = ct.pointer(a)
    ref = weakref.ref(a)
    del a
    gc.collect()
    assert ref() is None


# --- agreement with the stock ctypes ---------------------------------------------------------
#
# Layouts without bit fields, PEP 3118 formats, field reprs and error messages must be what
# CPython's own ctypes produces. (Bit fields are left out on purpose: CPython 3.11 places some
# of them differently from GCC, and ferrotypes follows the compiler.)

STOCK_PROBE = r'''
import json, random
def probe(ct):
    out = []
    def rec(label, f):
        try:
            r = f()
        except Exception as e:
            r = "EXC %s: %s" % (type(e).__name__, e)
        out.append([label, repr(r)])

    def desc(cls):
        res = [ct.sizeof(cls), ct.alignment(cls)]
        for f in cls._fields_:
            d = getattr(cls, f[0])
            res.append((f[0], d.offset, d.size, repr(d)))
        res.append(memoryview(cls()).format)
        return res

    scalars = [ct.c_byte, ct.c_ubyte, ct.c_short, ct.c_ushort, ct.c_int, ct.c_uint, ct.c_long,
               ct.c_ulong, ct.c_longlong, ct.c_ulonglong, ct.c_char, ct.c_double,
               ct.c_float, ct.c_int * 3, ct.c_char * 5, ct.c_short * 2 * 3]
    rng = random.Random(1234)
    for n in range(200):
        fields = [("f%d" % i, rng.choice(scalars)) for i in range(rng.randint(0, 6))]
        ns = {"_fields_": fields}
        pack = rng.choice([None, None, 1, 2, 4, 8])
        if pack:
            ns["_pack_"] = pack
        base = rng.choice([ct.Structure, ct.Union, ct.BigEndianStructure])
        rec("layout %d" % n, lambda: desc(type(base)("S", (base,), dict(ns))))

    meta = type(ct.Structure)
    for label, ns in [
        ("notseq", {"_fields_": 42}),
        ("short", {"_fields_": [("a",)]}),
        ("list-entry", {"_fields_": [["a", ct.c_int]]}),
        ("bytes-name", {"_fields_": [(b"a", ct.c_int)]}),
        ("not-ctype", {"_fields_": [("a", 42)]}),
        ("bits0", {"_fields_": [("a", ct.c_int, 0)]}),
        ("bits33", {"_fields_": [("a", ct.c_int, 33)]}),
        ("bits-str", {"_fields_": [("a", ct.c_int, "x")]}),
        ("bits-float", {"_fields_": [("a", ct.c_float, 3)]}),
        ("pack-neg", {"_fields_": [("a", ct.c_int)], "_pack_": -1}),
        ("pack-str", {"_fields_": [("a", ct.c_int)], "_pack_": "x"}),
        ("pack0", {"_fields_": [("a", ct.c_char), ("b", ct.c_double)], "_pack_": 0}),
        ("anon-scalar", {"_fields_": [("a", ct.c_int)], "_anonymous_": ["a"]}),
        ("anon-missing", {"_fields_": [("a", ct.c_int)], "_anonymous_": ["b"]}),
        ("anon-nonseq", {"_fields_": [], "_anonymous_": 42}),
    ]:
        rec("error " + label, lambda ns=ns: desc(meta("E", (ct.Structure,), ns)))

    class P(ct.Structure):
        _fields_ = [("x", ct.c_int), ("y", ct.c_int)]

    class Q(ct.Structure):
        _fields_ = [("p", P), ("s", ct.c_char_p), ("a", ct.c_char * 4), ("w", ct.c_wchar * 3)]

    def objects():
        q = Q()
        q.p = P(1, 2)
        q.s = b"hello"
        q.a = b"ab"
        q.w = "xy"
        return q._objects

    rec("duplicate", lambda: P(1, x=2))
    rec("too many", lambda: P(1, 2, 3))
    rec("wrong value", lambda: P("a"))
    rec("float", lambda: setattr(P(), "x", 1.5))
    rec("delete", lambda: P.__dict__["x"].__delete__(P()))
    rec("objects", objects)
    rec("bytes too long", lambda: setattr(Q(), "a", b"abcdef"))
    rec("str for bytes", lambda: setattr(Q(), "a", "ab"))
    rec("str too long", lambda: setattr(Q(), "w", "abcd"))
    rec("nested", lambda: (lambda q: (q.p._b_base_ is q, q.p._b_needsfree_, bytes(q.p)))(Q(P(3, 4))))
    rec("nested init", lambda: Q((1, 2), b"s", b"abcd", "xyz").p.y)
    rec("nested init error", lambda: Q((1, 2, 3)))
    # Last: like CPython, the refused assignment still replaces the class's `_fields_` (up to
    # 3.13; from 3.14 it is refused before anything changes).
    rec("final", lambda: setattr(P, "_fields_", []))
    rec("after final", lambda: (P._fields_, bytes(P(1, 2))))
    return out
'''


def test_agrees_with_stock_ctypes():
    script = STOCK_PROBE + "\nimport ctypes\nprint(json.dumps(probe(ctypes)))\n"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    stock = json.loads(proc.stdout)
    # Run as the stock probe runs (in __main__), so that its classes are named alike.
    namespace = {"__name__": "__main__"}
    exec(STOCK_PROBE, namespace)
    ours = namespace["probe"](ct)
    mismatches = [(label, want, got.replace("ferrotypes.", "ctypes."))
                  for (label, want), (_, got) in zip(stock, ours)
                  if want != got.replace("ferrotypes.", "ctypes.")]
    assert len(stock) == len(ours)
    assert mismatches == []


def test_bit_field_beyond_2_to_the_61st_byte_is_laid_out():
    # Found by fuzz/fuzz_targets/classify.rs: the by-value descriptor counted the bit
    # field's bits from byte 2**62 and overflowed (a PanicException). Stock ctypes lays it
    # out; such an aggregate is never classified for registers.
    class Far(ct.Structure):
        _fields_ = [("a", ct.c_char * 2**62), ("b", ct.c_int, 3)]

    assert ct.sizeof(Far) == 2**62 + 4
    assert (Far.b.offset, Far.b.size) == (2**62, 3 << 16)


def test_packed_aggregate_over_16_bytes_passes_by_value():
    # Found by fuzz/fuzz_targets/classify.rs under AddressSanitizer: as a plain element list
    # libffi placed `s` at 4 instead of 3 and classified its 29 bytes as five eightbytes,
    # writing past its class array on the stack. Now MEMORY with an opaque element.
    class S29(ct.Structure):
        _fields_ = [("a", ct.c_char * 29)]

    class P(ct.Structure):
        _pack_ = 1
        _fields_ = [("c", ct.c_char), ("h", ct.c_short), ("s", S29)]

    assert (ct.sizeof(P), P.s.offset) == (32, 3)
    seen = []
    proto = ct.CFUNCTYPE(ct.c_int, ct.c_int, P, ct.c_int)
    callback = proto(lambda x, p, y: seen.append((x, p.c, p.h, p.s.a, y)) or 7)
    value = P(b"c", -2, S29(b"abcdefghijklmnopqrstuvwxyz123"))
    assert callback(5, value, 6) == 7
    assert seen == [(5, b"c", -2, b"abcdefghijklmnopqrstuvwxyz123", 6)]


def test_union_of_a_gigantic_array_is_cheap():
    # Found by fuzz/python/cdef_fuzz.py (`union { char a[1L << 40]; }`): the union's libffi
    # element list had one 8-byte integer per 8 bytes, so defining it aborted the process
    # out of memory. Stock ctypes defines it at once.
    class Huge(ct.Union):
        _fields_ = [("a", ct.c_char * 2**40), ("b", ct.c_int)]

    class Holder(ct.Structure):
        _fields_ = [("c", ct.c_char), ("u", Huge)]

    assert (ct.sizeof(Huge), ct.sizeof(Holder), Holder.u.offset) == (2**40, 2**40 + 4, 4)


def test_structures_of_complex_numbers_by_value(lib):
    # Found while extending the classify fuzzer oracle to main's complex kinds: a complex
    # member was classified INTEGER, so
    # struct { float _Complex c; } went in a general register where GCC uses an XMM one.
    if not hasattr(ct, "c_float_complex"):
        pytest.skip("ctypes has complex types from CPython 3.14 on")

    class CF(ct.Structure):
        _fields_ = [("c", ct.c_float_complex)]

    class ICF(ct.Structure):
        _fields_ = [("i", ct.c_int), ("c", ct.c_float_complex)]

    class CD(ct.Structure):
        _fields_ = [("c", ct.c_double_complex)]

    for name, cls, restype, value, expected in [
            ("cf_sum", CF, ct.c_float, CF(1.5 + 2j), 5.5),
            ("icf_sum", ICF, ct.c_float, ICF(10, 1.5 + 2j), 15.5),
            ("cd_sum", CD, ct.c_double, CD(0.25 - 4j), -7.75)]:
        f = getattr(lib, name)
        f.argtypes, f.restype = [cls], restype
        assert f(value) == expected, name
    lib.cd_make.argtypes, lib.cd_make.restype = [ct.c_double, ct.c_double], CD
    assert lib.cd_make(3.0, -1.0).c == 3 - 1j


# --- field descriptors: the raw slots and the general path agree with stdlib ctypes ---------

import ctypes as _stock

_FIELD_CASES = [
    # (type name, values to store)
    ("c_int8", [0, 1, -1, 127, 128, 300, -129, 2**70 + 5]),
    ("c_uint8", [0, 255, 256, -1]),
    ("c_int16", [0, 32767, 32768, -32769]),
    ("c_uint16", [65535, 65536, -1]),
    ("c_int", [0, 2**31 - 1, 2**31, -2**31 - 1, 2**64 + 7]),
    ("c_uint", [2**32 - 1, 2**32, -1]),
    ("c_long", [2**63 - 1, 2**63, -2**63 - 1]),
    ("c_ulonglong", [2**64 - 1, 2**64, -1]),
    ("c_double", [0.0, -1.5, 1e308, 3, -(2**60)]),
    ("c_float", [0.5, 1e40, -1e-50, 7]),
    ("c_bool", [0, 1, 2, -1, True, False]),
]


@pytest.mark.parametrize("name,values", _FIELD_CASES)
def test_scalar_field_get_set_matches_stdlib(name, values):
    def make(api):
        class S(api.Structure):
            _fields_ = [("pad", api.c_char), ("v", getattr(api, name))]
        return S()

    ours, stock = make(ct), make(_stock)
    for value in values:
        ours.v = value
        stock.v = value
        assert ours.v == stock.v, (name, value)
        assert type(ours.v) is type(stock.v)


def test_scalar_field_values_the_raw_setter_declines():
    class S(ct.Structure):
        _fields_ = [("i", ct.c_int), ("d", ct.c_double), ("b", ct.c_bool)]

    class MyInt(int):
        pass

    class Indexable:
        def __index__(self):
            return 41

    class Floaty:
        def __float__(self):
            return 2.5

    s = S()
    s.i = MyInt(7)                 # int subclass: the general path
    assert s.i == 7
    s.i = Indexable()
    assert s.i == 41
    s.d = Floaty()
    assert s.d == 2.5
    s.d = True                     # bool is not an exact int: general path, as ctypes
    assert s.d == 1.0
    s.b = "x"                      # truthy object
    assert s.b is True
    with pytest.raises(TypeError):
        s.i = "5"
    with pytest.raises(TypeError):
        s.i = 1.5
    with pytest.raises(TypeError):
        s.d = "1.0"
    with pytest.raises(OverflowError):
        s.d = 10**400              # exact int, raw setter: its error is raised
    assert s.d == 1.0              # and the member is unchanged
    with pytest.raises(TypeError):
        del s.i


def test_field_descriptor_on_foreign_objects_and_classes():
    class S(ct.Structure):
        _fields_ = [("x", ct.c_int)]

    field = S.__dict__["x"]
    assert S.x is field
    assert field.__get__(None, S) is field
    with pytest.raises(TypeError):
        field.__get__(object(), S)
    with pytest.raises(TypeError):
        field.__set__(object(), 5)
    # Another structure type's instance: any ctypes instance is accepted, as by ctypes.
    class T(ct.Structure):
        _fields_ = [("y", ct.c_int)]
    t = T(9)
    assert field.__get__(t, S) == 9


def test_field_of_swapped_and_subclassed_types_takes_the_general_path():
    class MyInt(ct.c_int):
        pass

    class B(ct.BigEndianStructure):
        _fields_ = [("x", ct.c_int)]

    class N(ct.Structure):
        _fields_ = [("m", MyInt)]

    b = B()
    b.x = 0x01020304
    assert bytes(b)[:4] == b"\x01\x02\x03\x04"
    assert b.x == 0x01020304
    n = N()
    n.m = 5
    assert isinstance(n.m, MyInt) and n.m.value == 5

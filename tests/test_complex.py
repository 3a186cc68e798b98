"""The complex types (CPython 3.14's ``c_float_complex``, ``c_double_complex``,
``c_longdouble_complex``) on every version: values, arrays, structure members, arguments and
results by value (libffi's complex support) and callbacks, each checked by C code compiled
from tests/clib/complex.c. Their ``_type_`` and buffer format are 3.15's PEP 3118 codes
(``Zf``, ``Zd``, ``Zg``), except on 3.14, which keeps its own (``F``, ``D``, ``G``)."""

import sys
from pathlib import Path

import pytest

import ferrotypes as ct
from support import compile_shared

HERE = Path(__file__).resolve().parent
KINDS = [(ct.c_float_complex, "f"), (ct.c_double_complex, "d"), (ct.c_longdouble_complex, "ld")]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    so = tmp_path_factory.mktemp("complex") / "libcomplex.so"
    return ct.CDLL(compile_shared(HERE / "clib" / "complex.c", so, "-O1"))


def test_codes_and_formats():
    codes = ("F", "D", "G") if ct.behavior() == (3, 14) else ("Zf", "Zd", "Zg")
    for (typ, _), code in zip(KINDS, codes):
        assert typ._type_ == code
        assert memoryview(typ()).format == "<" + code
    assert [ct.sizeof(t) for t, _ in KINDS] == [8, 16, 32]
    assert [ct.alignment(t) for t, _ in KINDS] == [4, 8, 16]
    # A _type_ of 3.15's spelling works on every version.
    class MyComplex(ct._SimpleCData):
        _type_ = "Zd"
    assert MyComplex(1 - 1j).value == 1 - 1j


def test_values():
    assert ct.c_double_complex(1.5 - 2j).value == 1.5 - 2j
    assert ct.c_float_complex(0.25j).value == 0.25j
    assert ct.c_longdouble_complex(3).value == 3 + 0j
    # What complex() accepts: numbers and objects with __complex__ or __float__.
    class Z:
        def __complex__(self):
            return 7 + 8j
    assert ct.c_double_complex(Z()).value == 7 + 8j
    with pytest.raises(TypeError):
        ct.c_double_complex("1+2j")
    # Memory: the real part, then the imaginary part.
    assert bytes(ct.c_float_complex(1 + 2j)) == bytes(ct.c_float(1)) + bytes(ct.c_float(2))
    v = ct.c_double_complex()
    v.value = complex(-0.0, 3)
    assert str(v.value) == "(-0+3j)"
    assert repr(ct.c_double_complex(1j)) == "c_double_complex(1j)"


def test_arrays(lib):
    lib.sum_d.argtypes = (ct.POINTER(ct.c_double_complex), ct.c_size_t)
    lib.sum_d.restype = ct.c_double_complex
    arr = (ct.c_double_complex * 4)(1, 2j, 3 + 3j, -1 - 1j)
    assert lib.sum_d(arr, 4) == 3 + 4j
    assert arr[1:3] == [2j, 3 + 3j]
    out = (ct.c_float_complex * 3)()
    lib.fill_f.argtypes = (ct.POINTER(ct.c_float_complex), ct.c_size_t)
    lib.fill_f(out, 3)
    assert list(out) == [0j, 1 + 2j, 2 + 4j]


@pytest.mark.parametrize("typ,suffix", KINDS)
def test_arguments_and_results_by_value(lib, typ, suffix):
    f = getattr(lib, "mul_" + suffix)
    f.argtypes = (typ, typ)
    f.restype = typ
    assert f(1 + 2j, 3 - 1j) == (1 + 2j) * (3 - 1j)
    assert f(typ(2j), 2j) == -4
    lib.scale_d.argtypes = (ct.c_int, ct.c_double_complex, ct.c_float, ct.c_double_complex)
    lib.scale_d.restype = ct.c_double_complex
    assert lib.scale_d(3, 1 + 1j, 0.5, 4 - 2j) == 5 + 2j


class Mixed(ct.Structure):
    _fields_ = [("tag", ct.c_char), ("f", ct.c_float_complex), ("d", ct.c_double_complex),
                ("l", ct.c_longdouble_complex)]


class OneF(ct.Structure):
    _fields_ = [("f", ct.c_float_complex)]


class OneD(ct.Structure):
    _fields_ = [("d", ct.c_double_complex)]


class IntF(ct.Structure):
    _fields_ = [("i", ct.c_int), ("f", ct.c_float_complex)]


MIXED_SUM = 7 + 1.5 * 10 - 2 * 100 - 3.25e3 + 4.5e4 + 5e5 + 6e6


def test_structure_members(lib):
    lib.mixed_sizeof.restype = ct.c_size_t
    lib.mixed_offsets.restype = ct.c_size_t
    assert ct.sizeof(Mixed) == lib.mixed_sizeof()
    assert [Mixed.f.offset, Mixed.d.offset, Mixed.l.offset] == [lib.mixed_offsets(i) for i in range(3)]
    lib.mixed_make.argtypes, lib.mixed_make.restype = (ct.c_char,), Mixed
    m = lib.mixed_make(b"x")
    assert (m.tag, m.f, m.d, m.l) == (b"x", 1.5 - 2j, -3.25 + 4.5j, 5 + 6j)
    lib.mixed_check.argtypes, lib.mixed_check.restype = (Mixed,), ct.c_double
    assert lib.mixed_check(Mixed(b"\x07", 1.5 - 2j, -3.25 + 4.5j, 5 + 6j)) == MIXED_SUM


def test_small_structures_in_registers(lib):
    lib.onef_twice.argtypes, lib.onef_twice.restype = (OneF,), OneF
    assert lib.onef_twice(OneF(1.5 + 2j)).f == 3 + 4j
    lib.oned_conj.argtypes, lib.oned_conj.restype = (OneD,), OneD
    assert lib.oned_conj(OneD(1 + 2j)).d == 1 - 2j
    lib.intf_swap.argtypes, lib.intf_swap.restype = (IntF,), IntF
    r = lib.intf_swap(IntF(5, 1 + 2j))
    assert (r.i, r.f) == (-5, 2 + 1j)


def test_callbacks(lib):
    seen = []

    @ct.CFUNCTYPE(ct.c_double_complex, ct.c_double_complex, ct.c_int)
    def twist(z, k):
        seen.append((z, k))
        return z * 1j * k
    lib.call_d.argtypes = (type(twist), ct.c_double_complex)
    lib.call_d.restype = ct.c_double_complex
    assert lib.call_d(twist, 2 + 1j) == (2 + 1j) * 3j + 1
    assert seen == [(2 + 1j, 3)]

    proto_f = ct.CFUNCTYPE(ct.c_float_complex, ct.c_float_complex)
    lib.call_f.argtypes, lib.call_f.restype = (proto_f, ct.c_float_complex), ct.c_float_complex
    assert lib.call_f(proto_f(lambda z: z.conjugate()), 1.5 + 0.5j) == 3 - 1j

    proto_ld = ct.CFUNCTYPE(ct.c_longdouble_complex, ct.c_longdouble_complex)
    lib.call_ld.argtypes, lib.call_ld.restype = (proto_ld, ct.c_longdouble_complex), ct.c_longdouble_complex
    assert lib.call_ld(proto_ld(lambda z: z * 2), 3 - 4j) == 5 - 8j


def test_callback_with_complex_structures(lib):
    got = []

    @ct.CFUNCTYPE(Mixed, Mixed)
    def edit(m):
        got.append((m.tag, m.f, m.d, m.l))
        m.tag = b"\x07"
        return m
    lib.call_mixed.argtypes, lib.call_mixed.restype = (type(edit), ct.c_char), ct.c_double
    assert lib.call_mixed(edit, b"a") == MIXED_SUM
    assert got == [(b"a", 1.5 - 2j, -3.25 + 4.5j, 5 + 6j)]


def test_complex_in_python_callbacks_called_from_python():
    proto = ct.CFUNCTYPE(ct.c_double_complex, ct.c_float_complex, ct.c_longdouble_complex)
    assert proto(lambda a, b: a + b)(1j, 2) == 2 + 1j


def test_structure_formats_and_byte_order():
    # As 3.14/3.15's ctypes describe them (3.11 describes a structure without its padding).
    z, f, g = ("D", "F", "G") if ct.behavior() == (3, 14) else ("Zd", "Zf", "Zg")

    class S(ct.Structure):
        _fields_ = [("c", ct.c_char), ("z", ct.c_double_complex), ("a", ct.c_float_complex * 2)]
    padding = "7x" if ct.behavior() >= (3, 12) else ""
    assert memoryview(S()).format == "T{<c:c:%s<%s:z:(2)<%s:a:}" % (padding, z, f)
    assert memoryview((ct.c_longdouble_complex * 2)()).format == "<" + g

    class B(ct.BigEndianStructure):
        _fields_ = [("z", ct.c_double_complex)]
    b = B(1 + 2j)
    assert bytes(b).hex() == "3ff0000000000000" "4000000000000000" and b.z == 1 + 2j
    assert memoryview(b).format == "T{>%s:z:}" % z

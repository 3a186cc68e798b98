"""Foreign function calls, differentially against the stdlib ctypes.

Each check runs the same call through ``ctypes`` and ``ferrotypes`` and
compares the result, or the exception type and message.  The functions come
from libc, libm, the Python C API (``pythonapi``) and a small test library
built from ``tests/clib/calls.c`` with the system C compiler.

Covered: typed and untyped calls; variadic calls; every simple type as
argument and return value; ``restype`` as a type, a callable or None;
``errcheck``; ``_as_parameter_``; custom ``from_param`` converters; argument
errors; library loading and symbol lookup; errno; threads and the GIL.
"""

import ctypes
import ctypes.util
import math
import os
import re
import sys
import threading
import time

import _ctypes
import pytest

import ferrotypes
import ferrotypes._ctypes
from support import ECHO, require_stock

require_stock(ctypes)  # a differential test: the reference must be the stdlib ctypes

MODULES = (ctypes, ferrotypes)
LIBC_NAME = ctypes.util.find_library("c")
LIBM_NAME = ctypes.util.find_library("m")

# Only the identities of Python objects ("<... object at 0x7f...>") differ between the two
# runs; every other number, pointer values included, must match exactly.
# The same goes for the buffer a string parameter points to (`<cparam 'z' (0x...)>`).
_ADDRESS = re.compile(r"( at |<cparam \\?'[zZ]\\?' \()0x[0-9a-fA-F]+")


def _normalize(text):
    return _ADDRESS.sub(r"\g<1>0x?", text).replace("ferrotypes", "ctypes")


def outcome(func, *args):
    """("ok", repr of the result) or (exception type name, message), normalized."""
    try:
        result = func(*args)
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return (type(exc).__name__, _normalize(str(exc)))
    return ("ok", _normalize(repr(result)))


def stable_id(value):
    """A test id without memory addresses (ids must match across pytest-xdist workers)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(value))


def assert_same(func, message=True):
    """func(module) behaves the same under ferrotypes as under the stdlib ctypes."""
    expected = outcome(func, ctypes)
    got = outcome(func, ferrotypes)
    if not message and expected[0] != "ok":
        expected, got = expected[0], got[0]
    assert got == expected, f"ferrotypes: {got!r}\n    ctypes: {expected!r}"


_LIBS = {}


def lib(m, name):
    """One loaded library per (module, name); look functions up with lib[...] to get
    a fresh function object whose attributes no other test has set."""
    key = (m.__name__, name)
    if key not in _LIBS:
        _LIBS[key] = m.CDLL(name)
    return _LIBS[key]


def func(m, libname, symbol, argtypes=None, restype=None, keep_restype=False):
    f = lib(m, libname)[symbol]
    if argtypes is not None:
        f.argtypes = argtypes(m) if callable(argtypes) else argtypes
    if not keep_restype:
        f.restype = restype(m) if callable(restype) else (restype or m.c_int)
    return f


def libc(m, symbol, argtypes=None, restype=None):
    return func(m, LIBC_NAME, symbol, argtypes, restype)


def libm(m, symbol, argtypes=None, restype=None):
    return func(m, LIBM_NAME, symbol, argtypes, restype)


# ---------------------------------------------------------------------------
# The test library




# ---------------------------------------------------------------------------
# libc / libm, typed


@pytest.mark.parametrize("value", [0, 5, -5, 2**31 - 1, -2**31 + 1, -2**31, 2**31, 2**32 + 3,
                                   -2**40, 2**70, True, 1.5, "3", None, b"x"])
def test_abs_typed(value):
    assert_same(lambda m: libc(m, "abs", lambda m: [m.c_int])(value))


@pytest.mark.parametrize("value", [0, 5, -5, -2**62, 2**63 - 1, -2**63 + 1, 2**64 - 7, 2**70,
                                   1.5, None])
def test_labs_llabs_typed(value):
    assert_same(lambda m: libc(m, "labs", lambda m: [m.c_long], lambda m: m.c_long)(value))
    assert_same(lambda m: libc(m, "llabs", lambda m: [m.c_longlong],
                               lambda m: m.c_longlong)(value))


def test_abs_values_stated():
    for m in MODULES:
        assert libc(m, "abs", lambda m: [m.c_int])(-7) == 7
        assert libc(m, "labs", lambda m: [m.c_long], lambda m: m.c_long)(-2**62) == 2**62
        assert libc(m, "llabs", lambda m: [m.c_longlong], lambda m: m.c_longlong)(-2**62) == 2**62


@pytest.mark.parametrize("value", [b"", b"hello", b"a\0b", b"\xff" * 100])
def test_strlen(value):
    assert_same(lambda m: libc(m, "strlen", lambda m: [m.c_char_p], lambda m: m.c_size_t)(value))
    assert_same(lambda m: libc(m, "strlen", None, lambda m: m.c_size_t)(value))


@pytest.mark.parametrize("value", ["hello", 5.0, bytearray(b"abc"), ["x"]])
def test_strlen_rejects(value):
    assert_same(lambda m: libc(m, "strlen", lambda m: [m.c_char_p], lambda m: m.c_size_t)(value))


@pytest.mark.parametrize("char", [ord("l"), ord("h"), ord("z"), 0])
def test_strchr_returns_char_p(char):
    assert_same(lambda m: libc(m, "strchr", None, lambda m: m.c_char_p)(b"hello", char))
    assert_same(lambda m: libc(m, "strchr", lambda m: [m.c_char_p, m.c_int],
                               lambda m: m.c_char_p)(b"hello", char))


def test_strchr_stated():
    for m in MODULES:
        f = libc(m, "strchr", lambda m: [m.c_char_p, m.c_int], lambda m: m.c_char_p)
        assert f(b"hello", ord("l")) == b"llo"
        assert f(b"hello", ord("z")) is None


@pytest.mark.parametrize("args", [(3, 4), (3.0, 4.0), (1e308, 1e308), (math.inf, math.nan),
                                  (-0.0, 0.0), (True, 2**53 + 1), ("3", 4), (3,), (1, 2, 3),
                                  (None, 1), (2**1024, 1)])
def test_hypot_typed(args):
    assert_same(lambda m: libm(m, "hypot", lambda m: [m.c_double, m.c_double],
                               lambda m: m.c_double)(*args))


def test_libm_stated():
    for m in MODULES:
        hypot = libm(m, "hypot", lambda m: [m.c_double, m.c_double], lambda m: m.c_double)
        assert hypot(3, 4) == 5.0
        power = libm(m, "pow", lambda m: [m.c_double, m.c_double], lambda m: m.c_double)
        assert power(2, 0.5) == math.sqrt(2)
        assert power(2, 10) == 1024.0
        sqrt = libm(m, "sqrt", lambda m: [m.c_double], lambda m: m.c_double)
        assert sqrt(2) == math.sqrt(2)
        assert math.isnan(sqrt(-1))
        sqrtf = libm(m, "sqrtf", lambda m: [m.c_float], lambda m: m.c_float)
        assert sqrtf(2) == ctypes.c_float(math.sqrt(2)).value
        sqrtl = libm(m, "sqrtl", lambda m: [m.c_longdouble], lambda m: m.c_longdouble)
        assert sqrtl(4) == 2.0


@pytest.mark.parametrize("args", [(2, 0.5), (-8, 1 / 3), (0, -1), (10, 400), (1.5, 2)])
def test_pow_typed(args):
    assert_same(lambda m: libm(m, "pow", lambda m: [m.c_double, m.c_double],
                               lambda m: m.c_double)(*args))


@pytest.mark.parametrize("restype", ["c_float", "c_double", "c_longdouble"])
def test_sqrt_float_types(restype):
    name = {"c_float": "sqrtf", "c_longdouble": "sqrtl"}.get(restype, "sqrt")
    assert_same(lambda m: libm(m, name, lambda m: [getattr(m, restype)],
                               lambda m: getattr(m, restype))(2))


def test_frexp_out_parameter():
    def probe(m):
        exponent = m.c_int()
        f = libm(m, "frexp", lambda m: [m.c_double, m.POINTER(m.c_int)], lambda m: m.c_double)
        return (f(8.0, m.byref(exponent)), exponent.value)
    assert_same(probe)


def test_strtod_end_pointer():
    def probe(m):
        end = m.c_char_p()
        f = libc(m, "strtod", lambda m: [m.c_char_p, m.POINTER(m.c_char_p)], lambda m: m.c_double)
        return (f(b"2.5e3xyz", m.byref(end)), end.value)
    assert_same(probe)


def test_buffers_as_arguments():
    def probe(m):
        buf = m.create_string_buffer(8)
        copied = libc(m, "strcpy", None, lambda m: m.c_char_p)(buf, b"hi")
        wide = m.create_unicode_buffer(8)
        wcopied = libc(m, "wcscpy", None, lambda m: m.c_wchar_p)(wide, "h\xe9")
        address = libc(m, "strcpy", None, lambda m: m.c_void_p)(buf, b"yo")
        return (copied, buf.raw, wcopied, wide.value, address == m.addressof(buf))
    assert_same(probe)


# ---------------------------------------------------------------------------
# libc, untyped


@pytest.mark.parametrize("value", [0, -5, 2**31, 2**32 - 1, 2**40, -2**63, 2**64 - 1, 2**64,
                                   -2**63 - 1, True, False, 1.5, object(), [1], bytearray(b"x"),
                                   memoryview(b"x")], ids=stable_id)
def test_abs_untyped(value):
    assert_same(lambda m: libc(m, "abs")(value))


@pytest.mark.parametrize("value", [None, 0, -9, 2**62])
def test_labs_untyped(value):
    # None is passed as a NULL pointer; ints as C int.
    assert_same(lambda m: libc(m, "labs", None, lambda m: m.c_long)(value))


def test_untyped_strings():
    def probe(m):
        return (libc(m, "strlen")(b"hello"), libc(m, "wcslen")("h\xe9llo"),
                libc(m, "strcmp")(b"a", b"b") < 0, libc(m, "wcscmp")("same", "same"),
                libc(m, "atoi")(b"  -42x"), libc(m, "memcmp")(b"ab\0c", b"ab\0d", 4) < 0,
                libc(m, "strlen")("x"))  # a str is passed as wchar_t*: b"x\0\0\0"
    assert_same(probe)


@pytest.mark.parametrize("text", ["a\0b", "\0", "\ud800", "x\udfffy"], ids=stable_id)
def test_untyped_str_conversion_errors(text):
    # Untyped, a str goes through PyUnicode_AsWideCharString: an embedded NUL is
    # refused (ValueError), a lone surrogate is kept (wchar_t is UTF-32).
    assert_same(lambda m: libc(m, "wcslen", None, lambda m: m.c_size_t)(text))
    assert_same(lambda m: libc(m, "wcslen", lambda m: [m.c_wchar_p], lambda m: m.c_size_t)(text))


def test_untyped_simple_instances():
    def probe(m):
        return (libc(m, "abs")(m.c_int(-3)), libc(m, "abs")(m.c_byte(-3)),
                libc(m, "abs")(m.c_char(b"a")), libc(m, "abs")(m.c_bool(True)),
                libc(m, "abs")(m.c_longlong(-2**40)), libc(m, "strlen")(m.c_char_p(b"abcde")),
                libc(m, "strlen")(m.create_string_buffer(b"abc")),
                libm(m, "sqrt", None, lambda m: m.c_double)(m.c_double(2.0)),
                libm(m, "sqrtf", None, lambda m: m.c_float)(m.c_float(2.0)),
                libm(m, "sqrtl", None, lambda m: m.c_longdouble)(m.c_longdouble(2.0)))
    assert_same(probe)


def test_untyped_float_is_refused():
    assert_same(lambda m: libm(m, "hypot", None, lambda m: m.c_double)(3.0, 4.0))
    assert_same(lambda m: libc(m, "abs")(1, 2.5))


def test_untyped_getpid():
    for m in MODULES:
        assert libc(m, "getpid")() == os.getpid()


# ---------------------------------------------------------------------------
# Variadic functions


def test_snprintf_fixed_argtypes_and_varargs():
    def probe(m):
        buf = m.create_string_buffer(64)
        f = libc(m, "snprintf", lambda m: [m.c_char_p, m.c_size_t, m.c_char_p])
        n = f(buf, 64, b"%d %ld %s %.3f %.1f", 42, m.c_long(-7), b"xy", m.c_double(2.5),
              m.c_double(-0.25))
        return (n, buf.value)
    assert_same(probe)
    for m in MODULES:
        buf = m.create_string_buffer(64)
        f = libc(m, "snprintf", lambda m: [m.c_char_p, m.c_size_t, m.c_char_p])
        assert f(buf, 64, b"%d|%.2f|%s", -3, m.c_double(1.25), b"ok") == 10
        assert buf.value == b"-3|1.25|ok"


@pytest.mark.parametrize("fmt,args", [
    (b"%d", (123456,)),                 # truncated to size 4
    (b"%.1f", (1.5,)),                  # a float in the variadic part needs c_double
    (b"%s", (object(),)),
    ("%d", (1,)),                       # str for a c_char_p
    (b"%ls", ("wide",)),
    (b"%p", (None,)),
    (b"%hhd %hd %u", ("c_byte(-1)", "c_short(-2)", "c_uint(4000000000)")),
    (b"%lld %c", ("c_longlong(2**40)", ord("Z"))),
], ids=["truncated", "float", "object", "str-format", "wide", "null", "small-ints", "longlong"])
def test_snprintf_cases(fmt, args):
    def probe(m):
        buf = m.create_string_buffer(64)
        f = libc(m, "snprintf", lambda m: [m.c_char_p, m.c_size_t, m.c_char_p])
        real = [eval(a, {"m": m, **vars(m)}) if isinstance(a, str) and a.startswith("c_")
                else a for a in args]
        n = f(buf, 4 if fmt == b"%d" else 64, fmt, *real)
        return (n, buf.value)
    assert_same(probe)


def test_snprintf_too_few_fixed():
    def probe(m):
        f = libc(m, "snprintf", lambda m: [m.c_char_p, m.c_size_t, m.c_char_p])
        return f(m.create_string_buffer(4), 4)
    assert_same(probe)


def test_varargs_test_library(testlib):
    def probe(m):
        lib = m.CDLL(testlib)
        ints = lib.sum_varargs
        ints.restype = m.c_long
        ints.argtypes = [m.c_int]
        doubles = lib.sum_var_doubles
        doubles.restype = m.c_double
        doubles.argtypes = [m.c_int]
        return (ints(5, 1, 2, 3, 4, -5), ints(0), doubles(3, m.c_double(0.5), m.c_double(1.25),
                                                          m.c_double(-3)))
    assert_same(probe)
    lib = ferrotypes.CDLL(testlib)
    lib.sum_varargs.argtypes = [ferrotypes.c_int]
    assert lib.sum_varargs(3, 10, 20, 30) == 60


# ---------------------------------------------------------------------------
# Every simple type through a call (test library)


ECHO_VALUES = [0, 1, -1, 127, 255, 256, -129, 65535, 2**31, 2**32 - 1, 2**63, 2**64 - 1, 2**64,
               0.5, -2.75, 1e300, math.inf, True, None, b"", b"a", b"ab\0c", "", "a", "\u20ac",
               "xyz", bytearray(b"q"), [1]]


@pytest.mark.parametrize("raw", ECHO_VALUES, ids=stable_id)
@pytest.mark.parametrize("name", sorted(ECHO))
def test_echo_typed(testlib, name, raw):
    # A string pointer made from an int would be dereferenced: read it back as an address.
    as_address = name in ("c_char_p", "c_wchar_p") and isinstance(raw, int) and raw
    # c_void_p.from_param(str) points at a private wchar_t copy: only its presence compares.
    private_copy = name == "c_void_p" and isinstance(raw, str)

    def probe(m):
        f = m.CDLL(testlib)["echo_" + ECHO[name]]
        f.argtypes = [getattr(m, name)]
        f.restype = m.c_void_p if as_address else getattr(m, name)
        result = f(raw)
        return result is not None if private_copy else result
    assert_same(probe)


@pytest.mark.parametrize("name", sorted(ECHO))
def test_echo_instances(testlib, name):
    sample = {"c_char": b"z", "c_wchar": "\u20ac", "c_char_p": b"txt", "c_wchar_p": "txt",
              "c_void_p": 12345, "c_bool": True, "c_float": 0.1, "c_double": 0.1,
              "c_longdouble": 0.1}.get(name, -3)

    def probe(m):
        cls = getattr(m, name)
        typed = m.CDLL(testlib)["echo_" + ECHO[name]]
        typed.argtypes = [cls]
        typed.restype = cls
        untyped = m.CDLL(testlib)["echo_" + ECHO[name]]
        untyped.restype = cls
        return (typed(cls(sample)), untyped(cls(sample)))
    assert_same(probe)


@pytest.mark.parametrize("typed", [True, False], ids=["typed", "untyped"])
def test_returned_pointer_into_converted_argument(testlib, typed):
    # The wchar_t copy made for a str argument must live until the result is
    # converted: CPython keeps the converted arguments until after restype runs.
    for m in MODULES:
        f = m.CDLL(testlib)["echo_wchar_p"]
        f.restype = m.c_wchar_p
        if typed:
            f.argtypes = [m.c_wchar_p]
        wrong = [text for text in (f"s{i}" * 3 for i in range(2000)) if f(text) != text]
        assert wrong == [], (m.__name__, len(wrong), wrong[:3])
        g = lib(m, LIBC_NAME)["wcschr"]
        g.restype = m.c_wchar_p
        wrong = [i for i in range(2000) if g(f"hello world {i}", ord("w")) != f"world {i}"]
        assert wrong == [], (m.__name__, len(wrong))


def test_echo_stated(testlib):
    for m in MODULES:
        lib = m.CDLL(testlib)
        for name, value in [("c_ubyte", 255), ("c_byte", -128), ("c_ushort", 65535),
                            ("c_uint", 2**32 - 1), ("c_int64", -2**63), ("c_uint64", 2**64 - 1),
                            ("c_double", 1e-300), ("c_char", b"\xff"), ("c_wchar", "\U0001f600"),
                            ("c_char_p", b"bytes"), ("c_wchar_p", "text\u20ac"),
                            ("c_void_p", 2**64 - 1), ("c_bool", True)]:
            cls = getattr(m, name)
            code = {"c_int64": "longlong", "c_uint64": "ulonglong"}.get(name) or ECHO[name]
            f = lib["echo_" + code]
            f.argtypes = [cls]
            f.restype = cls
            assert f(value) == value, (m.__name__, name)


def test_return_narrowing(testlib):
    def probe(m):
        lib = m.CDLL(testlib)
        results = []
        for symbol, restype in [("narrow_uchar", m.c_ubyte), ("narrow_schar", m.c_byte),
                                ("narrow_short", m.c_short)]:
            f = lib[symbol]
            f.argtypes = [m.c_int]
            f.restype = restype
            results.append([f(v) for v in (0x1FF, -1, 0x12345, 0x80, 0x7FFF8000)])
        return results
    assert_same(probe)
    lib = ferrotypes.CDLL(testlib)
    f = lib.narrow_uchar
    f.restype = ferrotypes.c_ubyte
    assert f(0x1FF) == 0xFF


def test_mixed_register_assignment(testlib):
    def probe(m):
        f = m.CDLL(testlib).mixed
        f.argtypes = [m.c_byte, m.c_double, m.c_short, m.c_float, m.c_int, m.c_longdouble,
                      m.c_longlong, m.c_ubyte, m.c_double]
        f.restype = m.c_double
        return f(-1, 0.5, -300, 0.25, 70000, 1.5, 2**40, 200, -0.125)
    assert_same(probe)
    f = ferrotypes.CDLL(testlib).mixed
    f.argtypes = [ferrotypes.c_byte, ferrotypes.c_double, ferrotypes.c_short, ferrotypes.c_float,
                  ferrotypes.c_int, ferrotypes.c_longdouble, ferrotypes.c_longlong,
                  ferrotypes.c_ubyte, ferrotypes.c_double]
    f.restype = ferrotypes.c_double
    assert f(-1, 0.5, -300, 0.25, 70000, 1.5, 2**40, 200, -0.125) == \
        -1 + 0.5 - 300 + 0.25 + 70000 + 1.5 + 2**40 + 200 - 0.125


def test_stack_arguments(testlib):
    expected_ints = sum((i + 1) * v for i, v in enumerate(range(-5, 5)))
    expected_doubles = sum((i + 1) * v for i, v in enumerate([x / 4 for x in range(10)]))
    for m in MODULES:
        lib = m.CDLL(testlib)
        f = lib.sum_ints
        f.argtypes = [m.c_longlong] * 10
        f.restype = m.c_longlong
        assert f(*range(-5, 5)) == expected_ints
        g = lib.sum_doubles
        g.argtypes = [m.c_double] * 10
        g.restype = m.c_double
        assert g(*[x / 4 for x in range(10)]) == expected_doubles
        h = lib.sum_doubles
        h.restype = m.c_double
        h.argtypes = None
        assert h(*[m.c_double(x / 4) for x in range(10)]) == expected_doubles


def test_void_function(testlib):
    def probe(m):
        f = m.CDLL(testlib).nothing
        f.restype = None
        return (f(), f(1, 2, 3))
    assert_same(probe)


# ---------------------------------------------------------------------------
# restype


@pytest.mark.parametrize("restype,arg", [
    ("c_char", -65), ("c_bool", -2), ("c_ubyte", -300), ("c_short", -40000), ("c_uint", -5),
    ("c_int64", -5), ("c_void_p", 0), ("c_void_p", 5), ("c_char_p", 0), ("c_wchar_p", 0),
    ("c_wchar", 65), ("c_byte", -200), ("c_ushort", 70000),
])
def test_restype_simple(restype, arg):
    assert_same(lambda m: libc(m, "abs", None, lambda m: getattr(m, restype))(arg))


def test_restype_none():
    assert_same(lambda m: libc(m, "abs", None, lambda m: None)(-3))
    for m in MODULES:
        f = lib(m, LIBC_NAME)["abs"]
        f.restype = None
        assert f(-3) is None
        assert f.restype is None


def test_restype_callable():
    calls = []

    def convert(value):
        calls.append(value)
        return ("converted", value)

    for m in MODULES:
        f = lib(m, LIBC_NAME)["abs"]
        f.restype = convert
        assert f(-3) == ("converted", 3)
        assert f.restype is convert
    assert calls == [3, 3]
    assert_same(lambda m: libc(m, "abs", None, lambda m: lambda v: 1 / 0)(1))


def test_restype_subclass_returns_instances():
    def probe(m):
        sub = type("Sub", (m.c_int,), {})
        f = libc(m, "abs", None, lambda m: sub)
        result = f(-3)
        return (type(result).__name__, result.value, result.__ctypes_from_outparam__() is result)
    assert_same(probe)

    def probe_char_p(m):
        sub = type("Sub", (m.c_char_p,), {})
        result = libc(m, "strchr", None, lambda m: sub)(b"abc", ord("b"))
        return (type(result).__name__, result.value)
    assert_same(probe_char_p)

    def probe_void_p(m):
        sub = type("Sub", (m.c_void_p,), {})
        result = libc(m, "strchr", None, lambda m: sub)(b"abc", ord("z"))
        return (type(result).__name__, result.value)
    assert_same(probe_void_p)


def test_restype_py_object():
    def probe(m):
        f = m.pythonapi["PyLong_FromLong"]
        f.restype = m.py_object
        f.argtypes = [m.c_long]
        return (f(12345), f(-2**62))
    assert_same(probe)


def test_restype_swapped():
    assert_same(lambda m: libc(m, "abs", None, lambda m: m.c_int.__ctype_be__)(1))


@pytest.mark.parametrize("value", [5, "x", b"x", 1.5, object(), []], ids=stable_id)
def test_restype_invalid(value):
    def probe(m):
        f = lib(m, LIBC_NAME)["abs"]
        f.restype = value
    assert_same(probe)


def test_restype_delete_and_default():
    def probe(m):
        f = lib(m, LIBC_NAME)["abs"]
        default = f.restype
        f.restype = m.c_char
        del f.restype
        return (default.__name__, f.restype, f(-1))
    assert_same(probe)


# ---------------------------------------------------------------------------
# argtypes


@pytest.mark.parametrize("value", [5, [5], [None], "ii", b"ab", {"a": 1}, [ctypes.c_int]],
                         ids=stable_id)
def test_argtypes_invalid(value):
    def probe(m):
        f = lib(m, LIBC_NAME)["abs"]
        f.argtypes = value
        return f.argtypes
    assert_same(probe)


def test_argtypes_too_many():
    def probe(m):
        f = lib(m, LIBC_NAME)["abs"]
        f.argtypes = [m.c_int] * 1025
    assert_same(probe)


def test_argtypes_round_trip():
    # CPython keeps the very sequence that was assigned.
    for m in MODULES:
        f = lib(m, LIBC_NAME)["abs"]
        chosen = [m.c_int]
        f.argtypes = chosen
        assert f.argtypes is chosen, m.__name__

    def probe(m):
        f = lib(m, LIBC_NAME)["abs"]
        f.argtypes = [m.c_int]
        stored = f.argtypes
        f.argtypes = None
        cleared = f.argtypes
        f.argtypes = (m.c_int,)
        del f.argtypes
        return (type(stored).__name__, [t.__name__ for t in stored], cleared, f.argtypes, f(-1))
    assert_same(probe)


def test_argtypes_from_param_without_classmethod():
    class Plain:
        def from_param(self, value):
            return value + 1

    class Static:
        @staticmethod
        def from_param(value):
            return value + 1

    assert_same(lambda m: libc(m, "abs", lambda m: [Plain()])(-3))
    assert_same(lambda m: libc(m, "abs", lambda m: [Static])(-3))


# ---------------------------------------------------------------------------
# Argument errors


@pytest.mark.parametrize("argtypes,args", [
    ("c_int", ()), ("c_int,c_int", (1,)), ("c_int", (1, 2)),
    ("c_int", ("x",)), ("c_int", (1.5,)), ("c_int", (None,)), ("c_int", ([1],)),
    ("c_int", (2**70,)), ("c_int", (True,)), ("c_int", ("c_long(4)",)), ("c_int", ("c_short(4)",)),
    ("c_double", (None,)), ("c_double", ("3",)), ("c_double", (2**1030,)),
    ("c_double", ("c_int(4)",)), ("c_double", ("c_float(4)",)),
    ("c_char_p", (5.0,)), ("c_char_p", ("s",)), ("c_char_p", (bytearray(b"a"),)),
    ("c_char_p", ("c_void_p(0)",)), ("c_char_p", ("c_wchar_p('a')",)),
    ("c_wchar_p", (b"x",)), ("c_wchar_p", (5.0,)),
    ("c_void_p", (1.5,)), ("c_void_p", ("c_int(0)",)), ("c_void_p", (bytearray(b"a"),)),
    ("c_char", ("x",)), ("c_char", (b"xy",)), ("c_char", (300,)),
    ("c_wchar", (b"x",)), ("c_wchar", ("xy",)),
    ("c_bool", (object(),)), ("c_bool", ("x",)),
    ("py_object", (1,)),
    ("c_int,c_double,c_char_p", (1, 2.0, 3)), ("c_int,c_double,c_char_p", (1, "2", 3)),
], ids=lambda v: v if isinstance(v, str) else stable_id(v))
def test_typed_argument_errors(argtypes, args):
    def probe(m):
        types_ = [getattr(m, name) for name in argtypes.split(",")]
        real = [eval(a, vars(m)) if isinstance(a, str) and a.startswith("c_") else a
                for a in args]
        f = libc(m, "labs", lambda m: types_, lambda m: m.c_long)
        result = f(*real)
        return result if types_[0] is not m.py_object else "called"
    assert_same(probe)


def test_argument_error_text_stated():
    # Up to 3.11 a simple type's failed conversion said "wrong type"; from 3.12 the
    # conversion's own error is kept.
    if sys.version_info < (3, 12):
        wrong_str = "argument 1: TypeError: wrong type"
    else:
        wrong_str = "argument 1: TypeError: 'str' object cannot be interpreted as an integer"
    for m in MODULES:
        f = libc(m, "abs", lambda m: [m.c_int])
        with pytest.raises(m.ArgumentError) as info:
            f("x")
        assert str(info.value) == wrong_str
        with pytest.raises(TypeError) as info:
            f()
        assert str(info.value) == "this function takes at least 1 argument (0 given)"
        with pytest.raises(m.ArgumentError) as info:
            libc(m, "abs")(1, 2.5)
        assert str(info.value) == "argument 2: TypeError: Don't know how to convert parameter 2"


def test_too_many_untyped_arguments():
    assert_same(lambda m: libc(m, "abs")(*range(1025)))
    assert_same(lambda m: libc(m, "abs")(*range(1024)) is not None)


def test_argument_error_class():
    for m in MODULES:
        assert issubclass(m.ArgumentError, Exception)
        try:
            libc(m, "abs")(object())
        except m.ArgumentError as exc:
            assert exc.args == ("argument 1: TypeError: Don't know how to convert parameter 1",)
        else:
            pytest.fail("no ArgumentError")


# ---------------------------------------------------------------------------
# _as_parameter_


class AsParameter:
    def __init__(self, value):
        self._as_parameter_ = value


class RaisingParameter:
    @property
    def _as_parameter_(self):
        raise ValueError("inner")


@pytest.mark.parametrize("make", [
    lambda m: AsParameter(-9), lambda m: AsParameter(AsParameter(-4)),
    lambda m: AsParameter(m.c_int(-6)), lambda m: AsParameter(object()),
    lambda m: AsParameter(5.5), lambda m: RaisingParameter(),
    lambda m: AsParameter(m.c_int.from_param(-8)),
], ids=["int", "nested", "c_int", "object", "float", "raising", "carg"])
def test_as_parameter_untyped_and_typed(make):
    assert_same(lambda m: libc(m, "abs")(make(m)))
    assert_same(lambda m: libc(m, "abs", lambda m: [m.c_int])(make(m)))


def test_as_parameter_with_strings_and_none():
    assert_same(lambda m: libc(m, "strlen")(AsParameter(b"abc")))
    assert_same(lambda m: libc(m, "strlen", lambda m: [m.c_char_p])(AsParameter(b"abc")))
    assert_same(lambda m: libc(m, "labs", None, lambda m: m.c_long)(AsParameter(None)))
    assert_same(lambda m: libm(m, "sqrt", lambda m: [m.c_double], lambda m: m.c_double)(
        AsParameter(5.5)))
    assert_same(lambda m: libm(m, "sqrt", None, lambda m: m.c_double)(AsParameter(m.c_double(16))))


# ---------------------------------------------------------------------------
# Custom from_param converters


def _converter(body):
    return type("Converter", (), {"from_param": classmethod(body)})


@pytest.mark.parametrize("body", [
    lambda cls, v: v * 2,
    lambda cls, v: 1 / 0,
    lambda cls, v: object(),
    lambda cls, v: 1.5,
    lambda cls, v: None,
    lambda cls, v: AsParameter(-11),
], ids=["int", "raises", "object", "float", "none", "as-parameter"])
def test_from_param_converter(body):
    assert_same(lambda m: libc(m, "labs", lambda m: [_converter(body)], lambda m: m.c_long)(-3))


OTHER = {ctypes: ferrotypes, ferrotypes: ctypes}


def test_foreign_module_instances_are_not_converted():
    # A c_int of the other ctypes implementation is just an unknown object.
    assert_same(lambda m: libc(m, "abs", lambda m: [
        _converter(lambda cls, v: OTHER[m].c_int(v))])(-3))
    assert_same(lambda m: libc(m, "abs")(OTHER[m].c_int(-3)))
    assert_same(lambda m: libc(m, "abs", lambda m: [m.c_int])(OTHER[m].c_int(-3)))


def test_from_param_converter_module_types():
    assert_same(lambda m: libc(m, "abs", lambda m: [_converter(lambda cls, v: m.c_int(v))])(-3))
    assert_same(lambda m: libc(m, "abs", lambda m: [
        _converter(lambda cls, v: m.c_int.from_param(v))])(-3))
    assert_same(lambda m: libc(m, "strlen", lambda m: [
        _converter(lambda cls, v: b"xyz")])(0))


def test_from_param_converter_sees_the_argument():
    seen = []

    def body(cls, value):
        seen.append(value)
        return value

    marker = -12
    for m in MODULES:
        f = libc(m, "abs", lambda m: [_converter(body)])
        assert f(marker) == 12
    assert seen == [marker, marker]


# ---------------------------------------------------------------------------
# errcheck


def test_errcheck_receives_result_function_arguments():
    for m in MODULES:
        received = []

        def check(result, function, arguments):
            received.append((result, function, arguments))
            return "checked"

        f = libc(m, "abs", lambda m: [m.c_int])
        f.errcheck = check
        marker = m.c_int(-7)
        assert f(marker) == "checked"
        assert f(-3) == "checked"
        (r1, f1, a1), (r2, f2, a2) = received
        assert (r1, r2) == (7, 3)
        assert f1 is f and f2 is f
        assert a1 == (marker,) and a1[0] is marker
        assert a2 == (-3,)
        assert f.errcheck is check


def test_errcheck_untyped_arguments():
    assert_same(lambda m: _with_errcheck(libc(m, "abs"), lambda r, f, a: (r, a))(-3, 4, b"x"))


def _with_errcheck(f, check):
    f.errcheck = check
    return f


def test_errcheck_returning_arguments_gives_result():
    # CPython: when errcheck returns the very tuple it was given, the call
    # returns the normal result instead.
    assert_same(lambda m: _with_errcheck(libc(m, "abs"), lambda r, f, a: a)(-3))
    assert_same(lambda m: _with_errcheck(libc(m, "abs", lambda m: [m.c_int]),
                                         lambda r, f, a: a)(-3))
    assert_same(lambda m: _with_errcheck(libc(m, "abs"), lambda r, f, a: tuple(a))(-3))


def test_errcheck_sees_restype_conversion():
    def probe(m):
        f = libc(m, "strchr", None, lambda m: m.c_char_p)
        f.errcheck = lambda r, fn, a: (type(r).__name__, r)
        g = libc(m, "abs", None, lambda m: type("Sub", (m.c_int,), {}))
        g.errcheck = lambda r, fn, a: (type(r).__name__, r.value)
        h = libc(m, "abs", None, lambda m: None)
        h.errcheck = lambda r, fn, a: r
        return (f(b"abc", ord("c")), g(-4), h(-1))
    assert_same(probe)


def test_errcheck_raising_propagates():
    assert_same(lambda m: _with_errcheck(libc(m, "abs"), lambda r, f, a: 1 / 0)(1))


@pytest.mark.parametrize("value", [5, None, "x"], ids=stable_id)
def test_errcheck_must_be_callable(value):
    def probe(m):
        f = libc(m, "abs")
        f.errcheck = value
        return f.errcheck
    assert_same(probe)


def test_errcheck_delete():
    def probe(m):
        f = _with_errcheck(libc(m, "abs"), lambda r, fn, a: "x")
        del f.errcheck
        return (f(-2), f.errcheck)
    assert_same(probe)


# ---------------------------------------------------------------------------
# The function object


def test_function_attributes():
    def probe(m):
        f = lib(m, LIBC_NAME)["abs"]
        return (f.__name__, f.restype.__name__, f.argtypes, f.errcheck if hasattr(f, "errcheck")
                else "missing", f._flags_, type(f).__name__, type(f).__mro__[1].__name__,
                bool(f), callable(f))
    assert_same(probe)


def test_function_call_method():
    assert_same(lambda m: lib(m, LIBC_NAME)["abs"].__call__(-5))


def test_function_address():
    for m in MODULES:
        f = lib(m, LIBC_NAME)["abs"]
        address = m.cast(f, m.c_void_p).value
        assert address == ctypes.cast(lib(ctypes, LIBC_NAME)["abs"], ctypes.c_void_p).value
        proto = m.CFUNCTYPE(m.c_int, m.c_int)
        assert proto(address)(-8) == 8


def test_prototype_from_library():
    assert_same(lambda m: m.CFUNCTYPE(m.c_int, m.c_int)(("abs", lib(m, LIBC_NAME)))(-3))
    assert_same(lambda m: m.CFUNCTYPE(m.c_int, m.c_int)(("abs", lib(m, LIBC_NAME)))())
    assert_same(lambda m: m.CFUNCTYPE(m.c_int, m.c_int)(("abs", lib(m, LIBC_NAME)))("x"))
    assert_same(lambda m: m.CFUNCTYPE(m.c_int, m.c_int)(("no_such_function_xyz",
                                                          lib(m, LIBC_NAME))))
    assert_same(lambda m: m.CFUNCTYPE(m.c_double, m.c_double, m.c_double)(
        ("hypot", lib(m, LIBM_NAME)))(5, 12))


# ---------------------------------------------------------------------------
# Loading libraries and looking up symbols


def test_missing_library():
    assert_same(lambda m: m.CDLL("nonexistent_lib_xyz.so"))
    assert_same(lambda m: m.cdll.nonexistent_lib_xyz)
    assert_same(lambda m: m.cdll.LoadLibrary("/nonexistent/dir/libx.so"))
    for m in MODULES:
        with pytest.raises(OSError):
            m.CDLL("nonexistent_lib_xyz.so")


def test_bad_library_names():
    assert_same(lambda m: m.CDLL(5))
    assert_same(lambda m: m.CDLL(b"libc.so.6")._name)
    assert_same(lambda m: m.CDLL(__file__))  # not an ELF object


def test_missing_symbol():
    assert_same(lambda m: lib(m, LIBC_NAME).no_such_function_xyz)
    assert_same(lambda m: lib(m, LIBC_NAME)["no_such_function_xyz"])
    assert_same(lambda m: lib(m, LIBC_NAME).__no_such_dunder__)
    assert_same(lambda m: m.c_int.in_dll(lib(m, LIBC_NAME), "no_such_variable_xyz"))
    for m in MODULES:
        with pytest.raises(AttributeError):
            lib(m, LIBC_NAME).no_such_function_xyz


def test_attribute_lookup_is_cached_item_lookup_is_not():
    for m in MODULES:
        dll = m.CDLL(LIBC_NAME)
        assert dll.abs is dll.abs
        assert dll["abs"] is not dll["abs"]
        assert dll["abs"] is not dll.abs
        assert dll.__dict__["abs"] is dll.abs


def test_ordinal_lookup():
    assert_same(lambda m: lib(m, LIBC_NAME)[5])


def test_cdll_none_is_the_main_program():
    assert_same(lambda m: m.CDLL(None).abs(-4))
    assert_same(lambda m: (m.CDLL(None)._name, m.CDLL(None).Py_GetVersion.__name__))


def test_rtld_global_and_handles():
    assert_same(lambda m: m.CDLL(LIBC_NAME, mode=m.RTLD_GLOBAL).abs(-1))
    assert_same(lambda m: m.CDLL(LIBM_NAME, mode=m.RTLD_LOCAL).sqrt.__name__)
    for m in MODULES:
        first = m.CDLL(LIBM_NAME)
        assert type(first._handle) is int and first._handle != 0
        assert m.CDLL(LIBM_NAME)._handle == first._handle
        assert m.CDLL(LIBM_NAME)._handle == ctypes.CDLL(LIBM_NAME)._handle
        again = m.CDLL("whatever-name", handle=first._handle)
        assert again._name == "whatever-name"
        f = again.hypot
        f.restype = m.c_double
        f.argtypes = [m.c_double, m.c_double]
        assert f(3, 4) == 5.0


def test_library_repr_and_name():
    def probe(m):
        dll = m.CDLL(LIBC_NAME)
        return (re.sub(r"handle [0-9a-f]+", "handle H", _normalize(repr(dll))), dll._name,
                type(dll).__name__, dll._func_flags_, dll._func_restype_.__name__)
    assert_same(probe)


def test_library_loader():
    def probe(m):
        loaded = m.cdll.LoadLibrary(LIBM_NAME)
        return (type(loaded).__name__, loaded._name, m.cdll.LoadLibrary is m.cdll.LoadLibrary,
                type(m.pydll.LoadLibrary(LIBM_NAME)).__name__)
    assert_same(probe)


EXTENSION = {ctypes: _ctypes, ferrotypes: ferrotypes._ctypes}


def test_dlopen_dlsym_helpers():
    def probe(m):
        handle = EXTENSION[m].dlopen(LIBM_NAME)
        address = EXTENSION[m].dlsym(handle, "hypot")
        return (handle == _ctypes.dlopen(LIBM_NAME), address == _ctypes.dlsym(handle, "hypot"))
    assert_same(probe)
    assert_same(lambda m: EXTENSION[m].dlsym(EXTENSION[m].dlopen(LIBM_NAME), "no_such_symbol_xyz"))
    assert_same(lambda m: EXTENSION[m].dlopen("nonexistent_lib_xyz.so"))


# ---------------------------------------------------------------------------
# pythonapi


def test_pythonapi_long_from_long():
    for m in MODULES:
        f = m.pythonapi.PyLong_FromLong
        f.restype = m.py_object
        f.argtypes = [m.c_long]
        assert f(12345) == 12345
        assert f(-2**62) == -2**62


def test_pythonapi_refcounts():
    for m in MODULES:
        incref = m.pythonapi.Py_IncRef
        incref.argtypes = [m.py_object]
        incref.restype = None
        decref = m.pythonapi.Py_DecRef
        decref.argtypes = [m.py_object]
        decref.restype = None
        obj = object()
        before = sys.getrefcount(obj)
        incref(obj)
        assert sys.getrefcount(obj) == before + 1
        decref(obj)
        assert sys.getrefcount(obj) == before


@pytest.mark.parametrize("case", [
    "PyErr_SetString", "PyLong_FromString-bad", "PyLong_FromString-big", "PyObject_Repr",
    "PyLong_AsLong-str", "PyLong_AsLong-big", "PyLong_AsLong-ok", "PyUnicode_FromString",
    "PyUnicode_FromString-bad", "PyBytes_FromStringAndSize", "Py_GetVersion",
])
def test_pythonapi_calls(case):
    def probe(m):
        api = m.pythonapi
        if case == "PyErr_SetString":
            f = api["PyErr_SetString"]
            f.argtypes = [m.py_object, m.c_char_p]
            f.restype = None
            return f(ValueError, b"boom")
        if case.startswith("PyLong_FromString"):
            f = api["PyLong_FromString"]
            f.argtypes = [m.c_char_p, m.c_void_p, m.c_int]
            f.restype = m.py_object
            return f(b"zz" if case.endswith("bad") else b"123456789012345678901234567890", None, 10)
        if case == "PyObject_Repr":
            f = api["PyObject_Repr"]
            f.argtypes = [m.py_object]
            f.restype = m.py_object
            return (f([1, "x"]), f(m.py_object((1, 2))))
        if case.startswith("PyLong_AsLong"):
            f = api["PyLong_AsLong"]
            f.argtypes = [m.py_object]
            f.restype = m.c_long
            return f({"str": "x", "big": 2**70, "ok": -77}[case.split("-")[1]])
        if case.startswith("PyUnicode_FromString"):
            f = api["PyUnicode_FromString"]
            f.restype = m.py_object
            return f(b"\xff" if case.endswith("bad") else b"caf\xc3\xa9")
        if case == "PyBytes_FromStringAndSize":
            f = api["PyBytes_FromStringAndSize"]
            f.restype = m.py_object
            f.argtypes = [m.c_char_p, m.c_ssize_t]
            return f(b"a\0b", 3)
        f = api["Py_GetVersion"]
        f.restype = m.c_char_p
        return f() == sys.version.encode()[:len(f())]
    assert_same(probe)


def test_pydll_raises_the_error_indicator():
    # A PyDLL function that sets an exception makes the call raise it.
    def probe(m):
        f = m.PyDLL(None)["PyErr_SetString"]
        f.argtypes = [m.py_object, m.c_char_p]
        f.restype = None
        return f(KeyError, b"k")
    assert_same(probe)


# ---------------------------------------------------------------------------
# errno


def _errno_lib(m):
    return m.CDLL(LIBC_NAME, use_errno=True)


def test_use_errno_open_missing_file():
    for m in MODULES:
        f = _errno_lib(m).open
        f.argtypes = [m.c_char_p, m.c_int]
        m.set_errno(0)
        assert f(b"/nonexistent/ferrotypes/xyz", os.O_RDONLY) == -1
        assert m.get_errno() == 2  # ENOENT


def test_use_errno_strtol_overflow():
    for m in MODULES:
        f = _errno_lib(m).strtol
        f.restype = m.c_long
        f.argtypes = [m.c_char_p, m.c_void_p, m.c_int]
        m.set_errno(0)
        assert f(b"99999999999999999999999", None, 10) == 2**63 - 1
        assert m.get_errno() == 34  # ERANGE
        m.set_errno(5)
        assert f(b"12", None, 10) == 12
        assert m.get_errno() == 5  # a successful call leaves errno alone


def test_private_errno_is_swapped_in_and_out(testlib):
    for m in MODULES:
        with_errno = m.CDLL(testlib, use_errno=True)
        without = m.CDLL(testlib)
        m.set_errno(33)
        assert with_errno.read_errno() == 33       # the C code sees the private copy
        with_errno.write_errno(44)
        assert m.get_errno() == 44                  # and its change is copied back
        without.write_errno(55)
        assert m.get_errno() == 44                  # a plain CDLL leaves the copy alone
        m.set_errno(0)


def test_set_errno_returns_old_value():
    for m in MODULES:
        m.set_errno(0)
        assert m.set_errno(7) == 0
        assert m.get_errno() == 7
        assert m.set_errno(-3) == 7
        assert m.get_errno() == -3
        m.set_errno(0)


def test_set_errno_arguments():
    assert_same(lambda m: m.set_errno("x"), message=False)
    assert_same(lambda m: m.set_errno(2**40), message=False)
    assert_same(lambda m: m.get_errno(1), message=False)


def test_without_use_errno_private_copy_untouched():
    for m in MODULES:
        f = lib(m, LIBC_NAME)["open"]
        f.argtypes = [m.c_char_p, m.c_int]
        m.set_errno(0)
        assert f(b"/nonexistent/ferrotypes/xyz", os.O_RDONLY) == -1
        assert m.get_errno() == 0


def test_errno_is_per_thread():
    for m in MODULES:
        m.set_errno(11)
        seen = []
        thread = threading.Thread(target=lambda: seen.append(m.get_errno()))
        thread.start()
        thread.join()
        assert seen == [0]
        assert m.get_errno() == 11
        m.set_errno(0)


# ---------------------------------------------------------------------------
# Threads


def test_threads_hypot_exact():
    hypot = ferrotypes.CDLL(LIBM_NAME).hypot
    hypot.argtypes = [ferrotypes.c_double, ferrotypes.c_double]
    hypot.restype = ferrotypes.c_double
    errors = []

    def work(k):
        bad = [i for i in range(20000) if hypot(float(i), float(k)) != math.hypot(i, k)]
        errors.extend(bad)

    threads = [threading.Thread(target=work, args=(k,)) for k in (3, 4, 1e-3, 1e300)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_gil_released_during_call():
    usleep = ferrotypes.CDLL(LIBC_NAME).usleep
    usleep.argtypes = [ferrotypes.c_uint]
    pause = 200_000  # microseconds

    def timed(count):
        threads = [threading.Thread(target=usleep, args=(pause,)) for _ in range(count)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - start

    single = timed(1)
    parallel = timed(4)
    assert single >= pause / 1e6
    assert parallel < 3 * single, (single, parallel)


def test_pydll_holds_the_gil():
    # PyDLL functions keep the GIL: four sleeps run one after another.
    usleep = ferrotypes.PyDLL(LIBC_NAME).usleep
    usleep.argtypes = [ferrotypes.c_uint]
    threads = [threading.Thread(target=usleep, args=(100_000,)) for _ in range(4)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.perf_counter() - start >= 0.4

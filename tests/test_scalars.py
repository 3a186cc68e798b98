"""Simple (scalar) C types, differentially against the stdlib ctypes.

Every check runs the same code against ``ctypes`` and ``ferrotypes`` and
compares the outcome: the value (by ``repr``) or the exception type and
message.  Hexadecimal addresses are masked and the package name is folded
("ferrotypes" reads as "ctypes") so that only behaviour is compared.

Covered: construction from typical, boundary, overflowing, negative and
mistyped values; ``.value`` get/set; ``repr``; ``bool``; byte layout; size and
alignment; ``from_param``; byte-swapped types (``__ctype_be__`` /
``__ctype_le__``); subclasses; the buffer protocol; pickling.
"""

import ctypes
import math
import pickle
import re
import struct
import sys
from decimal import Decimal
from fractions import Fraction

import pytest

import ferrotypes

from support import require_stock
require_stock(ctypes)  # a differential test: the reference must be the stdlib ctypes

MODULES = (ctypes, ferrotypes)

SIMPLE_TYPES = [
    "c_bool", "c_byte", "c_ubyte", "c_short", "c_ushort", "c_int", "c_uint",
    "c_long", "c_ulong", "c_longlong", "c_ulonglong",
    "c_int8", "c_uint8", "c_int16", "c_uint16", "c_int32", "c_uint32", "c_int64", "c_uint64",
    "c_size_t", "c_ssize_t",
    "c_float", "c_double", "c_longdouble",
    "c_char", "c_wchar", "c_char_p", "c_wchar_p", "c_void_p", "py_object",
]
# Types that CPython gives a distinct byte-swapped twin (setfunc_swapped in cfield.c).
SWAPPABLE = ["c_short", "c_ushort", "c_int", "c_uint", "c_long", "c_ulong",
             "c_longlong", "c_ulonglong", "c_int16", "c_uint16", "c_int32", "c_uint32",
             "c_int64", "c_uint64", "c_size_t", "c_ssize_t", "c_float", "c_double"]
# Single-byte types are their own swapped twin; the rest have none.
SELF_SWAPPED = ["c_byte", "c_ubyte", "c_int8", "c_uint8"]
NOT_SWAPPABLE = ["c_bool", "c_char", "c_wchar", "c_char_p", "c_wchar_p", "c_void_p",
                 "py_object", "c_longdouble"]

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
# `c_char * 3` is cached, and (as in CPython) its __module__ is the module that made it
# first: which test module ran earlier must not show in a repr.
_INSTANCE_MODULE = re.compile(r"<[\w.]+\.(\w+) object at")


def _normalize(text):
    text = _INSTANCE_MODULE.sub(r"<\1 object at", text)
    return _ADDRESS.sub("0x?", text).replace("ferrotypes", "ctypes")


def outcome(func, *args):
    """("ok", repr of the result) or (exception type name, message), normalized."""
    try:
        result = func(*args)
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return (type(exc).__name__, _normalize(str(exc)))
    return ("ok", _normalize(repr(result)))


def assert_same(func, message=True):
    """func(module) behaves the same under ferrotypes as under the stdlib ctypes.

    With ``message=False`` only the exception type must match (for CPython's
    generic argument-parsing messages).
    """
    expected = outcome(func, ctypes)
    got = outcome(func, ferrotypes)
    if not message and expected[0] != "ok":
        expected, got = expected[0], got[0]
    assert got == expected, f"ferrotypes: {got!r}\n    ctypes: {expected!r}"


# ---------------------------------------------------------------------------
# Odd inputs


class Index:
    def __init__(self, value):
        self.value = value

    def __index__(self):
        return self.value

    def __repr__(self):
        return f"Index({self.value})"


class Float:
    def __init__(self, value):
        self.value = value

    def __float__(self):
        return self.value

    def __repr__(self):
        return f"Float({self.value})"


class IndexAndFloat(Index):
    """__index__ says 3, __float__ says 9.5: which one a converter uses shows."""

    def __float__(self):
        return 9.5


class IntOnly:
    def __int__(self):
        return 7

    def __repr__(self):
        return "IntOnly()"


class BadIndex:
    def __index__(self):
        raise ZeroDivisionError("from __index__")


class BadFloat:
    def __float__(self):
        raise ZeroDivisionError("from __float__")


class BadBool:
    def __bool__(self):
        raise ZeroDivisionError("from __bool__")


class AsParameter:
    def __init__(self, value):
        self._as_parameter_ = value

    def __repr__(self):
        return f"AsParameter({self._as_parameter_!r})"


class IntSub(int):
    pass


class FloatSub(float):
    pass


class BytesSub(bytes):
    pass


class StrSub(str):
    pass


_SENTINEL = object()

# (id, factory): each test builds the value once and hands the same object to both modules.
INPUTS = [
    ("0", lambda: 0), ("1", lambda: 1), ("-1", lambda: -1), ("42", lambda: 42),
    ("127", lambda: 127), ("128", lambda: 128), ("255", lambda: 255), ("256", lambda: 256),
    ("-128", lambda: -128), ("-129", lambda: -129),
    ("32767", lambda: 32767), ("32768", lambda: 32768), ("65535", lambda: 65535),
    ("65536", lambda: 65536), ("-32769", lambda: -32769),
    ("2**31-1", lambda: 2**31 - 1), ("2**31", lambda: 2**31), ("-2**31-1", lambda: -2**31 - 1),
    ("2**32-1", lambda: 2**32 - 1), ("2**32", lambda: 2**32),
    ("2**63-1", lambda: 2**63 - 1), ("2**63", lambda: 2**63), ("-2**63-1", lambda: -2**63 - 1),
    ("2**64-1", lambda: 2**64 - 1), ("2**64", lambda: 2**64), ("2**64+5", lambda: 2**64 + 5),
    ("2**100", lambda: 2**100), ("-2**100", lambda: -2**100), ("2**1024", lambda: 2**1024),
    ("True", lambda: True), ("False", lambda: False),
    ("0.0", lambda: 0.0), ("-0.0", lambda: -0.0), ("1.5", lambda: 1.5), ("-2.75", lambda: -2.75),
    ("0.1", lambda: 0.1), ("1e300", lambda: 1e300), ("3.4028236e38", lambda: 3.4028236e38),
    ("1e-320", lambda: 1e-320), ("inf", lambda: math.inf), ("-inf", lambda: -math.inf),
    ("nan", lambda: math.nan),
    ("b''", lambda: b""), ("b'a'", lambda: b"a"), ("b'NUL'", lambda: b"\0"),
    ("b'xff'", lambda: b"\xff"), ("b'ab'", lambda: b"ab"), ("b'aNULb'", lambda: b"a\0b"),
    ("bytearray", lambda: bytearray(b"a")), ("memoryview", lambda: memoryview(b"a")),
    ("''", lambda: ""), ("'a'", lambda: "a"), ("'NUL'", lambda: "\0"),
    ("'e-acute'", lambda: "\xe9"),
    ("'ab'", lambda: "ab"), ("'emoji'", lambda: "\U0001f600"), ("'surrogate'", lambda: "\ud800"),
    ("None", lambda: None), ("[]", lambda: []), ("[1]", lambda: [1]), ("()", lambda: ()),
    ("object", lambda: _SENTINEL), ("complex", lambda: 1 + 0j),
    ("Index(7)", lambda: Index(7)), ("Index(-1)", lambda: Index(-1)),
    ("Index(2**70)", lambda: Index(2**70)), ("Float(2.5)", lambda: Float(2.5)),
    ("IndexAndFloat", lambda: IndexAndFloat(3)), ("IntOnly", lambda: IntOnly()),
    ("BadIndex", lambda: BadIndex()), ("BadFloat", lambda: BadFloat()),
    ("BadBool", lambda: BadBool()),
    ("IntSub(66)", lambda: IntSub(66)), ("FloatSub(0.5)", lambda: FloatSub(0.5)),
    ("BytesSub", lambda: BytesSub(b"q")), ("StrSub", lambda: StrSub("q")),
    ("Decimal", lambda: Decimal("1.25")), ("Fraction", lambda: Fraction(1, 4)),
    ("AsParameter(5)", lambda: AsParameter(5)), ("AsParameter(b'x')", lambda: AsParameter(b"x")),
]
INPUT_IDS = [name for name, _ in INPUTS]
INPUT_FACTORIES = [factory for _, factory in INPUTS]


def _read(m, obj, raw):
    """The value of a simple instance, without dereferencing a made-up address.

    ``c_char_p(42).value`` would read memory at address 42, so a string
    pointer built from anything but a string is read as its address.
    """
    code = type(obj)._type_
    if code in "zZ" and not isinstance(raw, (bytes, str)):
        return ("address", m.c_void_p.from_buffer(obj).value)
    return obj.value


def _layout(m, obj):
    code = type(obj)._type_
    if code == "Z":
        return None  # points at a private wchar_t copy: the address differs
    raw = bytes(memoryview(obj))
    if code == "g":
        return raw[:10]  # x87 80-bit value; the padding is uninitialised in CPython
    return raw


# ---------------------------------------------------------------------------
# Construction, value, repr, bool, layout


def _truth(obj):
    # CPython's bool() tests every byte, and a c_longdouble's 6 padding bytes are
    # uninitialised there, so its truth value is not reproducible.
    return None if type(obj)._type_ == "g" else bool(obj)


@pytest.mark.parametrize("factory", INPUT_FACTORIES, ids=INPUT_IDS)
@pytest.mark.parametrize("name", SIMPLE_TYPES)
def test_construct_and_set_value(name, factory):
    """T(v) and T().value = v: value, repr, bool and bytes, or the same error."""
    raw = factory()

    def construct(m):
        obj = getattr(m, name)(raw)
        # c_char_p / c_wchar_p reprs show the pointer as a decimal number
        shown = None if obj._type_ in "zZ" else repr(obj)
        return (_read(m, obj, raw), shown, _truth(obj), _layout(m, obj))

    def set_value(m):
        obj = getattr(m, name)()
        obj.value = raw
        return (_read(m, obj, raw), _truth(obj), _layout(m, obj))

    assert_same(lambda m: {"construct": outcome(construct, m), "set_value": outcome(set_value, m)})


@pytest.mark.parametrize("factory", INPUT_FACTORIES, ids=INPUT_IDS)
@pytest.mark.parametrize("name", SIMPLE_TYPES)
def test_from_param(name, factory):
    raw = factory()
    assert_same(lambda m: getattr(m, name).from_param(raw))


@pytest.mark.parametrize("name", SIMPLE_TYPES)
def test_default_construction(name):
    assert_same(lambda m: (getattr(m, name)().value, repr(getattr(m, name)())
                           if getattr(m, name)._type_ not in "zZ" else None,
                           _truth(getattr(m, name)()), bytes(memoryview(getattr(m, name)()))[:10]))


@pytest.mark.parametrize("name", SIMPLE_TYPES)
def test_construction_argument_count(name):
    assert_same(lambda m: getattr(m, name)(1, 2), message=False)
    assert_same(lambda m: getattr(m, name)(value=1), message=False)


def test_wrapping_is_modular():
    # Stated outright, not only relative to stock: C integer conversion wraps.
    for m in MODULES:
        assert m.c_ubyte(256 + 7).value == 7
        assert m.c_byte(200).value == -56
        assert m.c_ushort(-1).value == 0xFFFF
        assert m.c_int(2**31).value == -2**31
        assert m.c_uint(-1).value == 2**32 - 1
        assert m.c_int(10**30).value == 1073741824  # 10**30 mod 2**32, as int32
        assert m.c_uint(-10**30).value == 3221225472
        assert m.c_uint64(-1).value == 2**64 - 1
        assert m.c_int64(2**63).value == -2**63
        assert m.c_longlong(2**100 + 5).value == 5


def test_value_types():
    for m in MODULES:
        assert type(m.c_int(5).value) is int
        assert type(m.c_bool(5).value) is bool
        assert type(m.c_double(5).value) is float
        assert type(m.c_longdouble(5).value) is float
        assert type(m.c_char(b"x").value) is bytes
        assert type(m.c_wchar("x").value) is str
        assert type(m.c_char_p(b"x").value) is bytes
        assert type(m.c_wchar_p("x").value) is str
        assert m.c_void_p(0).value is None
        assert m.c_char_p(None).value is None


def test_float_rounding():
    for m in MODULES:
        assert m.c_float(0.1).value == struct.unpack("f", struct.pack("f", 0.1))[0]
        assert m.c_float(1e300).value == math.inf
        assert m.c_double(0.1).value == 0.1
        assert m.c_longdouble(0.1).value == 0.1
        assert math.isnan(m.c_double(math.nan).value)


@pytest.mark.parametrize("text", ["\ud800", "\udfff", "a\udc80b"])
def test_wchar_keeps_lone_surrogates(text):
    # wchar_t is UTF-32 on Linux: CPython stores a lone surrogate as its code point.
    assert_same(lambda m: {
        "c_wchar_p": outcome(lambda: m.c_wchar_p(text).value),
        "from_param": outcome(lambda: repr(m.c_wchar_p.from_param(text))),
        "c_wchar": outcome(lambda: m.c_wchar(text).value),  # longer than one: length error
        "c_wchar bytes": outcome(lambda: bytes(memoryview(m.c_wchar(text)))),
        "unicode buffer": outcome(lambda: m.create_unicode_buffer(text).value),
    })


# ---------------------------------------------------------------------------
# Strings and pointers


def test_char_p_points_into_the_bytes_object():
    data = b"hello world"
    for m in MODULES:
        obj = m.c_char_p(data)
        address = m.c_void_p.from_buffer(obj).value
        assert address == id(data) + bytes.__basicsize__ - 1
        assert repr(obj) == f"c_char_p({address})"
        assert obj._objects is data


def test_wchar_p_repr_is_its_address():
    for m in MODULES:
        obj = m.c_wchar_p("hey")
        address = m.c_void_p.from_buffer(obj).value
        assert repr(obj) == f"c_wchar_p({address})"
        assert m.wstring_at(address) == "hey"


def test_string_pointers_stop_at_nul():
    assert_same(lambda m: (m.c_char_p(b"a\0b").value, m.c_wchar_p("a\0b").value))


def test_void_p_keeps_address():
    for m in MODULES:
        assert m.c_void_p(0xDEADBEEF).value == 0xDEADBEEF
        assert m.c_void_p(-1).value == 2 * sys.maxsize + 1
        assert repr(m.c_void_p(5)) == "c_void_p(5)"
        assert repr(m.c_void_p(None)) == "c_void_p(None)"


def test_py_object_holds_reference():
    payload = ["payload"]
    for m in MODULES:
        obj = m.py_object(payload)
        assert obj.value is payload
        assert repr(obj) == "py_object(['payload'])"
    assert_same(lambda m: m.py_object().value)
    assert_same(lambda m: repr(m.py_object()))


@pytest.mark.parametrize("code", ["u", "?", "O", "g"])
def test_carg_repr_for_codes_without_value(code):
    # CPython prints these as "<cparam 'X' at 0x...>".
    values = {"u": "a", "?": 1, "O": [1], "g": 1.5}
    for m in MODULES:
        simple = {"u": m.c_wchar, "?": m.c_bool, "O": m.py_object, "g": m.c_longdouble}[code]
        assert re.fullmatch(rf"<cparam '{re.escape(code)}' at 0x[0-9a-f]+>",
                            repr(simple.from_param(values[code])))


@pytest.mark.parametrize("value", [-1, 255, -128, 2**32 - 1, 2**64 - 1, 2**63])
@pytest.mark.parametrize("name", ["c_ubyte", "c_byte", "c_ushort", "c_uint", "c_ulong",
                                  "c_ulonglong", "c_size_t", "c_long", "c_int"])
def test_carg_repr_of_integers(name, value):
    # CPython prints the union member of the signed type of the same size.
    assert_same(lambda m: repr(getattr(m, name).from_param(value)))


def test_carg_repr_of_every_char():
    # CPython prints printable ASCII literally, except quote and backslash: '\xNN'.
    assert_same(lambda m: [repr(m.c_char.from_param(i)) for i in range(256)])


def test_carg_repr_null_pointer():
    # PyUnicode_FromFormat("%p") on glibc prints a NULL pointer as "0x(nil)".
    assert_same(lambda m: repr(m.c_void_p.from_param(0)))
    assert_same(lambda m: repr(m.c_void_p.from_param(2**64)))
    assert_same(lambda m: repr(m.c_char_p.from_param(0)))


def test_carg_object_type():
    assert_same(lambda m: type(m.c_int.from_param(5)).__name__)
    assert_same(lambda m: type(m.c_int.from_param(5)).__module__)
    assert_same(lambda m: m.c_int.from_param(5)._as_parameter_)


def test_carg_obj_keeps_the_argument():
    data = b"xyz"
    for m in MODULES:
        assert m.c_char_p.from_param(data)._obj is data
        assert m.c_void_p.from_param(data)._obj is data
        assert m.c_int.from_param(5)._obj is None
        payload = [1]
        assert m.py_object.from_param(payload)._obj is payload


def test_from_param_passes_instances_through():
    for m in MODULES:
        for name in SIMPLE_TYPES:
            cls = getattr(m, name)
            obj = cls()
            assert cls.from_param(obj) is obj, name


@pytest.mark.parametrize("expr", [
    lambda m: m.c_int.from_param(m.c_long(3)),
    lambda m: m.c_int.from_param(m.c_uint(3)),
    lambda m: m.c_int.from_param(m.c_char(b"a")),
    lambda m: m.c_double.from_param(m.c_float(1)),
    lambda m: m.c_char_p.from_param(m.c_char_p(b"x")),
    lambda m: m.c_char_p.from_param(m.c_void_p(1)),
    lambda m: m.c_char_p.from_param(m.c_wchar_p("x")),
    lambda m: m.c_wchar_p.from_param(m.c_char_p(b"x")),
    lambda m: m.c_void_p.from_param(m.c_char_p(b"a")),
    lambda m: m.c_void_p.from_param(m.c_wchar_p("a")),
    lambda m: m.c_void_p.from_param(m.c_int(3)),
    lambda m: m.c_void_p.from_param(m.byref(m.c_int())),
    lambda m: m.c_void_p.from_param(m.create_string_buffer(3)),
    lambda m: m.c_char_p.from_param(m.create_string_buffer(3)),
    lambda m: m.c_wchar_p.from_param(m.create_unicode_buffer(3)),
    lambda m: m.c_int.from_param(m.c_int.__ctype_be__(5)),
], ids=["int<-long", "int<-uint", "int<-char", "double<-float", "char_p<-char_p",
        "char_p<-void_p", "char_p<-wchar_p", "wchar_p<-char_p", "void_p<-char_p",
        "void_p<-wchar_p", "void_p<-int", "void_p<-byref", "void_p<-char_array",
        "char_p<-char_array", "wchar_p<-wchar_array", "int<-int_be"])
def test_from_param_with_other_instances(expr):
    assert_same(expr)


# ---------------------------------------------------------------------------
# Size, alignment, type codes, buffer protocol


@pytest.mark.parametrize("name", SIMPLE_TYPES)
def test_sizeof_alignment_type_code(name):
    assert_same(lambda m: (m.sizeof(getattr(m, name)), m.sizeof(getattr(m, name)()),
                           m.alignment(getattr(m, name)), m.alignment(getattr(m, name)()),
                           getattr(m, name)._type_))


def test_sizes_match_struct():
    for m in MODULES:
        for name, fmt in [("c_short", "h"), ("c_int", "i"), ("c_long", "l"), ("c_longlong", "q"),
                          ("c_float", "f"), ("c_double", "d"), ("c_void_p", "P"),
                          ("c_size_t", "N"), ("c_ssize_t", "n"), ("c_bool", "?")]:
            assert m.sizeof(getattr(m, name)) == struct.calcsize(fmt), name


@pytest.mark.parametrize("name", SIMPLE_TYPES)
def test_memoryview(name):
    def probe(m):
        view = memoryview(getattr(m, name)())
        return (view.format, view.itemsize, view.shape, view.ndim, view.strides,
                view.readonly, view.nbytes, view.c_contiguous)
    assert_same(probe)


def test_memoryview_of_c_int():
    for m in MODULES:
        view = memoryview(m.c_int(5))
        assert view.format == "<i"
        assert view.itemsize == 4
        assert view.shape == ()
        assert view.tobytes() == struct.pack("<i", 5)


def test_memoryview_writes_through():
    for m in MODULES:
        obj = m.c_int(5)
        memoryview(obj).cast("B")[0] = 9
        assert obj.value == 9


def test_sizeof_rejects_non_ctypes():
    assert_same(lambda m: m.sizeof(5))
    assert_same(lambda m: m.sizeof(int))
    assert_same(lambda m: m.alignment("x"))


# ---------------------------------------------------------------------------
# Byte order


@pytest.mark.parametrize("name", SWAPPABLE)
def test_swapped_twin_attributes(name):
    def probe(m):
        cls = getattr(m, name)
        be, le = cls.__ctype_be__, cls.__ctype_le__
        return (le is cls, be is not cls, be.__name__, be.__qualname__, be._type_,
                [k.__name__ for k in be.__mro__], be.__ctype_be__ is be, be.__ctype_le__ is cls,
                m.sizeof(be), m.alignment(be), type(be).__name__)
    assert_same(probe)


@pytest.mark.parametrize("name", SELF_SWAPPED)
def test_single_byte_types_are_their_own_twin(name):
    assert_same(lambda m: (getattr(m, name).__ctype_be__ is getattr(m, name),
                           getattr(m, name).__ctype_le__ is getattr(m, name)))


@pytest.mark.parametrize("name", NOT_SWAPPABLE)
def test_types_without_twin(name):
    assert_same(lambda m: (hasattr(getattr(m, name), "__ctype_be__"),
                           hasattr(getattr(m, name), "__ctype_le__")))


_STRUCT_CODES = {"c_short": "h", "c_ushort": "H", "c_int": "i", "c_uint": "I", "c_long": "l",
                 "c_ulong": "L", "c_longlong": "q", "c_ulonglong": "Q", "c_int16": "h",
                 "c_uint16": "H", "c_int32": "i", "c_uint32": "I", "c_int64": "q",
                 "c_uint64": "Q", "c_size_t": "N", "c_ssize_t": "n", "c_float": "f",
                 "c_double": "d"}


@pytest.mark.parametrize("value", [0, 1, -2, 0x01020304, 2**63 + 7, 1.5, -0.1],
                         ids=["0", "1", "-2", "0x01020304", "2**63+7", "1.5", "-0.1"])
@pytest.mark.parametrize("name", SWAPPABLE)
def test_swapped_values_and_layout(name, value):
    def probe(m):
        cls = getattr(m, name)
        be, le = cls.__ctype_be__(value), cls.__ctype_le__(value)
        return (be.value, le.value, bytes(memoryview(be)), bytes(memoryview(le)), repr(be),
                repr(le), memoryview(be).format, memoryview(le).format)
    assert_same(probe)


@pytest.mark.parametrize("name", SWAPPABLE)
def test_swapped_layout_is_big_endian(name):
    code = _STRUCT_CODES[name]
    value = 1.5 if code in "fd" else 0x0102
    for m in MODULES:
        cls = getattr(m, name)
        size = m.sizeof(cls)
        expected = struct.pack("@" + code, value)
        assert bytes(memoryview(cls.__ctype_le__(value))) == expected
        assert bytes(memoryview(cls.__ctype_be__(value))) == expected[::-1]
        assert cls.__ctype_be__.from_buffer_copy(expected[::-1]).value == value
        assert len(expected) == size


@pytest.mark.parametrize("name", SWAPPABLE)
def test_swapped_set_value(name):
    def probe(m):
        obj = getattr(m, name).__ctype_be__()
        obj.value = 3
        return (obj.value, bytes(memoryview(obj)))
    assert_same(probe)


@pytest.mark.parametrize("value", [5, -5, 0x01020304])
@pytest.mark.parametrize("name", ["c_int", "c_uint", "c_short", "c_long", "c_double"])
def test_swapped_from_param(name, value):
    # from_param converts with the native setter: the C callee sees the plain value.
    assert_same(lambda m: repr(getattr(m, name).__ctype_be__.from_param(value)))


def test_swapped_from_param_call():
    for m in MODULES:
        libc = m.CDLL(None)
        func = libc.abs
        func.argtypes = [m.c_int.__ctype_be__]
        assert func(-5) == 5


# ---------------------------------------------------------------------------
# Subclasses


@pytest.mark.parametrize("name", SIMPLE_TYPES)
def test_subclass_repr_and_outparam(name):
    value = {"c_char": b"x", "c_wchar": "x", "c_char_p": b"xy", "c_wchar_p": "xy",
             "py_object": [1]}.get(name, 1)

    def probe(m):
        sub = type("Sub", (getattr(m, name),), {})
        obj = sub(value)
        # c_char_p and c_wchar_p subclasses inherit a repr showing the address
        shown = re.sub(r"^Sub\(\d+\)$", "Sub(<address>)", _normalize(repr(obj)))
        return (shown, obj.value, obj.__ctypes_from_outparam__() is obj,
                getattr(m, name)(value).__ctypes_from_outparam__(), bool(obj),
                [k.__name__ for k in sub.__mro__][:2], type(sub).__name__)
    assert_same(probe)


@pytest.mark.parametrize("name", SIMPLE_TYPES)
def test_subclass_repr_shape(name):
    # Simple_repr only prints the value for direct subclasses of _SimpleCData;
    # c_char_p and c_wchar_p define a Python __repr__ showing the address.
    pattern = (r"Custom\(\d+\)" if name in ("c_char_p", "c_wchar_p")
               else r"<Custom object at 0x[0-9a-f]+>")
    value = {"c_char_p": b"x", "c_wchar_p": "x"}.get(name)
    for m in MODULES:
        sub = type("Custom", (getattr(m, name),), {})
        assert re.fullmatch(pattern, repr(sub() if value is None else sub(value)))


def test_subclass_of_subclass():
    def probe(m):
        first = type("First", (m.c_int,), {})
        second = type("Second", (first,), {})
        obj = second(7)
        return (obj.value, obj.__ctypes_from_outparam__() is obj, second._type_,
                m.sizeof(second), repr(second.from_param(3)), _normalize(repr(obj)))
    assert_same(probe)


def test_subclass_from_param_accepts_base_instances():
    def probe(m):
        sub = type("Sub", (m.c_int,), {})
        return (repr(sub.from_param(m.c_int(5))), repr(m.c_int.from_param(sub(5))))
    assert_same(probe)


def test_subclass_swapped_twin():
    # CPython creates a twin for every PyCSimpleType class with a swappable code.
    def probe(m):
        sub = type("Sub", (m.c_int,), {})
        be = sub.__ctype_be__
        return (be is not sub, be is not m.c_int.__ctype_be__, be.__name__,
                [k.__name__ for k in be.__mro__], sub.__ctype_le__ is sub,
                bytes(memoryview(be(1))))
    assert_same(probe)


def test_subclass_statement_swapped_twin():
    for m in MODULES:
        class Sub(m.c_uint):
            pass
        assert Sub.__ctype_le__ is Sub
        assert Sub.__ctype_be__.__name__ == "Sub_be"
        assert bytes(memoryview(Sub.__ctype_be__(1))) == b"\0\0\0\1"


def test_subclass_module_from_caller():
    # type(name, bases, ns) takes __module__ from the calling frame, as for any class.
    for m in MODULES:
        assert type("Dynamic", (m.c_int,), {}).__module__ == __name__
        assert type("Dynamic", (m.c_double,), {}).__module__ == __name__


def test_subclass_keeps_instance_dict():
    for m in MODULES:
        sub = type("Sub", (m.c_int,), {})
        obj = sub(3)
        obj.extra = "x"
        assert obj.__dict__ == {"extra": "x"}


@pytest.mark.parametrize("type_code", ["x", "s", "X", "", "ii", 5, None, b"i"])
def test_bad_type_code(type_code):
    assert_same(lambda m: type("Bad", (m._SimpleCData,), {"_type_": type_code}))


# 3.14 accepts "s" and "U" as `_type_` (strings held inline in a pointer-sized buffer);
# earlier versions refuse them. Each probe runs on both modules, whatever the version.
INLINE_STRING_PROBES = {
    "bytes": lambda S, U: S(b"12345678").value,
    "bytes too long": lambda S, U: S(b"123456789"),
    "bytes stop at NUL": lambda S, U: S(b"12\x0034").value,
    "bytes padded": lambda S, U: bytes(S(b"ab")),
    "bytes empty": lambda S, U: S().value,
    "bytes from int": lambda S, U: S(5),
    "bytes from str": lambda S, U: S("x"),
    "bytes overwritten shorter": lambda S, U: (lambda o: (setattr(o, "value", b"ab"), bytes(o))[1])(S(b"12345678")),
    "wide": lambda S, U: U("ab").value,
    "wide too long": lambda S, U: U("abc"),
    "wide from bytes": lambda S, U: U(b"x"),
    "wide padded": lambda S, U: bytes(U("a")),
    "wide empty": lambda S, U: U().value,
    "sizes": lambda S, U: (S.__mro__[1].__name__, S._type_, len(bytes(S())), len(bytes(U()))),
    "repr": lambda S, U: repr(S(b"a")),
}


@pytest.mark.parametrize("probe", sorted(INLINE_STRING_PROBES))
def test_inline_string_type_codes(probe):
    def run(m):
        S = type("S", (m._SimpleCData,), {"_type_": "s"})
        U = type("U", (m._SimpleCData,), {"_type_": "U"})
        return INLINE_STRING_PROBES[probe](S, U)
    assert_same(run)


def test_missing_type_code():
    assert_same(lambda m: type("Bad", (m._SimpleCData,), {}))


@pytest.mark.parametrize("code", list("cbBhHiIlLdfuzZqQPOv?g"))
def test_custom_simple_type_per_code(code):
    def probe(m):
        cls = type("Custom", (m._SimpleCData,), {"_type_": code})
        # a direct subclass of _SimpleCData gets the code's own from_param
        return (m.sizeof(cls), m.alignment(cls), memoryview(cls()).format,
                hasattr(cls, "__ctype_be__"), outcome(cls.from_param, 1),
                outcome(cls.from_param, b"x"), outcome(cls.from_param, "x"))
    assert_same(probe)


def test_abstract_base():
    assert_same(lambda m: m._SimpleCData())
    assert_same(lambda m: m._SimpleCData.from_param(1))


# ---------------------------------------------------------------------------
# Object protocol


def test_value_descriptor():
    assert_same(lambda m: m._SimpleCData.value.__doc__)
    assert_same(lambda m: type(m._SimpleCData.__dict__["value"]).__name__)


def test_value_cannot_be_deleted():
    def probe(m):
        obj = m.c_int(1)
        del obj.value
    assert_same(probe)


def test_unhashable():
    assert_same(lambda m: hash(m.c_int(1)))
    assert_same(lambda m: hash(m.c_char_p(b"x")))


def test_equality_is_identity():
    def probe(m):
        a, b = m.c_int(1), m.c_int(1)
        return (a == b, a == a, a != b)
    assert_same(probe)


def test_instance_bookkeeping():
    assert_same(lambda m: (m.c_int(1)._b_needsfree_, m.c_int(1)._b_base_, m.c_int(1)._objects))
    assert_same(lambda m: (m.c_int.from_buffer(bytearray(4))._b_needsfree_,
                           m.c_int.from_buffer(bytearray(4))._b_base_))


@pytest.mark.parametrize("expr", [
    lambda m: m.c_int.from_buffer(bytearray(2)),
    lambda m: m.c_int.from_buffer(bytes(4)),
    lambda m: m.c_int.from_buffer(bytearray(8), 6),
    lambda m: m.c_int.from_buffer(bytearray(8), -1),
    lambda m: m.c_int.from_buffer_copy(b"\1\0"),
    lambda m: m.c_int.from_buffer_copy(b"\1\0\0\0\0", 1).value,
    lambda m: m.c_int.from_buffer_copy(b"\1\0\0\0\0", -1),
    lambda m: m.c_int.from_buffer(memoryview(bytearray(8))[::2]),
    lambda m: m.c_double.from_buffer_copy(struct.pack("d", 2.5)).value,
    lambda m: m.c_char_p.from_buffer_copy(bytes(8)).value,
], ids=["short", "readonly", "offset-past-end", "negative-offset", "copy-short", "copy-offset",
        "copy-negative-offset", "strided", "double", "char_p-null"])
def test_from_buffer(expr):
    assert_same(expr)


# ---------------------------------------------------------------------------
# Pickling


class PickledInt(ferrotypes.c_int):
    pass


class StockPickledInt(ctypes.c_int):
    pass


PICKLE_CASES = [
    ("c_bool", True), ("c_byte", -5), ("c_ubyte", 200), ("c_short", -300), ("c_ushort", 65000),
    ("c_int", -123456), ("c_uint", 2**32 - 1), ("c_long", -2**62), ("c_ulong", 2**64 - 1),
    ("c_longlong", -2**63), ("c_ulonglong", 2**64 - 1), ("c_size_t", 12), ("c_ssize_t", -12),
    ("c_float", 0.5), ("c_double", -1e300), ("c_longdouble", 1.25),
    ("c_char", b"z"), ("c_wchar", "\u20ac"),
]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("name,value", PICKLE_CASES, ids=[n for n, _ in PICKLE_CASES])
def test_pickle_round_trip(name, value, protocol):
    for m in MODULES:
        obj = getattr(m, name)(value)
        copy = pickle.loads(pickle.dumps(obj, protocol))
        assert type(copy) is type(obj)
        assert copy.value == obj.value
        assert bytes(memoryview(copy))[:10] == bytes(memoryview(obj))[:10]


@pytest.mark.parametrize("name", SWAPPABLE)
def test_pickle_swapped(name):
    # The twin's __qualname__ is the native type's, so pickle finds the wrong class.
    assert_same(lambda m: pickle.dumps(getattr(m, name).__ctype_be__(7)))


def test_pickle_subclass_keeps_dict():
    for cls in (PickledInt, StockPickledInt):
        obj = cls(41)
        obj.note = "kept"
        copy = pickle.loads(pickle.dumps(obj))
        assert type(copy) is cls
        assert copy.value == 41
        assert copy.note == "kept"


@pytest.mark.parametrize("make", [
    lambda m: m.c_char_p(b"x"), lambda m: m.c_wchar_p("x"), lambda m: m.c_void_p(1),
    lambda m: m.c_void_p(None), lambda m: m.py_object(1), lambda m: m.py_object(),
], ids=["c_char_p", "c_wchar_p", "c_void_p", "c_void_p-null", "py_object", "py_object-null"])
def test_pickle_refuses_pointers(make):
    assert_same(lambda m: pickle.dumps(make(m)))


def test_reduce_shape():
    assert_same(lambda m: (m.c_int(5).__reduce__()[1][0] is m.c_int,
                           m.c_int(5).__reduce__()[1][1]))


@pytest.mark.parametrize("args", [
    ({}, b"\1\0\0\0"), ({"a": 1}, b"\2\0\0\0"), (5, b"\1\0\0\0"), ({}, "s"),
    ({}, b"\1\0\0\0\0\0\0\0\0"), ({}, b"\1"), ({},),
], ids=["plain", "with-dict", "bad-dict", "str-data", "long-data", "short-data", "one-arg"])
def test_setstate(args):
    def probe(m):
        obj = type("Sub", (m.c_int,), {})()
        result = obj.__setstate__(*args)
        return (result, obj.value, obj.__dict__)
    assert_same(probe, message=len(args) == 2)


def test_copy_module():
    import copy
    for m in MODULES:
        assert copy.copy(m.c_int(3)).value == 3
        assert copy.deepcopy(m.c_double(2.5)).value == 2.5


def test_long_double_bit_patterns_read_as_the_fpu_reads_them():
    # Found by fuzz/python/convert_fuzz.py: a pseudo-infinity (exponent all ones, integer
    # bit clear) read as inf where ctypes, which converts through the FPU, gives NaN.
    import ctypes as stock_ctypes
    import random
    import struct

    rng = random.Random(1)
    patterns = []
    for exponent in (0, 1, 0x3fff, 0x7ffe, 0x7fff):
        for sign in (0, 0x8000):
            for mant in (0, 1, 1 << 62, 1 << 63, (1 << 63) | 1, (1 << 63) | (1 << 62),
                         (1 << 63) | (1 << 40), rng.getrandbits(64), rng.getrandbits(63)):
                patterns.append(mant.to_bytes(8, "little") + (sign | exponent).to_bytes(2, "little"))
    patterns += [rng.getrandbits(80).to_bytes(10, "little") for _ in range(300)]
    for raw in patterns:
        data = raw + bytes(6)
        want = struct.pack("<d", stock_ctypes.c_longdouble.from_buffer_copy(data).value)
        got = struct.pack("<d", ferrotypes.c_longdouble.from_buffer_copy(data).value)
        assert got == want, raw.hex()


def test_instances_are_no_bigger_than_stock_ctypes():
    # The instance struct is laid out to fit stock ctypes' size or less (the C data, its
    # length, index, base and keep-alive references, and 16 inline bytes).
    for name in ("c_int", "c_double", "c_char_p", "c_longdouble"):
        assert sys.getsizeof(getattr(ferrotypes, name)()) <= sys.getsizeof(getattr(ctypes, name)()), name
    assert sys.getsizeof(ferrotypes.c_int()) < sys.getsizeof(ctypes.c_int())

"""Differential fuzzing of the value converters against the stdlib ctypes.

Hypothesis draws arbitrary Python values (ints of any size, floats including
nan and infinities, bytes with NULs, text with lone surrogates, None, lists,
objects with ``_as_parameter_``, ``__index__`` or ``__float__``, instances of
simple types) and feeds the *same object* to ``ctypes`` and ``ferrotypes``:
building each simple type from it, assigning it to ``.value``, passing it to
``from_param``, and passing it to libc/libm functions with and without
``argtypes``.  Results must be equal; failures must raise the same exception
type.

Each test runs ``FERROTYPES_FUZZ_EXAMPLES`` examples (default 300), so the
file stays well under 30 seconds by default; set the variable higher for long
runs.  The example database is off: nothing is written into the source tree.
"""

import ctypes
import ctypes.util
import os
import re

import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import ferrotypes
from support import ECHO, require_stock

require_stock(ctypes)  # a differential test: the reference must be the stdlib ctypes

# Hypothesis keeps caches and writes failure patches under its home directory
# (./.hypothesis by default): keep them out of the source tree.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "ferrotypes-hypothesis"))

MODULES = (ctypes, ferrotypes)
EXAMPLES = int(os.environ.get("FERROTYPES_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

SIMPLE_TYPES = [
    "c_bool", "c_byte", "c_ubyte", "c_short", "c_ushort", "c_int", "c_uint",
    "c_long", "c_ulong", "c_longlong", "c_ulonglong",
    "c_int8", "c_uint8", "c_int16", "c_uint16", "c_int32", "c_uint32", "c_int64", "c_uint64",
    "c_size_t", "c_ssize_t",
    "c_float", "c_double", "c_longdouble",
    "c_char", "c_wchar", "c_char_p", "c_wchar_p", "c_void_p", "py_object",
]

# Only the identities of Python objects ("<... object at 0x7f...>") differ between the two
# runs; every other number, pointer values included, must match exactly.
# The same goes for the buffer a string parameter points to (`<cparam 'z' (0x...)>`).
_ADDRESS = re.compile(r"( at |<cparam \\?'[zZ]\\?' \()0x[0-9a-fA-F]+")


def _normalize(text):
    return _ADDRESS.sub(r"\g<1>0x?", text).replace("ferrotypes", "ctypes")


# ---------------------------------------------------------------------------
# Values


class Index:
    def __init__(self, value):
        self.value = value

    def __index__(self):
        return self.value

    def __repr__(self):
        return f"Index({self.value!r})"


class Float:
    def __init__(self, value):
        self.value = value

    def __float__(self):
        return self.value

    def __repr__(self):
        return f"Float({self.value!r})"


class AsParameter:
    def __init__(self, value):
        self._as_parameter_ = value

    def __repr__(self):
        return f"AsParameter({self._as_parameter_!r})"


class Instance:
    """An instance of a simple type, built per module: ``Instance("c_int", 5)``."""

    def __init__(self, name, value):
        self.name, self.value = name, value

    def __repr__(self):
        return f"Instance({self.name}, {self.value!r})"

    def build(self, m):
        return getattr(m, self.name)(self.value)


texts = st.text(st.characters(exclude_categories=()) |
                st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=8)
scalars = st.one_of(
    st.integers(),
    st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, 1, -1, 127, 128, 255, 256, 2**15, 2**16, 2**31, 2**32, 2**63, 2**64,
                     -2**63, -2**64, 2**1024]),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(width=32),
    st.binary(max_size=8),
    texts,
    st.none(),
)
values = st.one_of(
    scalars,
    st.lists(st.integers(), max_size=3),
    st.tuples(st.integers()),
    st.binary(max_size=4).map(bytearray),
    st.builds(Index, st.integers()),
    st.builds(Float, st.floats()),
    st.builds(AsParameter, scalars),
    st.builds(AsParameter, st.builds(AsParameter, scalars)),
    st.builds(object),
)
instance_specs = st.builds(Instance, st.sampled_from(SIMPLE_TYPES), scalars)
arguments = st.one_of(values, instance_specs)


def _materialize(m, value):
    return value.build(m) if isinstance(value, Instance) else value


def _unstable_for_int_call(value):
    """Whether an untyped int function gets a value whose result is not reproducible:
    a str (pointer to a private wchar_t copy) or a floating-point instance (passed in
    a register the callee does not read)."""
    if isinstance(value, Instance) and value.name in ("c_float", "c_double", "c_longdouble"):
        return True
    return _mentions_str(value)


def _mentions_str(value):
    """Whether converting ``value`` makes a private wchar_t copy (address differs)."""
    if isinstance(value, str):
        return True
    if isinstance(value, AsParameter):
        return _mentions_str(value._as_parameter_)
    if isinstance(value, Instance):
        return _mentions_str(value.value)
    return False


def outcome(func, *args):
    """("ok", repr) or (exception type name,): values compare, errors by type only."""
    try:
        result = func(*args)
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return (type(exc).__name__,)
    return ("ok", _normalize(repr(result)))


def assert_same(func):
    expected = outcome(func, ctypes)
    got = outcome(func, ferrotypes)
    assert got == expected, f"ferrotypes: {got!r}\n    ctypes: {expected!r}"


# ---------------------------------------------------------------------------
# Simple types


def _read(m, obj, raw):
    # A string pointer built from anything but a string is read as an address,
    # so that an arbitrary int is never dereferenced.
    if type(obj)._type_ in "zZ" and not isinstance(raw, (bytes, str)):
        return ("address", m.c_void_p.from_buffer(obj).value)
    return obj.value


def _layout(obj):
    code = type(obj)._type_
    if code == "Z":
        return None  # a private wchar_t copy
    raw = bytes(memoryview(obj))
    return raw[:10] if code == "g" else raw  # long double padding is uninitialised


@pytest.mark.parametrize("name", SIMPLE_TYPES)
@FUZZ
@given(raw=values)
def test_simple_type_conversions(name, raw):
    def construct(m):
        obj = getattr(m, name)(raw)
        return (_read(m, obj, raw), _layout(obj))

    def set_value(m):
        obj = getattr(m, name)()
        obj.value = raw
        return (_read(m, obj, raw), _layout(obj))

    def from_param(m):
        if name == "c_void_p" and _mentions_str(raw):
            return type(getattr(m, name).from_param(raw)).__name__
        return _normalize(repr(getattr(m, name).from_param(raw)))

    assert_same(lambda m: (outcome(construct, m), outcome(set_value, m), outcome(from_param, m)))


@pytest.mark.parametrize("name", ["c_int", "c_uint", "c_short", "c_long", "c_ulonglong",
                                  "c_float", "c_double"])
@FUZZ
@given(raw=values)
def test_swapped_type_conversions(name, raw):
    def probe(m):
        obj = getattr(m, name).__ctype_be__(raw)
        return (obj.value, bytes(memoryview(obj)))
    assert_same(probe)


@FUZZ
@given(name=st.sampled_from(SIMPLE_TYPES), other=st.sampled_from(SIMPLE_TYPES), first=scalars)
def test_instance_from_instance(name, other, first):
    """T.from_param(U(x)) for two arbitrary simple types."""
    def probe(m):
        arg = getattr(m, other)(first)
        result = getattr(m, name).from_param(arg)
        return result is arg if isinstance(result, m._SimpleCData) else type(result).__name__
    assert_same(probe)


# ---------------------------------------------------------------------------
# Calls


LIBC_NAME = ctypes.util.find_library("c")
LIBM_NAME = ctypes.util.find_library("m")
_LIBS = {}


def _function(m, libname, symbol, argtypes=None, restype=None):
    key = (m.__name__, libname)
    if key not in _LIBS:
        _LIBS[key] = m.CDLL(libname)
    f = _LIBS[key][symbol]
    if argtypes is not None:
        f.argtypes = [getattr(m, t) for t in argtypes]
    f.restype = getattr(m, restype) if restype else m.c_int
    return f


def _twice(call):
    """Runs `call` twice and returns the first outcome with the second result. A function
    object decides on its first call whether later calls take ferrotypes' fast lane
    (fastcall.rs), so the second call is the one that exercises it; both must agree with
    stock ctypes."""
    try:
        first = ("ok", call())
    except Exception as exc:  # noqa: BLE001 - compared like a result
        first = (type(exc).__name__, str(exc))
    return first, call()


def _call(symbol, args, argtypes=None, restype=None, libname=None, kind_only=False):
    def probe(m):
        f = _function(m, libname or LIBC_NAME, symbol, argtypes, restype)
        def once():
            result = f(*[_materialize(m, a) for a in args])
            return "returned" if kind_only else result
        return _twice(once)
    assert_same(probe)


@FUZZ
@given(value=arguments)
def test_abs_typed(value):
    _call("abs", [value], ["c_int"])


@FUZZ
@given(value=arguments)
def test_abs_untyped(value):
    _call("abs", [value], kind_only=_unstable_for_int_call(value))


@FUZZ
@given(value=arguments)
def test_labs_typed(value):
    _call("labs", [value], ["c_long"], "c_long")


@FUZZ
@given(value=arguments)
def test_labs_untyped(value):
    _call("labs", [value], restype="c_long", kind_only=_unstable_for_int_call(value))


@FUZZ
@given(x=arguments, y=arguments)
def test_hypot_typed(x, y):
    _call("hypot", [x, y], ["c_double", "c_double"], "c_double", LIBM_NAME)


# Untyped, hypot reads its arguments from floating-point registers: only values
# that either fail to convert or are c_double instances give a defined result.
_hypot_untyped_args = st.one_of(
    st.builds(Instance, st.just("c_double"), st.floats()),
    st.floats(), st.lists(st.integers(), max_size=2), st.builds(Float, st.floats()),
    st.builds(object),
)


@FUZZ
@given(x=_hypot_untyped_args, y=_hypot_untyped_args)
def test_hypot_untyped(x, y):
    _call("hypot", [x, y], restype="c_double", libname=LIBM_NAME)


# strlen dereferences its argument: never hand it an integer address or NULL.
_string_like = st.one_of(
    st.binary(max_size=16), texts, st.floats(), st.lists(st.integers(), max_size=2),
    st.binary(max_size=4).map(bytearray), st.builds(object),
    st.builds(AsParameter, st.binary(max_size=8)), st.builds(AsParameter, texts),
    st.builds(Instance, st.just("c_char_p"), st.binary(max_size=8)),
    st.builds(Instance, st.just("c_wchar_p"), texts),
)


@FUZZ
@given(value=_string_like)
def test_strlen_typed(value):
    _call("strlen", [value], ["c_char_p"], "c_size_t")


@FUZZ
@given(value=_string_like)
def test_strlen_untyped(value):
    # An untyped str is passed as wchar_t*: strlen counts up to its first zero byte.
    _call("strlen", [value], restype="c_size_t")


@FUZZ
@given(value=st.one_of(texts, st.binary(max_size=8), st.floats(), st.builds(object)))
def test_wcslen_typed(value):
    _call("wcslen", [value], ["c_wchar_p"], "c_size_t")


@FUZZ
@given(args=st.lists(arguments, max_size=4))
def test_abs_argument_count(args):
    """Typed with two arguments: too few, exact and too many."""
    def probe(m):
        f = _function(m, LIBC_NAME, "abs", ["c_int", "c_int"])
        return f(*[_materialize(m, a) for a in args])
    assert_same(probe)


# ---------------------------------------------------------------------------
# The echo library: every simple type through a call






@FUZZ
@given(name=st.sampled_from(sorted(ECHO)), value=values)
def test_echo_round_trip(testlib, name, value):
    as_address = name in ("c_char_p", "c_wchar_p") and not isinstance(value, (bytes, str))

    def probe(m):
        f = m.CDLL(testlib)["echo_" + ECHO[name]]
        f.argtypes = [getattr(m, name)]
        f.restype = m.c_void_p if as_address else getattr(m, name)

        def once():
            result = f(value)
            if name == "c_void_p" and _mentions_str(value):
                return result is not None
            if as_address and isinstance(value, AsParameter):
                return "returned"  # the address of whatever the parameter converted to
            return result
        return _twice(once)
    assert_same(probe)


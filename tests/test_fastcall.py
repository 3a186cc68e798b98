"""The fast lane of foreign calls (``crates/ferrotypes-py/src/calls/fastcall.rs``).

A function object decides on its first call whether its configuration qualifies for the
fast lane; later calls with exact ``int``/``float``/``bytes``/``None``/``byref()`` arguments
take it, everything else the general path. These tests call every function several times
(so both paths run) and compare each outcome with the stdlib ctypes, then check what only
the fast lane does: falling back untouched, re-planning when the configuration changes,
re-entrancy through callbacks, errno, and releasing (or, on request, keeping) the GIL.
"""

import ctypes
import sys
import threading
import time

import pytest

import ferrotypes
from support import ECHO, require_stock
from test_calls import outcome

require_stock(ctypes)  # a differential test: the reference must be the stdlib ctypes

MODULES = (ctypes, ferrotypes)
CALLS = 3  # the first call plans, the later ones take the fast lane

INT_TYPES = ["c_byte", "c_ubyte", "c_short", "c_ushort", "c_int", "c_uint", "c_long",
             "c_ulong", "c_longlong", "c_ulonglong", "c_size_t", "c_ssize_t"]
INT_VALUES = [0, 1, -1, 127, 128, 255, 256, -129, 2**15, 2**16 + 7, 2**31 - 1, 2**31, -2**31,
              2**32 + 5, 2**63 - 1, 2**63, -2**63, 2**64 - 1, 2**64 + 9, 2**100 + 3, -2**100,
              # One 30-bit digit or two: where the in-place read of small ints stops.
              2**30 - 1, 2**30, -(2**30 - 1), -2**30, 2**30 + 1]
# Arguments the fast lane must hand to the general path (which raises or converts).
ODD_VALUES = [True, False, 1.5, "7", None, b"x", bytearray(b"y"), 3 + 0j]


def repeated(make, *args):
    """The outcomes of CALLS calls of one function object, per module."""
    results = {}
    for m in MODULES:
        f = make(m)
        results[m.__name__] = [outcome(f, *args) for _ in range(CALLS)]
    return results


def assert_same_repeated(make, *args):
    results = repeated(make, *args)
    assert results["ferrotypes"] == results["ctypes"], args


def echo(lib_path, type_name):
    def make(m):
        f = m.CDLL(lib_path)["echo_" + ECHO[type_name]]
        t = getattr(m, type_name)
        f.argtypes, f.restype = [t], t
        return f
    return make


@pytest.mark.parametrize("type_name", INT_TYPES)
@pytest.mark.parametrize("value", INT_VALUES + ODD_VALUES, ids=repr)
def test_integer_echo(testlib, type_name, value):
    assert_same_repeated(echo(testlib, type_name), value)


class IntSub(int):
    pass


def test_small_ints_are_read_in_place():
    # The integer layout check at import (interp/long_layout.rs) passed on this interpreter:
    # a failure here means every small int goes through the C API again (slower, still right).
    assert ferrotypes._ctypes._rs.int_layout_verified()


@pytest.mark.parametrize("type_name", INT_TYPES)
def test_setters_across_the_digit_boundary(type_name):
    # c_int(v), .value = v and a field store take the raw setter, which reads small ints in place.
    for v in INT_VALUES:
        got = {}
        for m in MODULES:
            t = getattr(m, type_name)

            class S(m.Structure):
                _fields_ = [("f", t)]
            s, x = S(), t(v)
            s.f = v
            y = t()
            y.value = v
            got[m.__name__] = (x.value, y.value, s.f)
        assert got["ferrotypes"] == got["ctypes"], (type_name, v)


class FloatSub(float):
    pass


def lane_calls():
    return ferrotypes._ctypes._rs.fast_lane_calls()


@pytest.mark.parametrize("value, lane", [(5, True), (-(2**63), True), (IntSub(3), False),
                                         (True, False), (1.5, False), (None, False)], ids=repr)
def test_the_lane_is_taken_exactly_for_exact_arguments(testlib, value, lane):
    # The first call plans; every later one with an exact int takes the lane, anything else
    # the general path. The comparisons with stock above cannot see which path ran.
    f = echo(testlib, "c_longlong")(ferrotypes)
    outcome(f, value)
    before = lane_calls()
    outcomes = [outcome(f, value) for _ in range(4)]
    assert lane_calls() - before == (4 if lane else 0), outcomes
    g = echo(testlib, "c_longlong")(ferrotypes)
    g.release_gil = False
    outcome(g, value)
    before = lane_calls()
    outcome(g, value)
    assert lane_calls() - before == (1 if lane else 0)


@pytest.mark.parametrize("type_name", ["c_float", "c_double"])
@pytest.mark.parametrize("value", [0.0, -0.0, 1.5, -2.25, 1e300, -1e-300, float("inf"), 3, -7,
                                   2**60 + 1, 2**2000, FloatSub(2.5), IntSub(4), True, "1.0",
                                   None], ids=repr)
def test_float_echo(testlib, type_name, value):
    assert_same_repeated(echo(testlib, type_name), value)


@pytest.mark.parametrize("value", [b"", b"hello", b"a\0b", None, "text", 5, bytearray(b"z")],
                         ids=repr)
def test_char_p_echo(testlib, value):
    assert_same_repeated(echo(testlib, "c_char_p"), value)


@pytest.mark.parametrize("value", [0, 1, 2**40, 2**64 - 1, -1, None, b"ab", 1.5, IntSub(3)],
                         ids=repr)
def test_void_p_echo(testlib, value):
    if isinstance(value, bytes):
        # bytes pass the address of their own buffer, the one c_char_p(value) points to
        for m in MODULES:
            f = echo(testlib, "c_void_p")(m)
            for _ in range(CALLS):
                assert f(value) == m.cast(m.c_char_p(value), m.c_void_p).value
        return
    assert_same_repeated(echo(testlib, "c_void_p"), value)


@pytest.mark.parametrize("args", [
    (1, 2.5, 3, 4.25, 5, -6, 7.5, 8, 9.125, b"A"),
    (-1, -0.5, 65535 + 2, -1.0, -2**40, 200, 0.0, 2**32 + 1, 1e10, None),
    (1, 2.5, 3, 4.25, 5, -6, 7.5, 8, 9.125, "not bytes"),
    (1, 2.5, 3, 4.25, 5, -6, 7.5, 8, 9.125),
])
def test_interleaved_registers(testlib, args):
    def make(m):
        f = m.CDLL(testlib).fast_mix
        f.argtypes = [m.c_int, m.c_float, m.c_ushort, m.c_double, m.c_longlong, m.c_byte,
                      m.c_float, m.c_uint, m.c_double, m.c_char_p]
        f.restype = m.c_double
        return f
    assert_same_repeated(make, *args)


SCALAR_ARGS = ["c_byte", "c_ushort", "c_int", "c_uint", "c_longlong", "c_ubyte"]


@pytest.mark.parametrize("args", [
    (1, 2, 3, 4, 5, 6),
    (-1, -1, -1, -1, -1, -1),
    (300, 2**16 + 9, 2**31, 2**32 + 7, 2**63, -1),
    (-128, 65535, -2**31, 2**32 - 1, -2**63, 255),
    (2**30, -(2**30), 2**30 - 1, -(2**30 - 1), 2**100 + 3, -2**100),
    (1, 2, 3, 4, 5, True),
    (1, 2, 3, 4, IntSub(5), 6),
    (1, 2, 3, 4, 5, 6.0),
    (1, 2, 3, 4, 5),
    (1, 2, 3, 4, 5, 6, 7),
], ids=repr)
def test_scalar_lane_all_integer_arguments(testlib, args):
    # Integers only, six registers: the scalar lane (fastcall.rs, try_scalar_call) reads
    # each exact int in place and narrows it per its type; anything else goes on to the
    # general lanes, and a wrong count raises as stock does.
    def make(m):
        f = m.CDLL(testlib).ints6
        f.argtypes = [getattr(m, t) for t in SCALAR_ARGS]
        f.restype = m.c_longlong
        return f
    assert_same_repeated(make, *args)


@pytest.mark.parametrize("restype", ["c_byte", "c_ubyte", "c_short", "c_ushort", "c_int",
                                     "c_uint", "c_long", "c_ulong", "c_longlong",
                                     "c_ulonglong", None])
def test_scalar_lane_results(testlib, restype):
    # The result register narrowed per integer type, or None for a void result.
    def make(m):
        f = m.CDLL(testlib).ints6
        f.argtypes = [getattr(m, t) for t in SCALAR_ARGS]
        f.restype = getattr(m, restype) if restype else None
        return f
    for args in [(1, 2, 3, 4, 5, 6), (-1, 40000, -7, 2**32 - 1, -2**40, 200),
                 (0, 0, 0, 0, 2**62, 0)]:
        assert_same_repeated(make, *args)


@pytest.mark.parametrize("arity", range(1, 7))
def test_scalar_lane_every_arity(testlib, arity):
    # The scalar lane has one copy per argument count (fastcall.rs, scalar_call::<N>), each
    # loading only its own registers through a variadic prototype (al = 0). sum_varargs is
    # variadic itself and reads one register per argument: one the call did not load, or
    # loaded out of order, shows in the sum. Each call must also take the lane.
    values = [(-1) ** i * (i + 1) * 1000 + i for i in range(arity - 1)]
    if values:
        values[-1] = -2**31  # narrowed and sign-extended like the rest
    def make(m):
        f = m.CDLL(testlib).sum_varargs
        f.argtypes = [m.c_int] * arity
        f.restype = m.c_long
        return f
    assert_same_repeated(make, arity - 1, *values)
    f = make(ferrotypes)
    f(arity - 1, *values)  # plans
    before = lane_calls()
    assert [f(arity - 1, *values) for _ in range(3)] == [sum(values)] * 3
    assert lane_calls() - before == 3
    # One argument fewer (stock's TypeError) or one more (passed on, as a C variadic
    # argument): no lane for that count, the general path, the same outcomes as stock.
    assert_same_repeated(make, *([arity - 1] + values)[:-1])
    assert_same_repeated(make, arity - 1, *values, 7)
    before = lane_calls()
    with pytest.raises(TypeError):
        f(*([arity - 1] + values)[:-1])
    assert lane_calls() == before


def test_scalar_lane_is_taken(testlib):
    lib = ferrotypes.CDLL(testlib)
    ints6, ints0 = lib.ints6, lib.ints0
    ints6.argtypes = [getattr(ferrotypes, t) for t in SCALAR_ARGS]
    ints6.restype = ferrotypes.c_longlong
    ints0.argtypes, ints0.restype = [], ferrotypes.c_int
    store, stored = lib.ints_store, lib.ints_stored
    store.argtypes, store.restype = [ferrotypes.c_int, ferrotypes.c_longlong], None
    stored.argtypes, stored.restype = [], ferrotypes.c_longlong
    expected = 1 + 3 * 2 + 7 * 3 + 11 * 4 + 13 * 5 + 17 * 6
    for f, args, result in [(ints6, (1, 2, 3, 4, 5, 6), expected), (ints0, (), -42),
                            (store, (-2, 10**12), None), (stored, (), 10**12 - 2)]:
        f(*args)  # plans
        before = lane_calls()
        assert [f(*args) for _ in range(3)] == [result] * 3
        assert lane_calls() - before == 3, f.__name__
    # Kept GIL: the same lane, without the release.
    ints6.release_gil = False
    ints6(1, 2, 3, 4, 5, 6)
    before = lane_calls()
    assert ints6(1, 2, 3, 4, 5, 6) == expected
    assert lane_calls() - before == 1
    # An argument that is not an exact int (a bool) leaves the scalar lane untouched: the
    # general path converts it, as it did before this lane existed.
    before = lane_calls()
    assert ints6(1, 2, 3, 4, 5, True) == expected - 17 * 5
    assert lane_calls() - before == 0
    # use_errno functions are not scalar-lane shaped but still fast.
    g = ferrotypes.CDLL(testlib, use_errno=True).ints0
    g.argtypes, g.restype = [], ferrotypes.c_int
    g()
    before = lane_calls()
    assert g() == -42
    assert lane_calls() - before == 1


@pytest.mark.parametrize("args", [(-5,), (2**31 + 5,), (2**64 + 5,), (b"abc",), (None,),
                                  ("str",), (1.5,)])
def test_untyped(args):
    for name in ("abs", "strlen"):
        pointer = bool(args) and isinstance(args[0], (bytes, str))
        if (name == "strlen") != pointer:
            continue  # abs of a pointer is an address; strlen of an int would crash
        assert_same_repeated(lambda m: getattr(m.CDLL(None), name), *args)


def test_byref_and_pointer_arguments():
    for m in MODULES:
        frexp = m.CDLL(None).frexp
        frexp.argtypes = [m.c_double, m.POINTER(m.c_int)]
        frexp.restype = m.c_double
        exp = m.c_int(0)
        for _ in range(CALLS):
            assert frexp(8.0, m.byref(exp)) == 0.5 and exp.value == 4
            assert frexp(3.0, m.pointer(exp)) == 0.75 and exp.value == 2
            exp.value = 0
            assert frexp(16.0, exp) == 0.5 and exp.value == 5  # implicit byref of the target
        wrong = m.c_long(0)
        errors = [outcome(frexp, 1.0, m.byref(wrong)) for _ in range(CALLS)]
        assert all(e[0] == "ArgumentError" for e in errors)
    # untyped byref
    results = {}
    for m in MODULES:
        frexp = m.CDLL(None).frexp
        frexp.argtypes = None
        x = m.c_int(7)
        results[m.__name__] = [m.CDLL(None).labs(m.byref(x)) != 0 for _ in range(CALLS)]
    assert results["ferrotypes"] == results["ctypes"]


@pytest.mark.parametrize("restype", ["c_int", "c_uint", "c_byte", "c_ubyte", "c_short",
                                     "c_ushort", "c_longlong", "c_ulonglong", "c_double",
                                     "c_float", "c_void_p", "c_char_p", None])
def test_result_kinds(restype):
    # strtoll through several result types: the result register narrowed per type. The
    # floating-point kinds read xmm0, which strtoll leaves undefined (what is left there
    # differs between interpreters), so they call strtod/strtof, which set it.
    floating = {"c_double": "strtod", "c_float": "strtof"}

    def make(m):
        if restype in floating:
            f = getattr(m.CDLL(None), floating[restype])
            f.argtypes = [m.c_char_p, m.c_void_p]
        else:
            f = m.CDLL(None).strtoll
            f.argtypes = [m.c_char_p, m.c_void_p, m.c_int]
        f.restype = getattr(m, restype) if restype else None
        return f
    if restype in floating:
        args = (b"-1234.5", None)
    elif restype in ("c_char_p", "c_void_p"):
        args = (b"0", None, 10)
    else:
        args = (b"-1234567890123", None, 10)
    assert_same_repeated(make, *args)


def test_reconfiguration_replans():
    f = ferrotypes.CDLL(None).labs
    f.argtypes, f.restype = [ferrotypes.c_long], ferrotypes.c_long
    assert [f(-5) for _ in range(CALLS)] == [5] * CALLS
    f.restype = ferrotypes.c_ubyte
    assert [f(-300) for _ in range(CALLS)] == [300 % 256] * CALLS
    f.argtypes = [ferrotypes.c_byte]
    assert [f(-300) for _ in range(CALLS)] == [abs(-300 % 256 - 256)] * CALLS
    f.errcheck = lambda result, func, args: ("checked", result)
    assert f(-1) == ("checked", 1)
    del f.errcheck
    assert [f(-1) for _ in range(CALLS)] == [1] * CALLS


def test_callback_reconfigures_the_running_function(testlib):
    lib = ferrotypes.CDLL(testlib)
    apply_twice = lib.apply_twice
    CB = ferrotypes.CFUNCTYPE(ferrotypes.c_int, ferrotypes.c_int)
    seen = []

    def cb(x):
        seen.append(x)
        # Changing the running function's configuration must not affect the call in
        # progress (its plan was copied) and must re-plan the next call.
        apply_twice.restype = ferrotypes.c_ubyte if x % 2 else ferrotypes.c_int
        return x * 100

    callback = CB(cb)
    apply_twice.argtypes = [CB, ferrotypes.c_int]
    apply_twice.restype = ferrotypes.c_int
    assert apply_twice(callback, 1) == 300  # cb(1) + cb(2), restype c_int at the start
    apply_twice.argtypes = [ferrotypes.c_void_p, ferrotypes.c_int]
    address = ferrotypes.cast(callback, ferrotypes.c_void_p).value
    apply_twice.restype = ferrotypes.c_int
    # Each call converts its result per the restype set when it started: c_int for the
    # first (the callbacks' change to c_ubyte comes too late for it), c_ubyte afterwards.
    results = [apply_twice(address, 2) for _ in range(CALLS)]
    assert results == [500] + [500 % 256] * (CALLS - 1)
    assert seen[:2] == [1, 2]


def test_errno_swapped_in_the_fast_lane(testlib):
    lib = ferrotypes.CDLL(testlib, use_errno=True)
    write, read = lib.write_errno, lib.read_errno
    write.argtypes, write.restype = [ferrotypes.c_int], None
    read.argtypes, read.restype = [], ferrotypes.c_int
    for value in (3, 11, 42):
        write(value)
        assert ferrotypes.get_errno() == value
        ferrotypes.set_errno(value + 1)
        assert read() == value + 1


def _ran_during_the_call(release_gil):
    """Whether another Python thread ran in the middle of a usleep(1 s) made on this one.

    The other thread only counts the moments it runs inside a window well inside the call
    (0.3 s after it starts, 0.3 s before it ends): switches of the GIL around the call's
    start and end, which take a few milliseconds (more on a loaded machine), stay outside."""
    usleep = ferrotypes.CDLL(None).usleep
    usleep.argtypes, usleep.restype = [ferrotypes.c_uint], ferrotypes.c_int
    usleep.release_gil = release_gil
    usleep(0)  # plan
    window = [float("inf"), float("-inf")]
    hits = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            if window[0] < time.monotonic() < window[1]:
                hits[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    time.sleep(0.05)
    start = time.monotonic()
    window[:] = [start + 0.3, start + 0.7]
    usleep(1_000_000)
    stop.set()
    t.join()
    return hits[0]


def test_gil_released_by_default_and_kept_on_request():
    assert ferrotypes.CDLL(None).usleep.release_gil is True
    assert _ran_during_the_call(True) > 0
    assert _ran_during_the_call(False) == 0


def test_release_gil_attribute_validation():
    f = ferrotypes.CDLL(None).abs
    with pytest.raises(AttributeError):
        del f.release_gil
    f.release_gil = 0
    assert f.release_gil is False
    f.argtypes = [ferrotypes.c_int]
    assert [f(-3) for _ in range(CALLS)] == [3] * CALLS


def test_keywords_and_extra_arguments_take_the_general_path():
    f = ferrotypes.CDLL(None).abs
    f.argtypes = [ferrotypes.c_int]
    f(-1)
    with pytest.raises(TypeError):
        f(x=-1)
    snprintf = ferrotypes.CDLL(None).snprintf
    snprintf.argtypes = [ferrotypes.c_char_p, ferrotypes.c_size_t, ferrotypes.c_char_p]
    buf = ferrotypes.create_string_buffer(32)
    for _ in range(CALLS):
        assert snprintf(buf, 32, b"%d-%.1f", 7, ferrotypes.c_double(2.5)) == 5
        assert buf.value == b"7-2.5"


def test_function_pointer_and_array_arguments(testlib):
    """Instances of function pointer and array types (stock from_param) on the fast lane."""
    results = {}
    for m in MODULES:
        CMP = m.CFUNCTYPE(m.c_int, m.POINTER(m.c_int), m.POINTER(m.c_int))
        Five = m.c_int * 5
        qsort = m.CDLL(None).qsort
        qsort.argtypes, qsort.restype = [Five, m.c_size_t, m.c_size_t, CMP], None
        cmp = CMP(lambda a, b: a[0] - b[0])
        runs = []
        for data in ([5, 1, 4, 2, 3], [9, -1, 0, 7, 7], [3, 3, 1, 1, 2]):
            arr = Five(*data)
            qsort(arr, 5, 4, cmp)
            runs.append(list(arr))
        runs.append(outcome(qsort, (m.c_int * 4)(), 4, 4, cmp))       # wrong array type
        runs.append(outcome(qsort, Five(), 5, 4, lambda a, b: 0))     # not a CMP instance
        results[m.__name__] = runs
    assert results["ferrotypes"] == results["ctypes"]
    assert results["ferrotypes"][0] == [1, 2, 3, 4, 5]


def test_callback_passed_on_the_fast_lane_is_noted(testlib):
    """A callback passed through the fast lane counts as passed to C (checked mode's
    callback_checks.rs warns when such a callback is collected)."""
    import gc
    import warnings
    gc.collect()  # other tests' callbacks first: only this test's warnings are counted
    lib = ferrotypes.CDLL(testlib)
    CB = ferrotypes.CFUNCTYPE(ferrotypes.c_int, ferrotypes.c_int)
    apply_twice = lib.apply_twice
    apply_twice.argtypes, apply_twice.restype = [CB, ferrotypes.c_int], ferrotypes.c_int

    def lane_callback(x):
        return x

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        first = CB(lane_callback)
        assert apply_twice(first, 1) == 3      # plans (general path)
        second = CB(lane_callback)
        assert apply_twice(second, 2) == 5     # fast lane
        del first, second
        gc.collect()
    msgs = [str(w.message) for w in seen
            if issubclass(w.category, ResourceWarning) and "lane_callback" in str(w.message)]
    assert len(msgs) == 2, msgs


def test_nested_callbacks_through_the_fast_lane(testlib):
    """A callback that makes a fast-lane call which calls back again: the inner callback
    must take the GIL although the thread is inside the outer callback (the fast lane
    releases the GIL with CPython's own calls, see calls/fastcall.rs and callbacks/thunk.rs)."""
    lib = ferrotypes.CDLL(testlib)
    CB = ferrotypes.CFUNCTYPE(ferrotypes.c_int, ferrotypes.c_int)
    apply_twice = lib.apply_twice
    apply_twice.argtypes, apply_twice.restype = [CB, ferrotypes.c_int], ferrotypes.c_int
    inner = CB(lambda x: x * 10)
    depth = []

    def outer_fn(x):
        depth.append(x)
        return apply_twice(inner, x)        # fast lane, from inside a callback

    outer = CB(outer_fn)
    for _ in range(CALLS):
        # outer(1) = inner(1) + inner(2) = 30; outer(2) = 50
        assert apply_twice(outer, 1) == 80
    counter = [0]

    def spin():
        for _ in range(20000):
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    for _ in range(200):
        assert apply_twice(outer, 1) == 80
    t.join()
    assert counter[0] == 20000

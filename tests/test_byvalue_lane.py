"""Structures and unions by value on the fast lane (``calls/fastcall.rs``,
``ferrotypes-core/src/direct.rs``'s ``call_frame``).

Each function of ``tests/clib/byvalue_lane.c`` is called several times through stdlib ctypes
and ferrotypes (the first call plans, later ones take the lane where the classification
allows), and the results compared; the lane counter shows which calls took the lane.
Classifications covered: MEMORY (24 and 40 bytes, 16-byte aligned), one and two INTEGER or
SSE eightbytes, mixed eightbytes both ways round, a float pair, a 3-byte structure, a union,
aggregates as results (in registers and through the hidden pointer), and a structure the
registers left cannot hold (then on the stack, which the lane leaves to libffi)."""

import ctypes
import platform

import pytest

import ferrotypes
from support import compile_shared, require_stock

require_stock(ctypes)

MODULES = (ctypes, ferrotypes)
CALLS = 3
X86_64 = platform.machine() in ("x86_64", "AMD64")


@pytest.fixture(scope="module")
def lib_path(tmp_path_factory):
    import os
    src = os.path.join(os.path.dirname(__file__), "clib", "byvalue_lane.c")
    return compile_shared(src, tmp_path_factory.mktemp("byvalue_lane") / "libbyvalue_lane.so", "-O1")


def types_of(m):
    class S3(m.Structure):
        _fields_ = [("a", m.c_int), ("b", m.c_double), ("c", m.c_int)]

    class I2(m.Structure):
        _fields_ = [("x", m.c_int), ("y", m.c_int)]

    class F2(m.Structure):
        _fields_ = [("x", m.c_float), ("y", m.c_float)]

    class DN(m.Structure):
        _fields_ = [("d", m.c_double), ("n", m.c_int64)]

    class IFD(m.Structure):
        _fields_ = [("n", m.c_int), ("f", m.c_float), ("d", m.c_double)]

    class D2(m.Structure):
        _fields_ = [("x", m.c_double), ("y", m.c_double)]

    class C3(m.Structure):
        _fields_ = [("c", m.c_char * 3)]

    class Big(m.Structure):
        _fields_ = [("v", m.c_int64 * 5)]

    class UID(m.Union):
        _fields_ = [("i", m.c_int64), ("d", m.c_double)]

    class A16(m.Structure):
        _align_ = 16
        _fields_ = [("a", m.c_int64), ("b", m.c_int64), ("c", m.c_int64)]

    return dict(S3=S3, I2=I2, F2=F2, DN=DN, IFD=IFD, D2=D2, C3=C3, Big=Big, UID=UID, A16=A16)


def fields(value):
    """A structure's contents as plain Python values (arrays as lists)."""
    if hasattr(value, "_fields_"):
        out = []
        for name, *_ in value._fields_:
            v = getattr(value, name)
            out.append(list(v) if hasattr(v, "_length_") else v)
        return out
    return value


def lane_calls():
    return ferrotypes._ctypes._rs.fast_lane_calls()


def run(lib_path, name, argtypes, restype, make_args):
    """Outcomes of CALLS calls per module, and how many ferrotypes calls took the lane."""
    results, taken = {}, 0
    for m in MODULES:
        t = types_of(m)
        f = getattr(m.CDLL(lib_path), name)
        f.argtypes = tuple(t[a] if isinstance(a, str) else getattr(m, a.__name__) for a in argtypes)
        f.restype = t[restype] if restype in t else getattr(m, restype)
        args = make_args(m, t)
        before = lane_calls()
        results[m.__name__] = [fields(f(*args)) for _ in range(CALLS)]
        if m is ferrotypes:
            taken = lane_calls() - before
    assert results["ferrotypes"] == results["ctypes"]
    return results["ctypes"][0], taken


class c_int:  # argtypes entries naming a module's simple type
    pass


class c_double:
    pass


class c_float:
    pass


class c_int64:
    pass


CASES = [
    # name, argtypes, restype, args, expected result, takes the lane on x86-64
    ("sum_s3", ["S3"], "c_double", lambda m, t: [t["S3"](1, 2.5, 3)], 6.5, True),
    ("mix", [c_int, "S3", c_double, "I2", "F2", "S3"], "c_double",
     lambda m, t: [1, t["S3"](1, 2.0, 3), 0.5, t["I2"](9, 4), t["F2"](1.5, 2.0), t["S3"](4, 5.0, 6)],
     1 + 60 + 50 + 5000 + 30000 + 1500000, True),
    ("dn_parts", ["DN", c_int], "c_int64", lambda m, t: [t["DN"](1.5, 7), 3], 15 + 21, True),
    ("ifd_sum", ["IFD"], "c_double", lambda m, t: [t["IFD"](2, 0.5, 4.25)], 6.75, True),
    ("d2_swap", ["D2"], "D2", lambda m, t: [t["D2"](1.0, 2.0)], [2.0, 1.0], True),
    ("f2_scale", ["F2", c_float], "F2", lambda m, t: [t["F2"](1.5, -2.0), 2.0], [3.0, -4.0], True),
    ("i2_make", [c_int, c_int], "I2", lambda m, t: [-3, 11], [-3, 11], True),
    ("dn_make", [c_double, c_int64], "DN", lambda m, t: [0.25, -2**40], [0.25, -2**40], True),
    ("ifd_make", [c_int, c_float, c_double], "IFD", lambda m, t: [5, 1.5, -7.0], [5, 1.5, -7.0], True),
    ("s3_next", ["S3"], "S3", lambda m, t: [t["S3"](1, 2.0, 3)], [2, 4.0, 6], True),
    ("big_make", [c_int64, "S3"], "Big", lambda m, t: [9, t["S3"](1, 2.0, 3)], [[9, 1, 2, 3, -9]], True),
    ("c3_sum", ["C3"], "c_int", lambda m, t: [t["C3"](b"\x01\x02\x03")], 6, True),
    ("uid_bits", ["UID"], "c_double", lambda m, t: [t["UID"](0x12345)], float(0x2345), True),
    ("a16_sum", [c_int, "A16", c_int64], "c_int64", lambda m, t: [1, t["A16"](2, 3, 4), 5], 1 + 2 + 30 + 400 + 5000, True),
    # Seven doubles leave one SSE register: D2 needs two, so C passes it on the stack; the
    # lane does not place such an aggregate itself, libffi does.
    ("eight_doubles_then_d2", [c_double] * 7 + ["D2"], "c_double",
     lambda m, t: [1.0] * 7 + [t["D2"](2.0, 3.0)], 7.0 + 200 + 3000, False),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_by_value_matches_ctypes_and_takes_the_lane(lib_path, case):
    name, argtypes, restype, make_args, expected, lane = case
    result, taken = run(lib_path, name, argtypes, restype, make_args)
    assert result == expected
    assert taken == ((CALLS - 1) if (lane and X86_64) else 0)


def test_subclass_instances_and_wrong_types_take_the_general_path(lib_path):
    results, taken = {}, {}
    for m in MODULES:
        t = types_of(m)

        class S3Sub(t["S3"]):
            pass

        f = m.CDLL(lib_path).sum_s3
        f.argtypes = (t["S3"],)
        f.restype = m.c_double
        before = lane_calls()
        out = [f(t["S3"](1, 2.0, 3)), f(S3Sub(2, 2.0, 2))]
        for bad in (5, None, t["I2"](1, 2), m.pointer(t["S3"](1, 1.0, 1))):
            try:
                f(bad)
            except Exception as exc:  # noqa: BLE001 - the error is compared
                out.append((type(exc).__name__, str(exc)))
        results[m.__name__] = out
        taken[m.__name__] = lane_calls() - before
    assert results["ferrotypes"] == results["ctypes"]
    # The first call makes the plan; the subclass instance and the wrong types are left to
    # the general path, which applies ctypes' rules: none of them takes the lane.
    assert taken["ferrotypes"] == 0


def test_a_callback_that_changes_restype_does_not_break_a_struct_result(lib_path):
    # The result type is held across the call: the callback drops the configuration.
    m = ferrotypes
    t = types_of(m)
    f = m.CDLL(lib_path).d2_swap
    f.argtypes = (t["D2"],)
    f.restype = t["D2"]
    assert fields(f(t["D2"](1.0, 2.0))) == [2.0, 1.0]
    assert fields(f(t["D2"](3.0, 4.0))) == [4.0, 3.0]
    f.restype = m.c_double  # re-plans: the same bytes read as a double
    assert f(t["D2"](5.0, 6.0)) == 6.0


def test_struct_argument_and_result_keep_gil_flag(lib_path):
    m = ferrotypes
    t = types_of(m)
    f = m.CDLL(lib_path).s3_next
    f.argtypes = (t["S3"],)
    f.restype = t["S3"]
    if hasattr(f, "release_gil"):
        f.release_gil = False
    before = lane_calls()
    assert [fields(f(t["S3"](i, 1.0, 0))) for i in range(3)] == [[i + 1, 2.0, 3] for i in range(3)]
    assert lane_calls() - before == (2 if X86_64 else 0)

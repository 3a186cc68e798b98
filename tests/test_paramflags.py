"""paramflags: prototypes instantiated from a library with in/out parameter flags."""

import pytest

import ferrotypes as ct

libc = ct.CDLL(None)
FREXP = ct.CFUNCTYPE(ct.c_double, ct.c_double, ct.POINTER(ct.c_int))


def test_out_parameter_is_returned():
    frexp = FREXP(("frexp", libc), ((1, "x"), (2, "exp")))
    assert frexp(8.0) == 4
    assert frexp(x=8.0) == 4


def test_several_out_parameters_make_a_tuple():
    modf = ct.CFUNCTYPE(ct.c_double, ct.c_double, ct.POINTER(ct.c_double))(("modf", libc), ((1, "x"), (2, "ipart")))
    assert modf(2.5) == 2.0
    proto = ct.CFUNCTYPE(ct.c_int, ct.c_char_p, ct.c_char_p, ct.POINTER(ct.c_int), ct.POINTER(ct.c_int))
    sscanf = proto(("sscanf", libc), ((1, "s", b"12 34"), (1, "fmt", b"%d %d"), (2, "a"), (2, "b")))
    assert sscanf() == (12, 34)
    assert sscanf(s=b"5 6") == (5, 6)
    assert sscanf(b"7 8") == (7, 8)


def test_defaults_and_missing_arguments():
    frexp = FREXP(("frexp", libc), ((1, "x", 16.0), (2, "exp")))
    assert frexp() == 5
    frexp = FREXP(("frexp", libc), ((1, "x"), (2, "exp")))
    with pytest.raises(TypeError, match="required argument 'x' missing"):
        frexp()
    with pytest.raises(TypeError, match=r"call takes exactly 1 arguments \(2 given\)"):
        frexp(1.0, 2)


def test_inout_parameter_returned_as_passed():
    frexp = FREXP(("frexp", libc), ((1, "x"), (3, "exp")))
    e = ct.c_int(0)
    assert frexp(8.0, ct.byref(e)) is not None
    assert e.value == 4


def test_errcheck_returning_args_continues():
    frexp = FREXP(("frexp", libc), ((1, "x"), (2, "exp")))
    seen = []

    def errcheck(result, func, args):
        seen.append((result, func, args[0]))
        return args

    frexp.errcheck = errcheck
    assert frexp(8.0) == 4
    assert seen == [(0.5, frexp, 8.0)]
    frexp.errcheck = lambda result, func, args: "replaced"
    assert frexp(8.0) == "replaced"


def test_errcheck_returning_args_without_paramflags_gives_result():
    labs = libc.labs
    labs.argtypes = [ct.c_long]
    labs.restype = ct.c_long
    labs.errcheck = lambda result, func, args: args
    try:
        assert labs(-3) == 3
    finally:
        del labs.errcheck


@pytest.mark.parametrize(
    "flags, exc, msg",
    [
        ((), ValueError, "paramflags must have the same length as argtypes"),
        (((1,), (2,), (1,)), ValueError, "paramflags must have the same length as argtypes"),
        (((1, 2), (2,)), TypeError, r"paramflags must be a sequence of \(int \[,string \[,value\]\]\) tuples"),
        ((1, (2,)), TypeError, r"paramflags must be a sequence"),
        (((1,), (6,)), TypeError, "paramflag value 6 not supported"),
        ([(1,), (2,)], TypeError, "paramflags must be a tuple or None"),
    ],
)
def test_validation(flags, exc, msg):
    with pytest.raises(exc, match=msg):
        FREXP(("frexp", libc), flags)


def test_out_parameter_must_be_pointer():
    with pytest.raises(TypeError, match="'out' parameter 2 must be a pointer type, not c_int"):
        ct.CFUNCTYPE(ct.c_double, ct.c_double, ct.c_int)(("frexp", libc), ((1,), (2,)))

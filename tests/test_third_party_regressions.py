"""Minimal reproductions of ferrotypes bugs found by running third-party packages' own test
suites under ferrotypes (tests/test_third_party.py). Each case is self-contained: it names the
package and test that found it, and needs nothing but ferrotypes.
"""

import pytest

import ferrotypes as ct


class Index:
    """An integer-like object that is not an int, as numpy's integer scalars are."""

    def __init__(self, value):
        self.value = value

    def __index__(self):
        return self.value


def test_array_type_length_may_be_any_index_object():
    # numba.tests.test_cfunc TestCArray: numba's carray() builds `c_byte * np.int64(n)`.
    # CPython's sequence repeat takes any __index__ object as the count, on either side.
    assert ct.c_byte * Index(24) is ct.c_byte * 24
    assert Index(3) * ct.c_int is ct.c_int * 3
    assert (ct.c_double * Index(2))._length_ == 2
    assert type((ct.c_double * Index(2))._length_) is int
    with pytest.raises(ValueError):
        ct.c_int * Index(-1)
    with pytest.raises(TypeError, match="non-int of type 'float'"):
        ct.c_int * 2.0

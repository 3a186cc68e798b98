"""The hand-written fast paths of instances (issue #15), each against the stdlib ctypes.

* Instances are allocated with ``tp_alloc`` and their C-data part written in place: up to
  16 bytes live inside the object, larger buffers in a heap block (``cdata.rs``
  ``alloc_owned``); deallocation releases ``_b_base_``/``_objects`` and the block by hand
  (``cdata_dealloc``).
* ``p[i]`` on a pointer to native scalars is a raw ``mp_subscript`` (``pointer.rs``).
* Callback arguments of pointer, structure and array types are allocated directly, and a
  plain number returned for a native scalar result goes through its raw setter
  (``callbacks/thunk.rs``).
"""

import ctypes
import gc
import sys
import weakref

import pytest

import ferrotypes
from support import require_stock

require_stock(ctypes)

MODULES = (ctypes, ferrotypes)


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 15, 16, 17, 32, 1000])
def test_char_arrays_at_the_inline_boundary(n):
    """Fresh arrays of every size around the 16 inline bytes are zeroed and hold their
    contents; bytes(), sizeof and the buffer agree with ctypes."""
    results = []
    for m in MODULES:
        a = (m.c_char * n)()
        assert bytes(a) == b"\0" * n
        a[:] = bytes((65 + k) % 256 for k in range(n))
        results.append((bytes(a), m.sizeof(a), len(memoryview(a).tobytes()), a.raw))
    assert results[0] == results[1]


@pytest.mark.parametrize("count", [3, 4, 5, 8])
def test_int_arrays_around_16_bytes(count):
    for m in MODULES:
        a = (m.c_int * count)(*range(1, count + 1))
        assert list(a) == list(range(1, count + 1))
        b = (m.c_int * count)()
        assert list(b) == [0] * count
        # addressof points at the bytes that the buffer exports and string_at reads
        assert m.string_at(m.addressof(a), m.sizeof(a)) == bytes(a)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 64])
@pytest.mark.parametrize("grow", [16, 17, 100])
def test_resize_from_fresh_instances(n, grow):
    """resize() on instances made by the fast constructor: inline and heap to larger
    sizes, contents kept, the grown tail zeroed, smaller sizes refused as in ctypes."""
    results = []
    for m in MODULES:
        a = (m.c_char * n)()
        a[:] = b"x" * n
        outcome = []
        if grow < m.sizeof(a):
            with pytest.raises(ValueError):
                m.resize(a, grow)
            outcome.append("refused")
        else:
            m.resize(a, grow)
            outcome.append(m.sizeof(a))
            # The kept contents; the grown tail is not defined by ctypes (heap blocks are
            # reallocated without zeroing), ferrotypes zeroes it.
            outcome.append(m.string_at(m.addressof(a), n))
            if m is ferrotypes:
                assert m.string_at(m.addressof(a) + n, grow - n) == b"\0" * (grow - n)
        results.append(outcome)
    assert results[0] == results[1]


def test_from_buffer_and_fresh_instances_do_not_share():
    for m in MODULES:
        buf = bytearray(64)
        view = (m.c_int * 16).from_buffer(buf)
        fresh = (m.c_int * 16)()
        assert m.addressof(view) != m.addressof(fresh)
        view[0] = 7
        assert fresh[0] == 0 and buf[0] == 7
        small = (m.c_int * 2).from_buffer(buf, 4)
        assert m.addressof(small) == m.addressof(view) + 4


def test_sizeof_of_a_simple_instance_stays_small():
    assert sys.getsizeof(ferrotypes.c_int()) <= sys.getsizeof(ctypes.c_int())


def test_dealloc_releases_objects_and_base():
    """What an instance keeps alive (``_objects``, ``_b_base_``) is released with it, for
    inline and heap instances alike."""
    for m in MODULES:
        for n in (2, 40):
            keep = m.create_string_buffer(8)
            ref = weakref.ref(keep)
            arr = (m.c_char_p * n)()
            arr[0] = m.cast(keep, m.c_char_p)
            assert arr._objects
            del keep
            gc.collect()
            assert ref() is not None
            del arr
            gc.collect()
            assert ref() is None

            outer = (m.c_int * n)()
            outer_ref = weakref.ref(outer)
            element = (m.c_int * n).from_buffer(outer)
            assert element._b_base_ is None and element._objects is not None
            del outer
            gc.collect()
            assert outer_ref() is not None  # kept by the view's _objects
            del element
            gc.collect()
            assert outer_ref() is None


def test_many_instances_of_every_size_survive_collection():
    for m in MODULES:
        kept = [(m.c_ubyte * n)(*([n % 256] * n)) for n in range(0, 40)]
        gc.collect()
        assert [bytes(a) for a in kept] == [bytes([n % 256]) * n for n in range(0, 40)]


# --- p[i] ---------------------------------------------------------------------------------

SCALARS = ["c_byte", "c_ubyte", "c_short", "c_ushort", "c_int", "c_uint", "c_long", "c_ulong",
           "c_longlong", "c_ulonglong", "c_float", "c_double", "c_bool", "c_char", "c_wchar",
           "c_void_p", "c_char_p"]


def pointer_reads(m, name):
    t = getattr(m, name)
    values = {"c_char": b"a", "c_wchar": "z", "c_char_p": b"txt", "c_void_p": 1234,
              "c_bool": True, "c_float": 1.5, "c_double": -2.25}.get(name, 7)
    arr = (t * 4)(values, values, values, values)
    p = m.cast(arr, m.POINTER(t))
    out = [p[0], p[1], p[3], p[True]]
    q = m.pointer(t(values))
    out.append(q[0])
    out.append(p[0:2])
    out.append(p[-1 + 1])
    return out


@pytest.mark.parametrize("name", SCALARS)
def test_pointer_items_of_every_scalar(name):
    assert pointer_reads(ctypes, name) == pointer_reads(ferrotypes, name)


def test_pointer_item_negative_index_and_errors():
    for m in MODULES:
        arr = (m.c_int * 4)(10, 20, 30, 40)
        p = m.cast(m.byref(arr, 8), m.POINTER(m.c_int))
        assert (p[-2], p[-1], p[0], p[1]) == (10, 20, 30, 40)
        null = m.POINTER(m.c_int)()
        with pytest.raises(ValueError):
            null[0]
        with pytest.raises(TypeError):
            p["0"]
        with pytest.raises((IndexError, OverflowError)):
            p[2**70]


def test_pointer_item_of_a_subclass_and_an_override():
    for m in MODULES:
        class MyInt(m.c_int):
            pass

        arr = (MyInt * 2)(MyInt(3), MyInt(4))
        p = m.cast(arr, m.POINTER(MyInt))
        assert isinstance(p[1], MyInt) and p[1].value == 4

        class P(m._Pointer):
            _type_ = m.c_int

            def __getitem__(self, i):
                return ("own", i)

        q = m.cast(arr, P)
        assert q[1] == ("own", 1)

        class Swapped(m.BigEndianStructure if sys.byteorder == "little" else m.LittleEndianStructure):
            _fields_ = [("v", m.c_int)]

        s = Swapped(5)
        assert m.pointer(s)[0].v == 5


def test_pointer_item_in_checked_mode_still_reads():
    arr = (ferrotypes.c_int * 2)(5, 6)
    p = ferrotypes.cast(arr, ferrotypes.POINTER(ferrotypes.c_int))
    with ferrotypes.checked():
        assert p[1] == 6


# --- callbacks ----------------------------------------------------------------------------

def qsort_with(m, values, key):
    libc = m.CDLL(None)
    cmp_t = m.CFUNCTYPE(m.c_int, m.POINTER(m.c_int), m.POINTER(m.c_int))
    seen = []

    def compare(a, b):
        seen.append((type(a).__name__, m.addressof(a.contents) % 4))
        return key(a[0], b[0])

    arr = (m.c_int * len(values))(*values)
    libc.qsort.argtypes = (m.c_void_p, m.c_size_t, m.c_size_t, cmp_t)
    libc.qsort.restype = None
    libc.qsort(arr, len(values), 4, cmp_t(compare))
    return list(arr), set(seen)


@pytest.mark.parametrize("key", [lambda a, b: a - b, lambda a, b: b - a,
                                 lambda a, b: (a > b) - (a < b), lambda a, b: float(a - b) and 0 or (a - b)])
def test_qsort_comparators(key):
    values = [5, -3, 9, 0, 2**31 - 1, -2**31, 7, 7]
    assert qsort_with(ctypes, values, key) == qsort_with(ferrotypes, values, key)


RESULTS = [0, 1, -1, 2**31, 2**32 + 5, -2**40, 2**64 + 3, True, 3.5, "x", None, 2**200]


def callback_results(m, restype):
    """(value, what C got or the exception reported) per result; a result that failed to
    convert is left undefined by ctypes (ferrotypes returns zero: checked here)."""
    outcomes = []
    for value in RESULTS:
        seen = []
        old, sys.unraisablehook = sys.unraisablehook, lambda u: seen.append(u.exc_type.__name__)
        try:
            proto = m.CFUNCTYPE(restype(m), m.c_int)
            cb = proto(lambda _x, value=value: value)
            got = m.cast(cb, m.CFUNCTYPE(restype(m), m.c_int))(0)
        finally:
            sys.unraisablehook = old
        if seen:
            if m is ferrotypes:
                assert got == 0
            outcomes.append((value, seen))
        else:
            outcomes.append((value, got))
    return outcomes


@pytest.mark.parametrize("restype", [lambda m: m.c_int, lambda m: m.c_ubyte, lambda m: m.c_short,
                                     lambda m: m.c_uint, lambda m: m.c_longlong,
                                     lambda m: m.c_ulonglong, lambda m: m.c_double,
                                     lambda m: m.c_float, lambda m: m.c_bool])
def test_callback_plain_number_results(restype):
    assert callback_results(ctypes, restype) == callback_results(ferrotypes, restype)


def test_instance_check_of_fields_and_items_with_a_python_buffer_method():
    """Field access and ``arr[i]`` recognise a ctypes instance by its type's buffer entry
    (``cdata.rs`` ``instance_of``); a subclass that defines ``__buffer__`` (a slot of its
    own from 3.12) is still one, found by the subtype walk, and a non-ctypes object is
    refused as by ctypes."""
    for m in MODULES:
        class P(m.Structure):
            _fields_ = [("x", m.c_int), ("y", m.c_double)]

        class Q(P):
            def __buffer__(self, flags):
                return memoryview(b"not the instance's memory")

        q = Q(3, 4.5)
        q.x += 1
        assert (q.x, q.y) == (4, 4.5)

        class A(m.c_int * 4):
            def __buffer__(self, flags):
                return memoryview(b"")

        a = A(1, 2, 3, 4)
        assert (a[0], a[3], a[-1]) == (1, 4, 4)
        with pytest.raises(TypeError):
            P.x.__get__(object())
        with pytest.raises(TypeError):
            P.x.__set__(object(), 1)

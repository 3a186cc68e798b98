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
import subprocess
import sys
import textwrap
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


def test_field_values_the_raw_setter_declines_take_the_general_path():
    """The raw field setter takes exact ints and floats only; every other value (an int
    subclass, a ctypes instance, a wrong type) goes on to the general setter, once, with
    ctypes' outcome (``cfield.rs`` ``field_descr_set``)."""
    class Big(int):
        pass

    outcomes = []
    for m in MODULES:
        class P(m.Structure):
            _fields_ = [("x", m.c_int), ("y", m.c_double), ("z", m.c_ubyte)]

        p = P()
        got = []
        for field, value in [("x", True), ("x", Big(7)), ("x", m.c_int(9)), ("y", Big(2)),
                             ("z", 257), ("x", 2**40 + 3), ("x", "no"), ("y", None)]:
            try:
                setattr(p, field, value)
                got.append(getattr(p, field))
            except TypeError as e:
                got.append(type(e).__name__)
        with pytest.raises((TypeError, AttributeError)):
            del p.x
        outcomes.append(got)
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][:6] == [1, 7, 9, 2.0, 1, 3]


def _block_cache_state():
    return ferrotypes._ctypes._rs.block_cache_state()


def test_block_cache_reuses_blocks_zeroed_and_bounded():
    """Owned blocks of 17 to 256 bytes are kept on a shelf per 16-byte class when their
    instance goes (``data/block_cache.rs``): a new instance of a size of that class gets one
    back, zeroed over its whole size, and a shelf never holds more than 8."""
    m = ferrotypes
    counts, keeping = _block_cache_state()
    assert keeping and len(counts) == 16 and all(0 <= c <= 8 for c in counts)
    A16 = m.c_int * 16  # 64 bytes: class 3
    hold = [A16() for _ in range(8)]  # empties the shelf of what earlier tests left there
    assert _block_cache_state()[0][3] == 0
    dirty = [A16(*range(1, 17)) for _ in range(20)]
    addresses = {m.addressof(a) for a in dirty}
    del dirty
    gc.collect()
    assert _block_cache_state()[0][3] == 8
    fresh = [A16() for _ in range(8)]
    assert _block_cache_state()[0][3] == 0
    # Blocks of the dropped instances, zeroed for the new ones.
    assert {m.addressof(a) for a in fresh} <= addresses
    assert all(list(a) == [0] * 16 for a in fresh)
    # Another size of the same class (49..64 bytes) takes the same blocks.
    del fresh
    odd = (m.c_char * 50)()
    assert bytes(odd) == b"\0" * 50 and m.addressof(odd) in addresses
    odd[:] = b"y" * 50
    assert _block_cache_state()[0][3] == 7
    del odd
    assert _block_cache_state()[0][3] == 8
    # Sizes beyond the cache and inline ones are not kept.
    before = _block_cache_state()[0]
    big = (m.c_char * 300)()
    small = (m.c_char * 16)()
    del big, small
    assert _block_cache_state()[0] == before
    del hold


def test_block_cache_is_emptied_at_exit():
    """The cache's ``atexit`` hook frees every kept block and stops keeping them: instances
    dropped by later hooks (and during finalization) give their blocks straight back."""
    code = textwrap.dedent("""
        import atexit, gc
        def late():  # registered first, so it runs after ferrotypes' own hooks
            import ferrotypes
            counts, keeping = ferrotypes._ctypes._rs.block_cache_state()
            a = (ferrotypes.c_int * 16)(*range(16))
            del a
            gc.collect()
            after, _ = ferrotypes._ctypes._rs.block_cache_state()
            print("late", sum(counts), keeping, sum(after))
        atexit.register(late)
        import ferrotypes
        arrays = [(ferrotypes.c_int * 16)() for _ in range(5)]
        del arrays
        print("early", sum(ferrotypes._ctypes._rs.block_cache_state()[0]) >= 5)
        keep = (ferrotypes.c_char * 100)()  # freed during finalization
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["early", "True", "late", "0", "False", "0"]


@pytest.mark.parametrize("start, grow, shrink", [(20, 28, None), (20, 200, 24), (17, 256, 17),
                                                 (40, 300, 64), (16, 17, None)])
def test_block_cache_after_resize(start, grow, shrink):
    """A resized instance's block goes back to the class of its final size and still has
    room for every size of that class: instances of the class's largest size made from the
    shelf afterwards are zeroed and hold all their bytes."""
    m = ferrotypes
    for _ in range(3):
        a = (m.c_char * start)()
        m.resize(a, grow)
        m.memset(m.addressof(a), 0x5A, grow)
        if shrink is not None:
            m.resize(a, shrink)  # shrinking keeps the block (and its room)
        final = m.sizeof(a)
        assert m.string_at(m.addressof(a), final) == b"\x5a" * final
        del a
        gc.collect()
        room = (final + 15) // 16 * 16
        made = [(m.c_char * room)() for _ in range(9)]
        for b in made:
            assert bytes(b) == b"\0" * room
            b[:] = b"\xa5" * room
            assert bytes(b) == b"\xa5" * room
        del made

"""Memory: pointers, arrays, strings, buffers and raw memory, beyond CPython's own tests.

Each test states a property a ctypes user relies on and checks it against real memory
(and, where it helps, against the stdlib ctypes on the same machine).
"""
import array
import ctypes as stock
import gc
import pickle
import struct
import sys

import pytest

import ferrotypes as ft



@pytest.fixture
def np():
    """numpy, for the tests that need it (only those skip without it)."""
    return pytest.importorskip("numpy", reason="numpy is not installed for this interpreter")


# --- numpy and the buffer protocol ---------------------------------------------------------

@pytest.mark.parametrize("ctype, dtype", [
    (ft.c_int8, "int8"), (ft.c_uint8, "uint8"), (ft.c_int16, "int16"),
    (ft.c_int32, "int32"), (ft.c_uint64, "uint64"), (ft.c_float, "float32"),
    (ft.c_double, "float64"),
])
def test_numpy_frombuffer_shares_memory(np, ctype, dtype):
    arr = (ctype * 8)(*range(8))
    view = np.frombuffer(arr, dtype=getattr(np, dtype))
    assert view.tolist() == list(range(8))
    view[3] = 42                      # writes through to the ctypes array
    assert arr[3] == 42


def test_numpy_ctypeslib_as_array_round_trip(np):
    arr = ((ft.c_int * 3) * 2)((1, 2, 3), (4, 5, 6))
    nd = np.ctypeslib.as_array(arr)
    assert nd.shape == (2, 3)
    assert nd.tolist() == [[1, 2, 3], [4, 5, 6]]
    nd[1, 2] = -1
    assert arr[1][2] == -1


def test_memoryview_matches_stock_for_arrays_and_pointers():
    for build in (lambda m: (m.c_int * 4)(), lambda m: ((m.c_short * 2) * 3)(),
                  lambda m: m.pointer(m.c_double()), lambda m: m.c_longlong(),
                  lambda m: (m.c_char * 5)(), lambda m: m.POINTER(m.c_short * 2)()):
        mine, theirs = memoryview(build(ft)), memoryview(build(stock))
        assert (mine.format, mine.itemsize, mine.shape, mine.nbytes) == \
            (theirs.format, theirs.itemsize, theirs.shape, theirs.nbytes)


def test_struct_module_reads_exported_buffer():
    arr = (ft.c_uint32 * 3)(1, 0xDEADBEEF, 3)
    assert struct.unpack("<3I", bytes(memoryview(arr))) == (1, 0xDEADBEEF, 3)


# --- large arrays and strings ------------------------------------------------------------

def test_large_array_sum_and_slice():
    n = 1_000_000
    arr = (ft.c_int64 * n)(*range(n))
    assert ft.sizeof(arr) == 8 * n
    assert arr[n - 1] == n - 1
    assert arr[-1] == n - 1
    assert sum(arr[::1000]) == sum(range(0, n, 1000))


def test_bytes_with_embedded_nuls():
    data = b"a\x00b\x00\x00c"
    buf = ft.create_string_buffer(data)
    assert buf.raw == data + b"\x00"      # .raw keeps everything
    assert buf.value == b"a"              # .value stops at the first NUL
    assert ft.string_at(buf, len(data)) == data
    assert buf[:len(data)] == data


def test_unicode_buffer_with_embedded_nul_and_astral_chars():
    text = "x\x00\U0001f600y"
    buf = ft.create_unicode_buffer(text)
    assert buf[:len(text)] == text
    assert buf.value == "x"
    assert ft.wstring_at(buf, len(text)) == text


def test_char_array_value_too_long_raises():
    buf = ft.create_string_buffer(3)
    with pytest.raises(ValueError):
        buf.value = b"toolong"


# --- keep-alive: proven by collecting garbage and reading memory again ------------------

def test_c_char_p_keeps_source_bytes_alive():
    p = ft.c_char_p(b"hello world".upper())   # a fresh bytes object nobody else holds
    gc.collect()
    assert ft.string_at(p.value and ft.cast(p, ft.c_void_p).value) == b"HELLO WORLD"


def test_pointer_keeps_target_alive():
    p = ft.pointer(ft.c_int(1234567))
    gc.collect()
    junk = [ft.c_int(i) for i in range(1000)]  # reuse freed memory if the target died
    assert p.contents.value == 1234567
    del junk


def test_cast_keeps_source_alive():
    src = (ft.c_int * 4)(9, 8, 7, 6)
    ptr = ft.cast(src, ft.POINTER(ft.c_int))
    del src
    gc.collect()
    _ = [bytearray(16) for _ in range(1000)]
    assert ptr[0:4] == [9, 8, 7, 6]


def test_array_of_char_p_keeps_every_item_alive():
    arr = (ft.c_char_p * 3)()
    for i in range(3):
        arr[i] = ("item%d" % i).encode()
    gc.collect()
    assert [arr[i] for i in range(3)] == [b"item0", b"item1", b"item2"]
    assert set(arr._objects) == {"0", "1", "2"}


def test_from_buffer_pins_exporter_size():
    ba = bytearray(16)
    view = (ft.c_char * 16).from_buffer(ba)
    with pytest.raises(BufferError):
        ba.extend(b"x" * 100)      # the export must prevent reallocation under the view
    view[0] = b"Z"
    assert ba[0:1] == b"Z"


def test_from_buffer_rejects_readonly_and_small():
    with pytest.raises(TypeError):
        ft.c_int.from_buffer(b"\x00" * 4)
    with pytest.raises(ValueError):
        ft.c_int.from_buffer(bytearray(3))
    with pytest.raises(ValueError):
        ft.c_int.from_buffer(bytearray(8), 6)
    with pytest.raises(ValueError):
        ft.c_int.from_buffer_copy(b"\x00" * 3)


def test_from_buffer_of_array_module():
    a = array.array("i", [1, 2, 3, 4])
    view = (ft.c_int * 4).from_buffer(a)
    view[2] = 30
    assert a.tolist() == [1, 2, 30, 4]


# --- raw memory and resize ---------------------------------------------------------------

def test_resize_only_grows_owned_memory():
    buf = ft.create_string_buffer(4)
    ft.resize(buf, 64)
    assert ft.sizeof(buf) == 64
    ft.memset(ft.addressof(buf) + 60, ord("q"), 4)
    assert ft.string_at(ft.addressof(buf) + 60, 4) == b"qqqq"
    with pytest.raises(ValueError):
        ft.resize(buf, 2)
    borrowed = (ft.c_char * 4).from_address(ft.addressof(buf))
    with pytest.raises(ValueError):
        ft.resize(borrowed, 128)


def test_memmove_and_string_at_on_addresses():
    src = ft.create_string_buffer(b"abcdef")
    dst = ft.create_string_buffer(6)
    ft.memmove(dst, src, 6)
    assert dst.raw == b"abcdef"
    assert ft.string_at(ft.addressof(src) + 2, 3) == b"cde"


def test_pointer_indexing_slicing_and_assignment():
    arr = (ft.c_double * 5)(0.5, 1.5, 2.5, 3.5, 4.5)
    p = ft.cast(arr, ft.POINTER(ft.c_double))
    assert p[4] == 4.5
    assert p[1:4] == [1.5, 2.5, 3.5]
    assert p[4:0:-2] == [4.5, 2.5]
    p[0] = -1.0
    assert arr[0] == -1.0
    q = ft.pointer(arr[1:2] and ft.c_double.from_buffer(arr, 8))
    assert q[0] == 1.5 and q[-1] == -1.0


def test_index_errors_and_type_errors():
    arr = (ft.c_int * 2)()
    with pytest.raises(IndexError):
        arr[2]
    with pytest.raises(IndexError):
        arr[-3] = 1
    with pytest.raises(TypeError):
        arr[0] = "x"
    with pytest.raises(TypeError):
        del arr[0]


# --- pickling and refcounts -----------------------------------------------------------------

class Triple(ft.c_short * 3):
    """A named array type: pickle finds classes by module and name."""


def test_pickle_round_trip_of_arrays_and_values():
    for obj in (ft.c_int(-7), ft.c_double(2.25), Triple(1, 2, 3)):
        clone = pickle.loads(pickle.dumps(obj))
        assert type(clone) is type(obj)
        assert bytes(memoryview(clone)) == bytes(memoryview(obj))


def test_pointers_cannot_be_pickled():
    with pytest.raises(ValueError):
        pickle.dumps(ft.pointer(ft.c_int()))
    with pytest.raises(ValueError):
        pickle.dumps(ft.c_char_p(b"x"))


def test_refcount_of_keepalive_objects_drops_back():
    payload = b"refcount-probe-" + bytes(range(20))
    before = sys.getrefcount(payload)
    holders = [ft.c_char_p(payload) for _ in range(10)]
    assert sys.getrefcount(payload) == before + 10
    del holders
    gc.collect()
    assert sys.getrefcount(payload) == before


def test_pointer_contents_accepts_any_ctypes_instance():
    # CPython 3.11 type-checks only non-ctypes objects here.
    buf = ft.create_string_buffer(b"abc")
    p = ft.POINTER(ft.c_char)(buf)
    assert p[:3] == b"abc"
    q = ft.POINTER(ft.c_int)()
    q.contents = ft.c_double(1.5)
    assert ft.addressof(q.contents) != 0
    with pytest.raises(TypeError):
        q.contents = 5


class _Index:
    def __init__(self, value):
        self.value = value

    def __index__(self):
        return self.value


@pytest.mark.parametrize("index", [2**70, -2**70, _Index(2**64), 5, -4, 1.5, "x", _Index(1)])
def test_array_and_pointer_subscripts_raise_what_ctypes_raises(index):
    # Found by fuzz/python/convert_fuzz.py: an index beyond ssize_t made `a[i] = v` a
    # TypeError and `p[i]` an OverflowError; ctypes says IndexError for both.
    def outcomes(m):
        a = (m.c_int8 * 3)()
        p = m.pointer(m.c_int8(1))
        out = []
        for op in (lambda: a[index], lambda: a.__setitem__(index, 1),
                   lambda: p[index] if not isinstance(index, (int, _Index)) else None,
                   lambda: p[index] if isinstance(index, int) and abs(index) > 2**63 else None):
            try:
                out.append(("ok", op()))
            except Exception as exc:  # noqa: BLE001 - compared by type
                out.append(("exc", type(exc).__name__))
        return out

    assert outcomes(ft) == outcomes(stock)


def test_array_item_raw_and_general_paths_agree():
    import ctypes as stock
    for api in (ft, stock):
        a = (api.c_int * 4)(10, -20, 30, 2**31 - 1)
        assert [a[i] for i in range(-4, 4)] == [10, -20, 30, 2**31 - 1] * 2
        for bad in (4, -5, 2**70, -(2**70)):
            with pytest.raises(IndexError):
                a[bad]
        assert a[True] == -20          # bool is not an exact int: the general path
        assert a[1:3] == [-20, 30]
        d = (api.c_double * 2)(1.5, -2.5)
        assert (d[0], d[-1]) == (1.5, -2.5)
        c = (api.c_char * 3)(b"a", b"b")
        assert c[1] == b"b"            # not a raw kind: the general path

    class Mine(ft.c_int * 3):
        def __getitem__(self, i):
            return ("mine", i)

    assert Mine()[1] == ("mine", 1)
    A = ft.c_uint8 * 2
    a = A(1, 2)
    A.__getitem__ = lambda self, i: "patched"
    assert a[0] == "patched"


def test_storage_info_lookups_follow_class_changes():
    class P(ft.Structure):
        _fields_ = [("x", ft.c_int)]

    p = P(3)
    assert ft.sizeof(P) == 4 and p.x == 3
    P.extra = 1                        # a class change: cached lookups must not go stale
    assert P(5).x == 5 and ft.sizeof(P) == 4
    A = ft.c_int * 2
    arr = A(7, 8)
    A.note = "changed"
    assert arr[1] == 8 and A()[0] == 0


# --- from_buffer / string_at as C functions (issue #15): same results and errors as stock ----

def _outcome(f, *args):
    try:
        r = f(*args)
    except Exception as exc:  # the type and message are what is compared
        return type(exc).__name__, str(exc).replace("ferrotypes", "ctypes")
    return "ok", bytes(r) if not isinstance(r, (bytes, str)) else r


@pytest.mark.parametrize("make_args", [
    lambda: (), lambda: (bytearray(16), 0, 1), lambda: (b"x" * 16,),
    lambda: (bytearray(16), -1), lambda: (bytearray(15),), lambda: (bytearray(20), 8),
    lambda: (memoryview(bytearray(32))[::2],), lambda: ("a" * 16,),
    lambda: (bytearray(16), 1.5), lambda: (bytearray(b"0123456789abcdef"), 0),
    lambda: (array.array("i", range(4)),),
], ids=range(11))
@pytest.mark.parametrize("method", ["from_buffer", "from_buffer_copy"])
def test_from_buffer_outcomes_match_stock(make_args, method):
    mine = getattr(ft.c_int * 4, method)
    theirs = getattr(stock.c_int * 4, method)
    got, want = _outcome(mine, *make_args()), _outcome(theirs, *make_args())
    if method == "from_buffer_copy" and want[0] == "TypeError" and got[0] == "ok":
        pytest.skip("strided buffers: from_buffer_copy copies in C order here (unchanged)")
    if want[0] == "TypeError" and "argument" in want[1]:
        assert got[0] == "TypeError"  # the argument-count wording differs by version
    else:
        assert got == want


@pytest.mark.parametrize("kind", [ft.c_int, ft.c_int * 2, ft.POINTER(ft.c_int)])
def test_from_buffer_is_a_c_method_that_pins_the_exporter(kind):
    # A C method bound to the class (no Python frame), on every kind of C-data class.
    assert type(kind.from_buffer).__name__ == "builtin_function_or_method"
    assert kind.from_buffer.__self__ is kind
    ba = bytearray(ft.sizeof(kind) + 8)
    x = kind.from_buffer(ba, 8)
    assert ft.addressof(x) == ft.addressof((ft.c_char * len(ba)).from_buffer(ba)) + 8
    y = getattr(stock, kind.__name__, None) if kind is ft.c_int else None
    kept = x._objects if isinstance(x._objects, memoryview) else list(x._objects.values())
    if y is not None:  # a simple instance keeps the view itself, as stock's
        assert isinstance(y.from_buffer(bytearray(4))._objects, memoryview)
        assert isinstance(kept, memoryview)
    else:
        assert [type(v) for v in kept] == [memoryview]
    with pytest.raises(BufferError):
        ba.append(1)
    del x, kept
    gc.collect()
    ba.append(1)


def _objects_outline(v):
    """An `_objects` value with memoryviews shown by their bytes, format and flags, keys as
    text, and other objects by their type's name."""
    if isinstance(v, memoryview):
        return ("mv", v.tobytes(), v.format, v.readonly, v.nbytes)
    if isinstance(v, dict):
        return {str(k): _objects_outline(w) for k, w in v.items()}
    return v if v is None or isinstance(v, (bytes, str, int)) else type(v).__name__


@pytest.mark.parametrize("exporter", [
    lambda: bytearray(b"0123456789abcdef" * 2), lambda: array.array("i", range(8)),
    lambda: memoryview(bytearray(b"0123456789abcdef" * 2)),
    lambda: memoryview(bytearray(b"..0123456789abcdef" * 2))[2:],
], ids=["bytearray", "array", "memoryview", "sliced-memoryview"])
@pytest.mark.parametrize("kind", ["c_int", "c_int * 4", "Structure"])
def test_from_buffer_objects_match_stock_whenever_asked(exporter, kind):
    # The export is held without a memoryview until `_objects` is read; what is read then,
    # and after keeping more (a pointer field set, a cast), is what stock shows.
    def make(lib):
        class S(lib.Structure):
            _fields_ = [("n", lib.c_int), ("s", lib.c_char_p), ("p", lib.POINTER(lib.c_int))]
        cls = {"c_int": lib.c_int, "c_int * 4": lib.c_int * 4, "Structure": S}[kind]
        x = cls.from_buffer(exporter(), 0)
        seen = [_objects_outline(x._objects)]
        if kind == "Structure":
            x.s = b"kept"
            seen.append(_objects_outline(x._objects))
        elif kind == "c_int * 4":
            lib.cast(x, lib.c_void_p)
            seen.append(sorted("id" if len(str(k)) > 8 else str(k) for k in x._objects))
        return seen
    assert make(ft) == make(stock)


def test_from_buffer_of_a_memoryview_leaves_it_releasable():
    m = memoryview(bytearray(16))
    x = (ft.c_char * 8).from_buffer(m)
    m.release()                 # the instance keeps its own view of the memory, as stock's
    x[0] = b"A"
    assert x.raw[:1] == b"A"


@pytest.mark.parametrize("via", ["bytearray", "memoryview", "array"])
def test_from_buffer_instances_in_cycles_are_collected_and_release_the_export(via):
    # A held export is visited by the garbage collector through its exporter, and a
    # memoryview exporter is never cleared from under an instance (CPython's
    # test_from_buffer_memoryview crashed an earlier version in gc.collect()).
    gc.collect()
    owners = []
    for _ in range(200):
        base = array.array("i", range(4)) if via == "array" else bytearray(16)
        src = memoryview(base) if via == "memoryview" else base
        x = (ft.c_int * 4).from_buffer(src)
        cycle = [x]
        cycle.append(cycle)
        owners.append(base)
        del x, cycle, src
    gc.collect()
    for base in owners:          # every export was released: the exporters resize again
        base.append(1) if via == "array" else base.extend(b"x")
    class Holder:
        pass
    h = Holder()
    h.buf = bytearray(16)
    h.inst = ft.c_int.from_buffer(h.buf)
    h.me = h
    ref = __import__("weakref").ref(h)
    del h
    gc.collect()
    assert ref() is None           # a cycle around an instance and its exporter is collected


@pytest.mark.skipif(sys.version_info < (3, 12), reason="__buffer__ in Python classes is 3.12+")
def test_from_buffer_of_a_python_buffer_class_releases_through_it():
    events = []

    class Exporter:
        def __init__(self):
            self.data = bytearray(16)

        def __buffer__(self, flags):
            events.append("get")
            return memoryview(self.data)

        def __release_buffer__(self, view):
            events.append("release")
            view.release()

    e = Exporter()
    x = (ft.c_int * 4).from_buffer(e)
    x[1] = 5
    assert e.data[4] == 5 and events == ["get"]
    del x
    gc.collect()
    assert events == ["get", "release"]
    # An exporter that keeps the instance made over it: the cycle runs through the held
    # export, which the collector sees only through the instance's traverse.
    refs = []
    for _ in range(50):
        e = Exporter()
        e.inst = (ft.c_int * 4).from_buffer(e)
        refs.append(__import__("weakref").ref(e))
        del e
    gc.collect()
    assert not [r for r in refs if r() is not None]
    assert events.count("get") == events.count("release") == 51


def test_from_buffer_takes_no_keywords_as_stock():
    with pytest.raises(TypeError):
        stock.c_int.from_buffer(bytearray(4), offset=0)
    with pytest.raises(TypeError):
        ft.c_int.from_buffer(bytearray(4), offset=0)


@pytest.mark.parametrize("args", [
    lambda b: (ft.addressof(b),), lambda b: (ft.addressof(b), 3), lambda b: (b,), lambda b: (b, 2),
    lambda b: (ft.addressof(b), None), lambda b: (ft.addressof(b), 1.0), lambda b: ("xy",),
    lambda b: (ft.addressof(b), 2**40), lambda b: (True, 0),
], ids=range(9))
def test_string_at_outcomes_match_pyfunctype_path(args):
    buf = ft.create_string_buffer(b"hello")
    got = _outcome(ft.string_at, *args(buf))
    want = _outcome(ft._string_at, *(a if i or not isinstance(a, int) or isinstance(a, bool) else a
                                     for i, a in enumerate(args(buf) + ((-1,) if len(args(buf)) == 1 else ()))))
    assert got == want


def test_wstring_at_direct_and_converted():
    buf = ft.create_unicode_buffer("h\u00e9llo")
    assert ft.wstring_at(ft.addressof(buf)) == "h\u00e9llo"
    assert ft.wstring_at(ft.addressof(buf), 2) == "h\u00e9"
    assert ft.wstring_at(buf, 3) == "h\u00e9l"
    with pytest.raises(ft.ArgumentError):
        ft.wstring_at(ft.addressof(buf), None)
    assert ft.string_at(ptr=ft.addressof(buf), size=1) == b"h"

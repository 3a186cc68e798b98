"""What differs between CPython versions follows the running interpreter's own ctypes.

Each check runs the same thing through the stdlib ``ctypes`` of this interpreter and through
ferrotypes and compares: which names ``_ctypes`` exports (``SIZEOF_TIME_T`` from 3.12;
``CField``, ``dllist``, ``_memoryview_at_addr`` from 3.14; ``__version__`` deprecated in
3.15), the wording of conversion errors (3.12, 3.13, 3.14 each changed some), and the
behaviour of the new functions. The public package offers the newest API on every version
(``tests/test_newest.py``): names a later version added are there on this one too, the
ones a later version removed follow this one.
"""

import ctypes
import ctypes.util
import ctypes.wintypes
import sys
import warnings

import _ctypes
import pytest

import ferrotypes
import ferrotypes._ctypes
import ferrotypes.util
import ferrotypes.wintypes
from support import require_stock

require_stock(ctypes)

PAIRS = [(ctypes, ferrotypes), (_ctypes, ferrotypes._ctypes), (ctypes.util, ferrotypes.util)]


@pytest.mark.parametrize("name", [
    "SIZEOF_TIME_T", "CField", "dllist", "_memoryview_at_addr", "_pointer_type_cache",
])
def test_private_names_come_and_go_with_the_version(name):
    stock, ours = PAIRS[1]
    assert (name in dir(ours)) == (name in dir(stock)), (stock.__name__, name)


@pytest.mark.parametrize("name", ["SIZEOF_TIME_T", "c_time_t", "memoryview_at", "CField",
                                  "dllist", "c_double_complex", "c_float_complex",
                                  "c_longdouble_complex"])
def test_public_names_are_there_on_every_version(name):
    assert name in dir(ferrotypes) or name in dir(ferrotypes.util), name


@pytest.mark.parametrize("name", ["SetPointerType", "_ctypes_version"])
def test_removed_names_go_with_the_version(name):
    for stock, ours in PAIRS:
        assert (name in dir(ours)) == (name in dir(stock)), (stock.__name__, name)


def test_time_t():
    assert ferrotypes.sizeof(ferrotypes.c_time_t) == ferrotypes.SIZEOF_TIME_T
    if sys.version_info < (3, 12):
        return
    assert ferrotypes.SIZEOF_TIME_T == ctypes.SIZEOF_TIME_T
    assert ferrotypes.sizeof(ferrotypes.c_time_t) == ctypes.sizeof(ctypes.c_time_t)
    assert ferrotypes.c_time_t._type_ == ctypes.c_time_t._type_


def _outcome(thunk):
    try:
        return ("ok", repr(thunk()))
    except Exception as exc:  # the comparison is the point
        return (type(exc).__name__, str(exc))


VALUES = [b"abc", b"", bytearray(b"xy"), 300, -1, "x", "abc", "", 1.5, None, object(), 10]


@pytest.mark.parametrize("type_name", ["c_char", "c_wchar", "c_int", "c_double", "c_char_p",
                                       "c_wchar_p", "c_void_p", "c_bool"])
def test_from_param_and_argument_messages(type_name):
    for value in VALUES:
        results = []
        for m in (ctypes, ferrotypes):
            typ = getattr(m, type_name)
            from_param = _outcome(lambda: type(typ.from_param(value)).__name__)
            callback = m.CFUNCTYPE(m.c_int, typ)(lambda *args: 0)
            call = _outcome(lambda: callback(value))
            results.append((from_param, call))
        # CArgObject vs the instance's own type name: compare the outcome kind and message.
        (stock_fp, stock_call), (ours_fp, ours_call) = results
        assert ours_fp[0] == stock_fp[0], (type_name, value, ours_fp, stock_fp)
        if ours_fp[0] != "ok":
            assert ours_fp == stock_fp, (type_name, value)
        assert ours_call == stock_call, (type_name, value)


@pytest.mark.parametrize("type_name", ["c_char", "c_wchar"])
def test_value_messages(type_name):
    for value in VALUES:
        assert (_outcome(lambda: getattr(ferrotypes, type_name)(value).value)
                == _outcome(lambda: getattr(ctypes, type_name)(value).value)), value


def test_library_loader_attribute_error():
    # 3.12: a library that cannot be loaded is a missing attribute of cdll.
    for m in (ctypes, ferrotypes):
        outcome = _outcome(lambda: getattr(m.cdll, "ferrotypes_no_such_library"))
        assert outcome[0] == ("OSError" if sys.version_info < (3, 12) else "AttributeError")


def test_wintypes_byte_signedness():
    assert ferrotypes.wintypes.BYTE(-1).value == ctypes.wintypes.BYTE(-1).value
    assert ferrotypes.wintypes.BOOLEAN(-1).value == ctypes.wintypes.BOOLEAN(-1).value
    for name in ("HCURSOR", "HFILE", "HRESULT"):
        assert hasattr(ferrotypes.wintypes, name) == hasattr(ctypes.wintypes, name)


def test_version_attribute():
    for stock, ours in PAIRS[:2]:
        with warnings.catch_warnings(record=True) as stock_seen:
            warnings.simplefilter("always")
            stock_value = stock.__version__
        with warnings.catch_warnings(record=True) as our_seen:
            warnings.simplefilter("always")
            our_value = ours.__version__
        assert our_value == stock_value == "1.1.0"
        assert ([(w.category, str(w.message), w.filename) for w in our_seen]
                == [(w.category, str(w.message), w.filename) for w in stock_seen])
        assert bool(our_seen) == (sys.version_info >= (3, 15))


def test_dllist():
    names = ferrotypes.util.dllist()
    assert all(isinstance(n, str) for n in names)
    assert any("libc.so" in n for n in names)
    if sys.version_info < (3, 14):
        return
    # The same loader, the same list (both read dl_iterate_phdr in this process).
    assert names == ctypes.util.dllist()


def test_memoryview_at():
    buf = (ferrotypes.c_char * 4)(*b"abcd")
    view = ferrotypes.memoryview_at(buf, 4)
    assert bytes(view) == b"abcd" and not view.readonly
    view[0] = ord("z")
    assert buf.raw == b"zbcd"
    assert ferrotypes.memoryview_at(ferrotypes.addressof(buf), 2, readonly=True).readonly
    for size in (-1, sys.maxsize + 1):
        with pytest.raises(ValueError):
            ferrotypes.memoryview_at(buf, size)
    assert bytes(ferrotypes.memoryview_at(buf, 0)) == b""


def test_dlsym_of_a_missing_symbol():
    for stock, ours in PAIRS[1:2]:
        handle = stock.dlopen(None)
        ours_handle = ours.dlopen(None)
        assert (_outcome(lambda: ours.dlsym(ours_handle, "ferrotypes_no_such_symbol"))[0]
                == _outcome(lambda: stock.dlsym(handle, "ferrotypes_no_such_symbol"))[0])

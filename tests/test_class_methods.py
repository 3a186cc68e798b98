"""The metaclass methods every C-data class has (``from_buffer``, ``from_buffer_copy``,
``from_address``, ``in_dll``), bound once per class (``data/class_methods.rs``), against
the stdlib ctypes.

CPython makes a new bound method on every ``T.from_buffer`` access; ferrotypes keeps the
one it made first in the class's own storage info. Everything but identity (and, from
3.13, stock's ``builtin_method`` subclass) must look and behave as stock's: the bound
method's name and ``__self__``, the class it is bound to for every subclass, the
refusal on instances, argument errors, the descriptor seen through the metaclass, and
classes being collected.
"""

import ctypes
import gc
import pickle
import sys
import types
import weakref

import pytest

import ferrotypes
from support import require_stock

require_stock(ctypes)

MODULES = (ctypes, ferrotypes)
METHODS = ("from_buffer", "from_buffer_copy", "from_address", "in_dll")


def kinds(m):
    """One class of every kind (name, class)."""

    class Pair(m.Structure):
        _fields_ = [("a", m.c_int), ("b", m.c_int)]

    class Either(m.Union):
        _fields_ = [("i", m.c_int), ("f", m.c_float)]

    return {
        "simple": m.c_int,
        "struct": Pair,
        "union": Either,
        "array": m.c_int * 2,
        "pointer": m.POINTER(m.c_int),
        "funcptr": m.CFUNCTYPE(m.c_int),
    }


@pytest.mark.parametrize("kind", ["simple", "struct", "union", "array", "pointer", "funcptr"])
@pytest.mark.parametrize("name", METHODS)
def test_bound_method_looks_like_stock(kind, name):
    seen = []
    for m in MODULES:
        cls = kinds(m)[kind]
        method = getattr(cls, name)
        assert method.__self__ is cls
        # A built-in method either way (3.13+ stock's is the `builtin_method` subclass).
        assert isinstance(method, types.BuiltinMethodType)
        seen.append((method.__name__, callable(method)))
        # A second access gives a method bound to the same class, equal to the first.
        again = getattr(cls, name)
        assert again.__self__ is cls and again == method
    assert seen[0] == seen[1]


@pytest.mark.parametrize("base_first", [True, False])
def test_subclasses_get_methods_bound_to_themselves(base_first):
    for m in MODULES:

        class Base(m.Structure):
            _fields_ = [("x", m.c_int)]

        class Sub(Base):
            pass

        class SubSub(Sub):
            _fields_ = [("y", m.c_int)]

        order = (Base, Sub, SubSub) if base_first else (SubSub, Sub, Base)
        for cls in order + order:
            for name in METHODS:
                assert getattr(cls, name).__self__ is cls, (m.__name__, cls, name)
        buf = bytearray(8)
        buf[:4] = (7).to_bytes(4, sys.byteorder)
        for cls in order:
            obj = cls.from_buffer(buf)
            assert type(obj) is cls and obj.x == 7
            copy = cls.from_buffer_copy(bytes(buf))
            assert type(copy) is cls and copy.x == 7


def test_results_match_stock():
    results = []
    for m in MODULES:
        arr = (m.c_int * 3)(1, 2, 3)
        buf = bytearray(bytes(arr))
        shared = (m.c_int * 3).from_buffer(buf)
        buf[:4] = (9).to_bytes(4, sys.byteorder)
        copied = (m.c_int * 3).from_buffer_copy(bytes(arr))
        at = m.c_int.from_address(m.addressof(arr) + m.sizeof(m.c_int))
        results.append((list(shared), list(copied), at.value, shared._objects is not None))
    assert results[0] == results[1]


@pytest.mark.parametrize("name", METHODS)
def test_instances_do_not_see_the_methods(name):
    for m in MODULES:
        inst = kinds(m)["struct"]()
        with pytest.raises(AttributeError):
            getattr(inst, name)
        assert not hasattr(m.c_int(1), name)


@pytest.mark.parametrize("name", METHODS)
def test_metaclass_access_is_the_method_descriptor(name):
    seen = []
    for m in MODULES:
        descr = getattr(type(m.c_int), name)
        seen.append((type(descr).__name__, descr.__name__, descr.__doc__ is not None, callable(descr)))
        # Bound by hand, also without an owner (where 3.13.0's stock descriptor crashes).
        if m is ferrotypes:
            assert descr.__get__(m.c_int).__self__ is m.c_int
    assert seen[0] == seen[1]
    for m in MODULES:
        buf = bytearray(4)
        assert type(type(m.c_int).from_buffer(m.c_int, buf)) is m.c_int
        assert type(m.c_int).from_buffer_copy(m.c_int, b"\x05\0\0\0", 0).value == 5


@pytest.mark.parametrize("name", METHODS)
def test_namespace_entry_stands_for_the_method_descriptor(name):
    """The metaclass namespace holds the per-class descriptor: metaclass access gives the
    method descriptor it wraps, its attributes and repr are that descriptor's, calling it
    calls the method, and its own `__get__` binds (also given a class alone)."""
    meta = next(k for k in type(ferrotypes.c_int).__mro__ if name in vars(k))
    entry = vars(meta)[name]
    descr = getattr(type(ferrotypes.c_int), name)
    assert type(descr).__name__ == "method_descriptor"
    assert entry.__get__(None, meta) is descr
    assert entry.__name__ == descr.__name__ and repr(entry) == repr(descr)
    assert entry.__name__ == name and name in entry.__qualname__
    assert entry.__objclass__ is meta
    assert entry.__doc__.startswith(f"C.{name}(")
    assert entry.__class__ is type(entry)
    assert repr(entry) == f"<method '{name}' of '{meta.__module__}.{meta.__name__}' objects>"
    for cls in (ferrotypes.c_int, ferrotypes.c_char * 3):
        bound = entry.__get__(cls)
        assert bound.__self__ is cls and bound.__name__ == name
        assert entry.__get__(cls, meta).__self__ is cls
    with pytest.raises(TypeError):
        entry.__get__(42)
    if name == "from_buffer_copy":
        assert entry(ferrotypes.c_int, b"\x03\0\0\0").value == 3


def test_class_body_definition_wins():
    for m in MODULES:

        class Own(m.Structure):
            _fields_ = [("x", m.c_int)]

            @classmethod
            def from_buffer(cls, source):
                return ("own", cls, source)

        assert Own.from_buffer(b"z") == ("own", Own, b"z")
        assert Own.from_buffer_copy(b"\x01\0\0\0").x == 1


def test_errors_match_stock():
    for m in MODULES:
        with pytest.raises(TypeError):
            m.c_int.from_buffer(b"\0\0\0\0")  # read-only
        with pytest.raises(ValueError):
            m.c_int.from_buffer(bytearray(2))
        with pytest.raises(TypeError):
            m.c_int.from_address("x")
        with pytest.raises(TypeError):
            m.c_int.in_dll()
        with pytest.raises(TypeError):
            type(m.c_int).from_buffer(42, bytearray(4))


def test_derived_metaclass():
    for m in MODULES:

        class Meta(type(m.Structure)):
            pass

        class Tagged(m.Structure, metaclass=Meta):
            _fields_ = [("x", m.c_int)]

        assert Tagged.from_buffer.__self__ is Tagged
        assert Tagged.from_buffer_copy(b"\x02\0\0\0").x == 2


@pytest.mark.parametrize("name", METHODS)
def test_classes_with_bound_methods_are_collected(name):
    """The kept method refers to its class, and the class's storage info to the method:
    the collector sees that cycle, so the class goes once unreachable."""
    m = ferrotypes

    class Gone(m.Structure):
        _fields_ = [("x", m.c_int)]

    getattr(Gone, name)
    array_type = Gone * 2
    getattr(array_type, name)
    refs = [weakref.ref(Gone), weakref.ref(array_type)]
    del Gone, array_type
    for _ in range(3):
        gc.collect()
    assert [r() for r in refs] == [None, None]


def test_bound_method_is_kept_once_per_class():
    """What ferrotypes does differently: one bound method per class, for every access."""
    T = ferrotypes.c_char * 8
    assert T.from_buffer is T.from_buffer
    assert T.from_buffer is not (ferrotypes.c_char * 9).from_buffer
    assert ctypes.c_int.from_buffer is not ctypes.c_int.from_buffer


BAD_CALLS = [
    ("from_buffer", (), {}),
    ("from_buffer", (1, 2, 3), {}),
    ("from_buffer", (bytearray(4),), {"offset": 0}),
    ("from_buffer", (), {"obj": bytearray(4)}),
    ("from_buffer", (), {"a": 1, "b": 2, "c": 3}),
    ("from_buffer", (bytearray(4), 0), {"x": 1}),
    ("from_buffer_copy", (b"", 1, 2), {}),
    ("from_buffer_copy", (b"\0\0\0\0",), {"offset": 0}),
    ("from_address", (), {}),
    ("from_address", (1, 2), {}),
    ("from_address", (), {"a": 1}),
    ("from_address", (), {"a": 1, "b": 2}),
    ("in_dll", (1,), {}),
    ("in_dll", (1, 2, 3), {}),
    ("in_dll", (), {"x": 1}),
    ("in_dll", (1, 2), {"name": "x"}),
]


@pytest.mark.parametrize("name, args, kwargs", BAD_CALLS)
def test_argument_errors_match_stock(name, args, kwargs):
    """Wrong counts and keywords raise stock's TypeError with its message: up to 3.12 that
    of a plain C method, from 3.13 Argument Clinic's."""
    messages = []
    for m in MODULES:
        with pytest.raises(TypeError) as info:
            getattr(m.c_int, name)(*args, **kwargs)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("name", METHODS)
def test_pickle_and_copy(name):
    """Bound methods pickle by name, as stock's do; the metaclass-level descriptor reduces
    as the method descriptor does (which neither module's metaclass lets pickle find)."""
    outcomes = []
    for m in MODULES:
        bound = getattr(m.c_int, name)
        again = pickle.loads(pickle.dumps(bound))
        assert again.__self__ is m.c_int and again.__name__ == name
        descr = getattr(type(m.c_int), name)
        func, args = descr.__reduce_ex__(2)[:2]
        assert func is getattr and args[1] == name and isinstance(m.c_int, args[0])
        assert func(*args).__name__ == name
        try:
            pickle.dumps(descr)
            outcomes.append("pickled")
        except pickle.PicklingError:
            outcomes.append(pickle.PicklingError)
    assert outcomes[0] == outcomes[1]

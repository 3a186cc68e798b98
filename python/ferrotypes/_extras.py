"""ferrotypes' additions beyond the ctypes API (``docs/guide/checked.md``).

* **Checked mode**: ``checked()`` turns on the safety nets of ``ferrotypes._ctypes`` for a
  block or a function: memory probes before ``string_at``/``from_address``/pointer
  dereferences/``memmove``, fault recovery around foreign calls, warnings for calls without
  a signature, and reports for callbacks called after they were collected.
  ``FERROTYPES_CHECKED=1`` turns it on for the whole process.
* **Ownership and errors**: ``owned()`` and the ``errcheck`` helpers
  ``check_null``/``check_errno_nonzero``, the conventions C APIs need and ctypes leaves to
  every caller.
* **Annotated structures**: ``Struct`` and ``TypedUnion``.

The package exports these names through small proxies that import this module on first
use (``ferrotypes._LazyExport``), so ``import ferrotypes`` does not pay for it.
"""

import os as _os
import sys as _sys

from . import _ctypes
from . import Structure as _Structure, Union as _Union

__all__ = ["SignatureWarning", "checked", "is_checked", "owned", "check_null", "check_errno_nonzero",
           "Struct", "TypedUnion"]



SignatureWarning = _ctypes._SignatureWarning


class _CheckedScope:
    """One checked-mode scope: a context manager, and a decorator for functions."""

    __slots__ = ()

    def __enter__(self):
        _ctypes._checked_enter()
        return self

    def __exit__(self, *exc_info):
        _ctypes._checked_exit()
        return False

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def run_checked(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return run_checked


def checked(func=None):
    """Checked mode for a ``with`` block or a decorated function.

    ``with ferrotypes.checked(): ...``, ``@ferrotypes.checked()`` and ``@ferrotypes.checked``
    all work; scopes nest. The mode is process-wide: while any scope is open (on any thread),
    every thread's foreign calls and memory accesses are checked.
    """
    scope = _CheckedScope()
    if func is None:
        return scope
    return scope(func)


def is_checked():
    """Whether checked mode is on (a scope is open, or ``FERROTYPES_CHECKED=1``)."""
    return _ctypes._is_checked()


# --- owned pointers --------------------------------------------------------------------


def _address(ptr):
    """The address held by an integer, ``c_void_p``, ``c_char_p``, pointer or ``owned``."""
    from . import c_void_p, cast, _SimpleCData, _Pointer

    if ptr is None:
        return 0
    if isinstance(ptr, owned):
        return ptr.value
    if isinstance(ptr, int):
        return ptr
    if isinstance(ptr, (bytes, str)):
        raise TypeError(
            "owned() needs the pointer, not a copy of the string it points to: "
            "declare the function's restype as c_void_p or POINTER(c_char)"
        )
    if isinstance(ptr, (_SimpleCData, _Pointer)) or hasattr(ptr, "_b_base_"):
        return cast(ptr, c_void_p).value or 0
    raise TypeError(f"owned() expects an address or a ctypes pointer, not {type(ptr).__name__}")


def _release(free, address):
    from . import c_void_p

    free(c_void_p(address))


class owned:
    """A pointer returned by C that this object frees, exactly once.

    ``owned(lib.strdup(b"x"), free=libc.free)`` with ``restype`` ``c_void_p`` or a
    ``POINTER`` type (or a plain integer address). ``close()``, leaving a ``with`` block, or
    garbage collection (a ``weakref.finalize``) call ``free(address)``; whichever comes
    first wins and the others do nothing. After ``close()``, ``.ptr``, ``.value`` and passing
    the object to a foreign function raise ``ValueError``. A NULL pointer is never freed.
    """

    __slots__ = ("_ptr", "_address", "_finalizer", "__weakref__")

    def __init__(self, ptr, free):
        if not callable(free):
            raise TypeError("free must be callable (a foreign function such as libc.free)")
        self._ptr = ptr
        self._address = _address(ptr)
        if self._address:
            import weakref

            self._finalizer = weakref.finalize(self, _release, free, self._address)
        else:
            self._finalizer = None

    def _check_open(self):
        if self.closed:
            raise ValueError("use of an owned pointer after close()")

    @property
    def ptr(self):
        """The pointer object as given (e.g. the ``POINTER`` instance)."""
        self._check_open()
        return self._ptr

    @property
    def value(self):
        """The address as an integer (0 for NULL)."""
        self._check_open()
        return self._address

    @property
    def _as_parameter_(self):
        from . import c_void_p

        self._check_open()
        return c_void_p(self._address)

    @property
    def closed(self):
        """Whether the memory was freed (or handed back with :meth:`detach`)."""
        return self._ptr is None and self._address is None

    def close(self):
        """Frees the memory now (if not freed yet). Calling it again does nothing."""
        if self._finalizer is not None:
            self._finalizer()
        self._ptr = self._address = None

    def detach(self):
        """Stops owning the memory without freeing it; returns the address."""
        self._check_open()
        address = self._address
        if self._finalizer is not None:
            self._finalizer.detach()
        self._ptr = self._address = None
        return address

    def __bool__(self):
        return bool(self._address)

    def __enter__(self):
        self._check_open()
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def __repr__(self):
        if self.closed:
            return "<owned pointer (closed)>"
        return f"<owned pointer {self._address:#x}>"


# --- errcheck helpers ------------------------------------------------------------------

_c_errno = None


def _errno_of(func):
    """``errno`` after a call of ``func``: ctypes' private copy with ``use_errno=True``,
    else C's own (still intact unless the interpreter touched it since the call)."""
    global _c_errno
    if getattr(func, "_flags_", 0) & _ctypes.FUNCFLAG_USE_ERRNO:
        return _ctypes.get_errno()
    if _c_errno is None:
        from . import CDLL, POINTER, c_int

        location = CDLL(None).__errno_location
        location.restype = POINTER(c_int)
        location.argtypes = ()
        _c_errno = location
    return _c_errno()[0]


def _raise_oserror(func, err, what):
    name = getattr(func, "__name__", None) or repr(func)
    if err:
        raise OSError(err, f"{name}: {_os.strerror(err)}")
    raise OSError(f"{name} {what}")


def check_null(result, func, args):
    """``errcheck`` for functions returning a pointer, NULL on error with ``errno`` set.

    Raises ``OSError(errno, "<function name>: <strerror>")``; returns the result otherwise.
    Use with ``CDLL(..., use_errno=True)`` for an ``errno`` nothing can clobber.
    """
    if result is None:
        null = True
    elif isinstance(result, (bytes, str)):
        null = False  # c_char_p/c_wchar_p: NULL arrives as None
    elif isinstance(result, int):
        null = result == 0
    else:
        null = not result  # pointer and c_void_p instances are false when NULL
    if null:
        _raise_oserror(func, _errno_of(func), "returned NULL")
    return result


def check_errno_nonzero(result, func, args):
    """``errcheck`` for functions returning 0 on success and non-zero on error.

    The error number is ``errno`` (for the ``-1`` convention), or the result itself when
    ``errno`` is 0 and the result is positive (the ``pthread_*`` convention). Raises
    ``OSError(errno, "<function name>: <strerror>")``; returns the result otherwise.
    """
    value = getattr(result, "value", result)
    if value:
        err = _errno_of(func)
        if not err and isinstance(value, int) and value > 0:
            err = value
        _raise_oserror(func, err, f"failed (returned {value!r})")
    return result


# --- structures from annotations -------------------------------------------------------
# Structures declared with annotations: ``class Point(Struct): x: c_int; y: c_double``.
#
# The metaclass turns the class body's ``__annotations__`` (in order) into ``_fields_`` before
# the ordinary structure metaclass lays the type out, so the result is a plain ``Structure``
# (or ``Union``) subclass: same layout, same behavior, passable anywhere one is expected.
#
# An annotation names the field's ctypes type:
#
# * ``x: c_int`` -- the ctypes type itself;
# * ``x: Annotated[int, c_int]`` -- a Python type for type checkers plus the ctypes type
#  (``ferrotypes.fields`` spells these for every simple type: ``fields.c_int`` is
#  ``Annotated[int, c_int]``, so a type checker sees ``Point().x`` as ``int``);
# * ``x: Annotated[c_int, 3]`` or ``Annotated[int, c_int, 3]`` -- a bit field of 3 bits;
# * arrays, nested structures and pointers as usual: ``pos: Point``,
#  ``Annotated[list, c_int * 4]``, ``next: POINTER(Node)`` (a type defined before).
#
# ``ClassVar[...]`` annotations are skipped. ``_pack_``, ``_align_``, ``_anonymous_`` are
# ordinary class attributes. String annotations (``from __future__ import annotations``) are
# evaluated where the class body was. A class that sets ``_fields_`` itself is left alone.


def _is_ctypes_type(t):
    # Every ctypes type (simple, pointer, array, structure, union, function) has the
    # instance attribute `_b_base_` as a descriptor on the class.
    return isinstance(t, type) and hasattr(t, "_b_base_")


def _field(name, annotation, scope):
    """``(name, ctype)`` or ``(name, ctype, bits)`` for one annotation, or None to skip."""
    if isinstance(annotation, str):
        annotation = eval(annotation, scope)  # noqa: S307 - the class body's own source
    origin = getattr(annotation, "__origin__", None)
    if origin is not None and getattr(origin, "_name", None) == "ClassVar" or (
        getattr(annotation, "_name", None) == "ClassVar"
    ):
        return None
    ctype, bits = annotation, None
    metadata = getattr(annotation, "__metadata__", None)
    if metadata is not None:  # typing.Annotated[origin, *metadata]
        ctype = origin if _is_ctypes_type(origin) else None
        for item in metadata:
            if isinstance(item, int) and not isinstance(item, bool):
                bits = item
            elif ctype is None and _is_ctypes_type(item):
                ctype = item
    if ctype is None or not _is_ctypes_type(ctype):
        raise TypeError(
            f"field {name!r}: annotation {annotation!r} is not a ctypes type "
            "(write the ctypes type, or Annotated[python_type, ctypes_type])"
        )
    return (name, ctype) if bits is None else (name, ctype, bits)


def _body_annotations(namespace):
    """The class body's annotations, evaluated as the class is made. Up to 3.13 (and with
    ``from __future__ import annotations``) the body stores ``__annotations__``; from 3.14
    (PEP 649) it stores a function that computes them, called here for their values, which
    is what earlier versions evaluated eagerly."""
    annotations = namespace.get("__annotations__")
    if annotations is not None:
        return annotations
    annotate = namespace.get("__annotate_func__") or namespace.get("__annotate__")
    if annotate is None:
        return {}
    import annotationlib
    return annotationlib.call_annotate_function(annotate, annotationlib.Format.VALUE)


def _fields_from_annotations(namespace, frame):
    annotations = _body_annotations(namespace)
    scope = None
    fields = []
    for name, annotation in annotations.items():
        if scope is None and isinstance(annotation, str):
            # String annotations see what the class body saw: the defining frame's globals
            # and locals (a class made inside a function), then the body itself.
            scope = dict(frame.f_globals) if frame is not None else {}
            if frame is not None:
                scope.update(frame.f_locals)
            scope.update(namespace)
        f = _field(name, annotation, scope)
        if f is not None:
            fields.append(f)
    return fields


def _make_meta(base_meta):
    class AnnotatedFieldsMeta(base_meta):
        def __new__(mcls, name, bases, namespace, **kwargs):
            is_root = namespace.get("_ferrotypes_annotated_root_", False)
            if not is_root and "_fields_" not in namespace and _body_annotations(namespace):
                namespace = dict(namespace)
                namespace["_fields_"] = _fields_from_annotations(namespace, _sys._getframe(1))
            return super().__new__(mcls, name, bases, namespace, **kwargs)

        def __init__(cls, name, bases, namespace, /, **kwargs):
            # From 3.13 the layout is made in the metaclass's __init__, from the namespace the
            # class statement passes (without the _fields_ __new__ added): hand it over.
            if "_fields_" not in namespace and "_fields_" in cls.__dict__:
                namespace = dict(namespace)
                namespace["_fields_"] = cls.__dict__["_fields_"]
            super().__init__(name, bases, namespace, **kwargs)

    AnnotatedFieldsMeta.__qualname__ = AnnotatedFieldsMeta.__name__ = f"Annotated{base_meta.__name__}"
    return AnnotatedFieldsMeta


class Struct(_Structure, metaclass=_make_meta(type(_Structure))):
    """A ``Structure`` whose ``_fields_`` come from the class body's annotations."""

    _ferrotypes_annotated_root_ = True


class TypedUnion(_Union, metaclass=_make_meta(type(_Union))):
    """A ``Union`` whose ``_fields_`` come from the class body's annotations."""

    _ferrotypes_annotated_root_ = True

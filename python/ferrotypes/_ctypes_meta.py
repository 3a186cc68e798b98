"""The ctypes metaclasses of ferrotypes._ctypes.

CPython 3.11 gives its ctypes types C-level metaclasses (PyCSimpleType, PyCStructType, ...)
that store per-type storage information.  PyO3 cannot declare a metaclass on 3.11, so these
metaclasses are small Python classes: they validate the class body, then ask the Rust side
for a `StgInfo` object (size, alignment, libffi type, converters) that is stored in the new
class's ``__dict__`` under ``_stginfo_``.  Everything per-instance and per-call is Rust.

The extension loads this file from beside itself when ``_ctypes`` is imported.
The Rust side injects ``_rs`` (a namespace of helper functions) and the root classes.
"""

import sys as _sys

_rs = globals()["_rs"]  # injected by the extension before this module runs
_STG = "_stginfo_"
_SIMPLE_TYPE_CHARS = "cbBhHiIlLdfuzZqQPXOv?g"

# From 3.14 the accepted codes are the ones this platform supports (no "X", BSTR, outside
# Windows), the complex types' included where libffi has them: "F", "D", "G" in 3.14;
# 3.15 spells those "Zf", "Zd", "Zg" (the struct module's codes).
_WINDOWS = _sys.platform == "win32"
_COMPLEX_CODES = ("F", "D", "G") if _rs.complex_types else ()
if _sys.version_info >= (3, 15):
    _ONE_CHAR_CODES = "cbBhHiIlLdfuzZqQP" + ("X" if _WINDOWS else "") + "Ov?g"
    _LONG_CODES = {"Z" + c.lower(): c for c in _COMPLEX_CODES}
    _BAD_TYPE_MESSAGE = ("class must define a '_type_' attribute which must be\n"
                         "one of these characters: '%s'" % _ONE_CHAR_CODES
                         + (",\nor one of these strings: %s."
                            % ", ".join(repr(c) for c in _LONG_CODES)
                            if _LONG_CODES else "."))
elif _sys.version_info >= (3, 14):
    _ONE_CHAR_CODES = ("cbBhHiIlLd" + ("DFG" if _COMPLEX_CODES else "") + "fuzZqQP"
                       + ("X" if _WINDOWS else "") + "Ov?g")
    _BAD_TYPE_MESSAGE = ("class must define a '_type_' attribute which must be\n"
                         "a single character string containing one of the\n"
                         "supported types: '%s'." % _ONE_CHAR_CODES)

_NEWEST_COMPLEX_CODES = {"Z" + c.lower(): c for c in _COMPLEX_CODES}


# From 3.14 CPython checks a `_type_` against its whole field-descriptor table, which also
# holds "s" and "U" (strings held inline, as character arrays store them). Its error message
# does not list them.
_INLINE_STRING_CODES = "sU"


def _simple_code(code):
    """The one-letter code of the scalar kind a ``_type_`` string names (checked as the
    running version checks it)."""
    if not isinstance(code, str):
        raise TypeError("class must define a '_type_' string attribute")
    if _sys.version_info >= (3, 15):
        if len(code) == 1 and (code in _ONE_CHAR_CODES or code in _INLINE_STRING_CODES):
            return code
        if code in _LONG_CODES:
            return _LONG_CODES[code]
        raise AttributeError(_BAD_TYPE_MESSAGE)
    if code in _NEWEST_COMPLEX_CODES:
        # The complex types on every version, by 3.15's codes (before 3.14 CPython has
        # none; 3.14 also accepts its own "F", "D", "G").
        return _NEWEST_COMPLEX_CODES[code]
    if len(code) != 1:
        raise ValueError("class must define a '_type_' attribute which must be a string of length 1")
    if _sys.version_info >= (3, 14):
        if code not in _ONE_CHAR_CODES and code not in _INLINE_STRING_CODES:
            raise AttributeError(_BAD_TYPE_MESSAGE)
    elif code not in _SIMPLE_TYPE_CHARS:
        raise AttributeError("class must define a '_type_' attribute which must be\n"
                             "a single character string containing one of '%s'." % _SIMPLE_TYPE_CHARS)
    return code


def _stg(cls):
    return cls.__dict__.get(_STG)


def _with_caller_module(namespace):
    """Classes made by calling a metaclass directly (``type(c_int)("X", (c_int,), {})``) get
    the caller's module, as with CPython's C metaclasses, not this file's."""
    if "__module__" not in namespace:
        namespace = dict(namespace)
        frame = _sys._getframe(2)
        while frame is not None and frame.f_globals is globals():
            frame = frame.f_back
        if frame is not None:
            namespace["__module__"] = frame.f_globals.get("__name__")
    return namespace


def _warn_implicit_ms(cls, is_struct):
    """3.14's warning for ``_pack_`` without ``_layout_`` (opted in to with
    ``FERROTYPES_BEHAVIOR`` before 3.14), reported at the first frame outside ferrotypes."""
    import os
    import warnings
    own = os.path.dirname(os.path.abspath(__file__))
    frame, level = _sys._getframe(1), 2
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(own):
        frame, level = frame.f_back, level + 1
    what = "Structure" if is_struct else "Union"
    warnings.warn(
        "Due to '_pack_', the '" + cls.__name__ + "' " + what
        + " will use memory layout compatible with MSVC (Windows). If this is "
        "intended, set _layout_ to 'ms'. The implicit default is deprecated and "
        "slated to become an error in Python 3.19.",
        DeprecationWarning, stacklevel=level)


# Where a metaclass does its work: up to 3.12 in ``__new__``; from 3.13 (as CPython's
# metaclasses there) in ``__init__``, so a class made by ``__new__`` alone is abstract and a
# second ``__init__`` is refused.
_SETUP_IN_INIT = _sys.version_info >= (3, 13)


class _CDataType:
    """Class methods shared by every ctypes type (CPython's CDataType_methods)."""

    def __new__(mcls, name, bases, namespace, **kw):
        cls = super().__new__(mcls, name, bases, _with_caller_module(namespace), **kw)
        _rs.enable_construct(cls)  # the fast constructor entry, where the class allows it
        if not _SETUP_IN_INIT:
            mcls._stginfo_setup_(cls, namespace)
        return cls

    if _SETUP_IN_INIT:
        def __init__(cls, name, bases, namespace, /, **kw):
            super().__init__(name, bases, namespace, **kw)
            if _stg(cls) is not None:
                raise SystemError(f"StgInfo of '{cls.__name__}' is already initialized.")
            type(cls)._stginfo_setup_(cls, namespace)

    def _stginfo_setup_(cls, namespace):
        """Gives a new class its storage info (each metaclass says how)."""

    # 3.14's attribute, on every version (before 3.14 a view of _pointer_type_cache).
    __pointer_type__ = property(
        lambda cls: _rs.pointer_type_get(cls),
        lambda cls, value: _rs.pointer_type_set(cls, value),
        lambda cls: _rs.pointer_type_del(cls),
        doc="The pointer type POINTER(cls) returns (CPython 3.14; every version here).")

    def from_address(cls, address):
        return _rs.from_address(cls, address)

    def in_dll(cls, dll, name):
        return _rs.in_dll(cls, dll, name)

    def __mul__(cls, length):
        return _rs.array_type(cls, length)

    def __rmul__(cls, length):
        return _rs.array_type(cls, length)


# --- simple types -----------------------------------------------------------------------

class PyCSimpleType(_CDataType, type):
    """Metaclass of ``_SimpleCData`` subclasses: ``_type_`` picks the C scalar."""

    def _stginfo_setup_(cls, namespace):
        mcls = type(cls)
        name, bases = cls.__name__, cls.__bases__
        try:
            code = cls._type_
        except AttributeError:
            raise AttributeError("class must define a '_type_' attribute") from None
        code = _simple_code(code)
        type.__setattr__(cls, _STG, _rs.StgInfo.simple(code, False))
        if bases and bases[0] is _rs.SimpleCData:
            # Direct subclasses get the code-specific from_param of CPython.
            special = _rs.special_from_param(code)
            if special is not None:
                type.__setattr__(cls, "from_param", classmethod(special))
        # Every class of exactly this metaclass gets its byte-swapped twin (subclasses of
        # c_int included, as in CPython); classes of derived metaclasses do not.
        if mcls is PyCSimpleType:
            if _rs.simple_code_swappable(code):
                other = "_be" if _rs.little_endian else "_le"
                swapped_ns = dict(namespace)
                # The zero-argument super() cell belongs to the class being defined.
                swapped_ns.pop("__classcell__", None)
                swapped_ns.setdefault("__qualname__", name)
                swapped_ns.setdefault("__module__", cls.__module__)
                swapped = type.__new__(mcls, name + other, bases, swapped_ns)
                type.__setattr__(swapped, _STG, _rs.StgInfo.simple(code, True))
                _rs.enable_construct(swapped)
                if _rs.little_endian:
                    cls.__ctype_le__, cls.__ctype_be__ = cls, swapped
                    swapped.__ctype_le__, swapped.__ctype_be__ = cls, swapped
                else:
                    cls.__ctype_be__, cls.__ctype_le__ = cls, swapped
                    swapped.__ctype_be__, swapped.__ctype_le__ = cls, swapped

    def from_param(cls, value):
        return _rs.simple_from_param(cls, value)


# --- function pointers ------------------------------------------------------------------

class PyCFuncPtrType(_CDataType, type):
    """Metaclass of ``CFuncPtr`` subclasses: ``_argtypes_``, ``_restype_``, ``_flags_``."""

    def _stginfo_setup_(cls, namespace):
        type.__setattr__(cls, _STG, _rs.funcptr_type_info(cls))
        _rs.enable_vectorcall(cls)

    def from_param(cls, value):
        return _rs.generic_from_param(cls, value)


# --- pointers ---------------------------------------------------------------------------

class PyCPointerType(_CDataType, type):
    """Metaclass of ``_Pointer`` subclasses: ``_type_`` is the pointed-to type."""

    def _stginfo_setup_(cls, namespace):
        _rs.pointer_setup(cls, namespace.get("_type_"))

    def from_param(cls, value):
        return _rs.pointer_from_param(cls, value)

    def set_type(cls, type_):
        _rs.pointer_set_type(cls, type_)


# --- arrays -----------------------------------------------------------------------------

class PyCArrayType(_CDataType, type):
    """Metaclass of ``Array`` subclasses: ``_type_`` and ``_length_``."""

    def _stginfo_setup_(cls, namespace):
        type.__setattr__(cls, _STG, _rs.array_type_info(cls))

    def from_param(cls, value):
        return _rs.generic_from_param(cls, value)


# --- structures and unions --------------------------------------------------------------

class _AggregateType(_CDataType, type):
    _is_union = False

    def _stginfo_setup_(cls, namespace):
        # `_fields_` (and `_abstract_`) as the class has them: from 3.13, set up in
        # `__init__`, that is the class's own dict, whatever a derived metaclass's
        # `__new__` put there.
        if _SETUP_IN_INIT:
            namespace = cls.__dict__
        _rs.aggregate_init(cls, type(cls)._is_union, namespace)

    def __setattr__(cls, name, value):
        if name == "_fields_":
            _rs.aggregate_set_fields(cls, value, type(cls)._is_union)
        else:
            type.__setattr__(cls, name, value)

    def from_param(cls, value):
        return _rs.generic_from_param(cls, value)


class PyCStructType(_AggregateType):
    """Metaclass of ``Structure`` subclasses."""


class UnionType(_AggregateType):
    """Metaclass of ``Union`` subclasses."""
    _is_union = True


# from_buffer and from_buffer_copy: C methods, bound without a Python frame (as CPython's).
_rs.install_cdata_type_methods(_CDataType)

for _meta in (PyCSimpleType, PyCFuncPtrType, PyCPointerType, PyCArrayType, PyCStructType, UnionType):
    _meta.__module__ = "_ctypes"
for _meta in (_CDataType, _AggregateType):
    _meta.__module__ = "_ctypes"
del _meta

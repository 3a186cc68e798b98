"""ferrotypes: the ``ctypes`` foreign function interface, with its engine in Rust.

This package is a drop-in replacement for the standard library's ``ctypes``
(the Python 3.11 API).  The C data model, library loading and the libffi call
path live in the compiled extension ``ferrotypes._ctypes``, which exports the
same names as CPython's ``_ctypes``; this module builds the public API on top
of it: the ``c_*`` scalar types, library loaders (``CDLL``, ``cdll``, ...),
function prototypes (``CFUNCTYPE``), buffer helpers and the memory functions.

Use it directly (``import ferrotypes as ctypes``), or call
``ferrotypes.install()`` before anything imports ``ctypes`` so that
``import ctypes`` (and ``ctypes.util``, ``ctypes.wintypes``, ``_ctypes``)
resolve to ferrotypes for the whole process.  ``python -m ferrotypes run
script.py`` does that for a script.
"""

import os as _os
import sys as _sys
# The interpreter's own struct module (its C half, without the `struct` wrapper): what the
# sizes of the C types are checked against (`_check_size`).
from _struct import calcsize as _calcsize

from ._ctypes import Union, Structure, Array
from ._ctypes import _Pointer
from ._ctypes import CFuncPtr as _CFuncPtr
from ._ctypes import RTLD_LOCAL, RTLD_GLOBAL
from ._ctypes import ArgumentError
from ._ctypes import FUNCFLAG_CDECL as _FUNCFLAG_CDECL
from ._ctypes import FUNCFLAG_PYTHONAPI as _FUNCFLAG_PYTHONAPI
from ._ctypes import FUNCFLAG_USE_ERRNO as _FUNCFLAG_USE_ERRNO
from ._ctypes import FUNCFLAG_USE_LASTERROR as _FUNCFLAG_USE_LASTERROR
from ._ctypes import sizeof, byref, addressof, alignment, resize
from ._ctypes import get_errno, set_errno
from ._ctypes import _SimpleCData
from ._ctypes import _rs as _newest

# The newest ctypes API on every version (docs/guide/newest.md): what a later CPython added
# is here on an earlier one too. What a later CPython *changed* follows ``_BEHAVIOR``: the
# running version, or the newer one the process opted in to (``FERROTYPES_BEHAVIOR``).
_BEHAVIOR = _newest.behavior
SIZEOF_TIME_T = _newest.SIZEOF_TIME_T      # 3.12
CField = _newest.CField                    # public from 3.14
if _sys.version_info >= (3, 14) and _BEHAVIOR < (3, 15):
    # Where 3.14 finds libpython on Android and Cygwin. 3.15's ctypes imports it lazily (it
    # pulls in threading): there `_sysconfig` is resolved on first use by the module
    # __getattr__ at the end.
    import sysconfig as _sysconfig

if _BEHAVIOR < (3, 15):
    # From 3.15 the module attribute is deprecated (module __getattr__ at the end).
    __version__ = "1.1.0"
    from ._ctypes import __version__ as _ctypes_version

    # The Python layer and the extension are released together; a mismatch means
    # a stale build is being imported next to newer sources.
    if __version__ != _ctypes_version:
        raise Exception("Version number mismatch", __version__, _ctypes_version)

if _sys.platform == "win32":
    from ._ctypes import FormatError
    from ._ctypes import LoadLibrary as _dlopen
    from ._ctypes import FUNCFLAG_STDCALL as _FUNCFLAG_STDCALL
else:
    from ._ctypes import dlopen as _dlopen

# `types.GenericAlias` (what `types` defines it as), without importing `types`: the two
# classes that take subscripts (`py_object[T]`, `LibraryLoader[T]`) make their aliases with it.
_GenericAlias = type(list[int])

DEFAULT_MODE = RTLD_LOCAL
# Darwin 7 (Mac OS X 10.3) and older could not resolve symbols across
# libraries opened RTLD_LOCAL, so loading defaults to RTLD_GLOBAL there.
if _sys.platform == "darwin" and int(_os.uname().release.split(".")[0]) < 8:
    DEFAULT_MODE = RTLD_GLOBAL


# ---------------------------------------------------------------------------
# Buffers

def _char_buffer(char_type, init, size, text_type, text_units, event):
    """Body of create_string_buffer / create_unicode_buffer.

    A ``text_type`` init is copied into a new ``char_type`` array, by default of
    ``text_units(init)`` characters plus the terminating NUL; an int init gives an
    empty array of that length.  Both raise the same audit event first.
    """
    if isinstance(init, text_type):
        length = text_units(init) + 1 if size is None else size
        _sys.audit(event, init, length)
        buf = (char_type * length)()
        buf.value = init
        return buf
    if not isinstance(init, int):
        raise TypeError(init)
    _sys.audit(event, None, init)
    return (char_type * init)()


def _wide_units(text):
    """How many ``wchar_t`` the text takes: on UTF-16 platforms (``wchar_t`` of two
    bytes) a character beyond the BMP needs a surrogate pair."""
    if sizeof(c_wchar) != 2:
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def create_string_buffer(init, size=None):
    """Return a new, zero-filled ``c_char`` array.

    ``create_string_buffer(n)`` makes an n-byte buffer.
    ``create_string_buffer(b"data")`` makes a buffer holding the bytes plus a
    terminating NUL; ``create_string_buffer(b"data", n)`` makes it n bytes.
    """
    return _char_buffer(c_char, init, size, bytes, len, "ctypes.create_string_buffer")


# Older name, kept because published code still calls it.
c_buffer = create_string_buffer


def create_unicode_buffer(init, size=None):
    """Return a new, zero-filled ``c_wchar`` array.

    ``create_unicode_buffer(n)`` makes an n-character buffer.
    ``create_unicode_buffer("text")`` makes a buffer holding the text plus a
    terminating NUL; ``create_unicode_buffer("text", n)`` makes it n wide
    characters long.
    """
    return _char_buffer(c_wchar, init, size, str, _wide_units, "ctypes.create_unicode_buffer")


# ---------------------------------------------------------------------------
# Function prototypes

def _with_errno_flags(flags, use_errno, use_last_error):
    """``flags`` plus the bits that make calls swap ``errno`` / ``GetLastError()``
    with the thread's private copy (see ``get_errno``)."""
    if use_errno:
        flags |= _FUNCFLAG_USE_ERRNO
    if use_last_error:
        flags |= _FUNCFLAG_USE_LASTERROR
    return flags


def _prototype_flags(base_flags, kw):
    """The call flags for a prototype factory's ``use_errno``/``use_last_error`` keywords;
    any other keyword is an error."""
    flags = _with_errno_flags(base_flags, kw.pop("use_errno", False),
                              kw.pop("use_last_error", False))
    if kw:
        raise ValueError("unexpected keyword argument(s) %s" % kw.keys())
    return flags


# (restype, argtypes, flags) -> prototype class; equal signatures share a class.
_c_functype_cache = {}


def CFUNCTYPE(restype, *argtypes, **kw):
    """Return the prototype class for C functions with the cdecl convention.

    ``CFUNCTYPE(restype, *argtypes, use_errno=False, use_last_error=False)``.
    Calling the returned class makes a function object:

    - ``proto(address)``: the C function at an integer address;
    - ``proto(callable)``: a C callback that calls the Python callable;
    - ``proto((name_or_ordinal, dll)[, paramflags])``: a function exported
      by a loaded library;
    - ``proto(vtbl_index, name[, paramflags, iid])``: a COM method (Windows).
    """
    flags = _prototype_flags(_FUNCFLAG_CDECL, kw)
    signature = (restype, argtypes, flags)
    proto = _c_functype_cache.get(signature)
    if proto is None:
        class CFunctionType(_CFuncPtr):
            _argtypes_ = argtypes
            _restype_ = restype
            _flags_ = flags
        proto = _c_functype_cache[signature] = CFunctionType
    return proto


if _sys.platform == "win32":
    _win_functype_cache = {}

    def WINFUNCTYPE(restype, *argtypes, **kw):
        """Return the prototype class for C functions with the stdcall convention.

        Same arguments and call forms as ``CFUNCTYPE``.
        """
        flags = _prototype_flags(_FUNCFLAG_STDCALL, kw)
        signature = (restype, argtypes, flags)
        proto = _win_functype_cache.get(signature)
        if proto is None:
            class WinFunctionType(_CFuncPtr):
                _argtypes_ = argtypes
                _restype_ = restype
                _flags_ = flags
            proto = _win_functype_cache[signature] = WinFunctionType
        return proto


def PYFUNCTYPE(restype, *argtypes):
    """Return a prototype class for functions of the Python C API.

    Calls through it keep the GIL held and check for a raised Python
    exception afterwards.  Unlike ``CFUNCTYPE`` the classes are not cached.
    """
    flags = _FUNCFLAG_CDECL | _FUNCFLAG_PYTHONAPI

    class CFunctionType(_CFuncPtr):
        _argtypes_ = argtypes
        _restype_ = restype
        _flags_ = flags

    return CFunctionType


# ---------------------------------------------------------------------------
# Scalar types.  Each is a _SimpleCData subclass named by its struct-module
# type code; where two C types have the same size on this platform the
# second name is an alias of the first (c_int is c_long on ILP32 and Windows).

def _check_size(typ, typecode=None):
    """Raise SystemError unless ``sizeof(typ)`` agrees with the struct module.

    A disagreement means the extension and the interpreter were built with
    different ideas of the C ABI.
    """
    if typecode is None:
        typecode = typ._type_
    actual, required = sizeof(typ), _calcsize(typecode)
    if actual != required:
        raise SystemError("sizeof(%s) wrong: %d instead of %d"
                          % (typ, actual, required))


class py_object(_SimpleCData):
    _type_ = "O"

    def __repr__(self):
        try:
            text = super().__repr__()
        except ValueError:
            # A NULL PyObject* has no value to show.
            text = "%s(<NULL>)" % type(self).__name__
        return text

    __class_getitem__ = classmethod(_GenericAlias)  # py_object[T] (3.14; every version)


# Integers.  int and long long have classes of their own only where their size
# differs from long's.
class c_short(_SimpleCData):
    _type_ = "h"


class c_ushort(_SimpleCData):
    _type_ = "H"


class c_long(_SimpleCData):
    _type_ = "l"


class c_ulong(_SimpleCData):
    _type_ = "L"


if _calcsize("i") != _calcsize("l"):
    class c_int(_SimpleCData):
        _type_ = "i"

    class c_uint(_SimpleCData):
        _type_ = "I"
else:
    c_int, c_uint = c_long, c_ulong

if _calcsize("q") != _calcsize("l"):
    class c_longlong(_SimpleCData):
        _type_ = "q"

    class c_ulonglong(_SimpleCData):
        _type_ = "Q"
else:
    c_longlong, c_ulonglong = c_long, c_ulong


# Floating point.  long double becomes an alias of double where it is no wider.
class c_float(_SimpleCData):
    _type_ = "f"


class c_double(_SimpleCData):
    _type_ = "d"


class c_longdouble(_SimpleCData):
    _type_ = "g"


if sizeof(c_longdouble) == sizeof(c_double):
    c_longdouble = c_double


# Complex numbers (CPython 3.14; every version here), where the extension supports C's
# _Complex types: the codes are "F", "D", "G" in 3.14 and the struct module's "Zf", "Zd",
# "Zg" (PEP 3118's) from 3.15, which earlier versions use too.
_COMPLEX_CODES = ("F", "D", "G") if _BEHAVIOR == (3, 14) else ("Zf", "Zd", "Zg")
try:
    class c_double_complex(_SimpleCData):
        _type_ = _COMPLEX_CODES[1]

    class c_float_complex(_SimpleCData):
        _type_ = _COMPLEX_CODES[0]

    class c_longdouble_complex(_SimpleCData):
        _type_ = _COMPLEX_CODES[2]
except AttributeError:
    pass
else:
    # The struct module knows complex codes from 3.14 ("F", "D"; "Zf", "Zd" from 3.15).
    if _sys.version_info >= (3, 14):
        _check_size(c_double_complex, _COMPLEX_CODES[1] if _sys.version_info >= (3, 15) else "D")
        _check_size(c_float_complex, _COMPLEX_CODES[0] if _sys.version_info >= (3, 15) else "F")


# Bytes and characters.
class c_ubyte(_SimpleCData):
    _type_ = "B"


class c_byte(_SimpleCData):
    _type_ = "b"


class c_char(_SimpleCData):
    _type_ = "c"


# A single byte reads the same in either byte order: these types are their own
# big- and little-endian variants (what _endian swaps a structure's fields to).
for _typ in (c_ubyte, c_byte, c_char):
    _typ.__ctype_le__ = _typ.__ctype_be__ = _typ


# Pointers.
class c_char_p(_SimpleCData):
    _type_ = "z"

    def __repr__(self):
        # Show the address, not the bytes: reading them could crash.
        address = c_void_p.from_buffer(self).value
        return "%s(%s)" % (type(self).__name__, address)


class c_void_p(_SimpleCData):
    _type_ = "P"


c_voidp = c_void_p  # misspelling kept for old code

# Every size the struct module can state is checked, in the order the types were
# defined (so the first mismatch is the one reported).  py_object and c_char_p hold
# pointers; struct knows their size as "P".  (long double has no struct code.)
for _typ in (py_object, c_short, c_ushort, c_long, c_ulong, c_int, c_uint, c_float,
             c_double, c_longlong, c_ulonglong, c_ubyte, c_byte, c_char, c_char_p,
             c_void_p):
    _check_size(_typ, "P" if _typ in (py_object, c_char_p) else None)
del _typ


class c_bool(_SimpleCData):
    _type_ = "?"


if _sys.version_info < (3, 14):
    from ._ctypes import POINTER, pointer, _pointer_type_cache
else:
    # From 3.14 every ctypes type remembers its own pointer type (``__pointer_type__``,
    # set by the first pointer type made for it); the cache dictionary is gone.
    _pointer_type_cache_fallback = {}  # incomplete pointer types made from a name
    _NO_POINTER_TYPE = object()

    def POINTER(cls):
        """Return the pointer type for ``cls`` (``c_void_p`` for None), creating it once.

        ``POINTER("name")`` makes an incomplete pointer type, completed later by
        ``set_type`` (deprecated).
        """
        if cls is None:
            return c_void_p
        known = getattr(cls, "__pointer_type__", _NO_POINTER_TYPE)
        if known is not _NO_POINTER_TYPE:
            return known
        if not isinstance(cls, str):
            # Making the class stores it as cls.__pointer_type__.
            return type("LP_%s" % cls.__name__, (_Pointer,), {"_type_": cls})
        import warnings
        warnings._deprecated("ctypes.POINTER with string", remove=(3, 19))
        made = _pointer_type_cache_fallback.get(cls)
        if made is None:
            made = _pointer_type_cache_fallback[cls] = type("LP_%s" % cls, (_Pointer,), {})
        return made

    def pointer(obj):
        """Return a new pointer instance pointing to ``obj`` (``byref(obj)`` is cheaper
        for passing a reference to a foreign function)."""
        return POINTER(type(obj))(obj)

    def _cache_deprecated():
        import warnings
        warnings._deprecated("ctypes._pointer_type_cache", remove=(3, 19))

    class _PointerTypeCache:
        """What ``_pointer_type_cache`` was, kept readable and writable with a warning:
        a view of the ``__pointer_type__`` attributes (and of a plain dict for keys that
        cannot take one)."""

        def __contains__(self, cls):
            return hasattr(cls, "__pointer_type__")

        def __getitem__(self, cls):
            _cache_deprecated()
            try:
                return cls.__pointer_type__
            except AttributeError:
                return _pointer_type_cache_fallback[cls]

        def get(self, cls, default=None):
            _cache_deprecated()
            try:
                return cls.__pointer_type__
            except AttributeError:
                return _pointer_type_cache_fallback.get(cls, default)

        def __setitem__(self, cls, pointer_type):
            _cache_deprecated()
            try:
                cls.__pointer_type__ = pointer_type
            except AttributeError:
                _pointer_type_cache_fallback[cls] = pointer_type

    _pointer_type_cache = _PointerTypeCache()


class c_wchar_p(_SimpleCData):
    _type_ = "Z"

    def __repr__(self):
        address = c_void_p.from_buffer(self).value
        return "%s(%s)" % (type(self).__name__, address)


class c_wchar(_SimpleCData):
    _type_ = "u"


def _reset_cache():
    """Empty the pointer and prototype caches and re-seed their fixed entries.

    ``POINTER(c_char)`` and ``POINTER(c_wchar)`` accept what ``c_char_p`` and
    ``c_wchar_p`` accept (bytes and str objects), and ``POINTER(None)`` is
    ``c_void_p``.
    """
    if _sys.version_info < (3, 14):
        caches = [_pointer_type_cache, _c_functype_cache]
    else:
        caches = [_pointer_type_cache_fallback, _c_functype_cache]
    if _sys.platform == "win32":
        caches.append(_win_functype_cache)
    for cache in caches:
        cache.clear()
    for char_type, string_type in ((c_wchar, c_wchar_p), (c_char, c_char_p)):
        POINTER(char_type).from_param = string_type.from_param
    if _sys.version_info < (3, 14):
        _pointer_type_cache[None] = c_void_p


# ---------------------------------------------------------------------------
# Deprecated helpers, still part of the 3.11 API.

def SetPointerType(pointer, cls):
    """Complete an incomplete pointer type made by ``POINTER("name")``."""
    if _BEHAVIOR >= (3, 13):
        # Deprecated from 3.13 (use ``pointer.set_type(cls)``), gone in 3.15.
        import warnings
        warnings._deprecated("ctypes.SetPointerType", remove=(3, 15))
    if _sys.version_info >= (3, 14):
        # No cache to keep in step: set_type records the pointer type on ``cls``.
        pointer.set_type(cls)
        return
    cache = _pointer_type_cache
    if cache.get(cls) is not None:
        raise RuntimeError("This type already exists in the cache")
    # An incomplete pointer type is cached under its own id() until completed.
    placeholder = id(pointer)
    if placeholder not in cache:
        raise RuntimeError("What's this???")
    pointer.set_type(cls)
    cache[cls] = pointer
    del cache[placeholder]


if _BEHAVIOR >= (3, 15):
    del SetPointerType  # removed in 3.15: use ``pointer.set_type(cls)``


def ARRAY(typ, len):
    """Return ``typ * len``."""
    return typ * len


# ---------------------------------------------------------------------------
# Shared libraries

def _dlopen_args(name, mode, winmode):
    """The (name, mode) that ``CDLL(name, mode, winmode=winmode)`` hands the loader.

    Windows: ``winmode``, when given, is LoadLibraryEx's flags as they are; by
    default the DLL's dependencies are searched for in the default directories, plus
    the DLL's own directory when ``name`` is a path (made absolute for that).
    AIX: ``"libFOO.a(libFOO.so)"`` names a member of an archive, which dlopen()
    only accepts with RTLD_MEMBER.
    """
    if _sys.platform == "win32":
        if winmode is not None:
            return name, winmode
        import nt
        if "/" not in name and "\\" not in name:
            return name, nt._LOAD_LIBRARY_SEARCH_DEFAULT_DIRS
        return (nt._getfullpathname(name),
                nt._LOAD_LIBRARY_SEARCH_DEFAULT_DIRS | nt._LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR)
    if (_sys.platform.startswith("aix") and name and name.endswith(")")
            and ".a(" in name):
        mode |= _os.RTLD_MEMBER | _os.RTLD_NOW
    return name, mode


def _remembered(owner, name, value):
    """Store ``value`` as attribute ``name`` of ``owner`` and return it: what a
    ``__getattr__`` that computes a missing attribute does so that the next
    lookup finds it directly."""
    setattr(owner, name, value)
    return value


class CDLL(object):
    """A loaded shared library whose functions use the C calling convention.

    Functions are looked up by attribute (``lib.qsort``, cached on the
    instance) or by subscript (``lib["qsort"]``, or an ordinal on Windows,
    a new function object each time).  They return ``c_int`` unless told
    otherwise, and release the GIL while the C code runs.

    ``CDLL(None)`` on POSIX opens the running program itself.  ``handle``
    wraps an already-open library instead of loading ``name``.
    """
    # What __repr__ shows if __init__ failed half-way.
    _name = "<uninitialized>"
    _handle = 0
    _FuncPtr = None
    # Subclasses set the calling convention and the default restype.
    _func_flags_ = _FUNCFLAG_CDECL
    _func_restype_ = c_int

    def __init__(self, name, mode=DEFAULT_MODE, handle=None,
                 use_errno=False, use_last_error=False, winmode=None):
        if name and _BEHAVIOR >= (3, 12):
            name = _os.fspath(name)  # path-like names are kept as str/bytes from 3.12
            if _BEHAVIOR >= (3, 13) and name.endswith(".fwork"):
                # From 3.13 (for iOS-style framework builds): a ".fwork" file holds the
                # library's path relative to the interpreter's directory.
                with open(name) as fwork:
                    name = _os.path.join(_os.path.dirname(_sys.executable),
                                         fwork.read().strip())
        self._name = name
        flags = _with_errno_flags(self._func_flags_, use_errno, use_last_error)
        self._name, mode = _dlopen_args(name, mode, winmode)

        # A function pointer class of its own, so that the flags and default
        # restype belong to this library object.
        class _FuncPtr(_CFuncPtr):
            _flags_ = flags
            _restype_ = self._func_restype_
        self._FuncPtr = _FuncPtr

        self._handle = _dlopen(self._name, mode) if handle is None else handle

    def __repr__(self):
        mask = _sys.maxsize * 2 + 1
        return "<%s '%s', handle %x at %#x>" % (
            type(self).__name__, self._name,
            self._handle & mask, id(self) & mask)

    def __getattr__(self, name):
        # Only reached for names not found normally; dunder lookups (copy, pickle,
        # ...) must not become symbol lookups.
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _remembered(self, name, self.__getitem__(name))

    def __getitem__(self, name_or_ordinal):
        function = self._FuncPtr((name_or_ordinal, self))
        # By name the function is called that; by ordinal (Windows) it keeps the
        # prototype's default name.
        if isinstance(name_or_ordinal, int):
            return function
        function.__name__ = name_or_ordinal
        return function


class PyDLL(CDLL):
    """A shared library exporting Python C API functions.

    Calls keep the GIL held and raise the Python exception the function set,
    if any.
    """
    _func_flags_ = _FUNCFLAG_CDECL | _FUNCFLAG_PYTHONAPI


if _sys.platform == "win32":
    from ._ctypes import _check_HRESULT

    class WinDLL(CDLL):
        """A DLL whose functions use the stdcall calling convention."""
        _func_flags_ = _FUNCFLAG_STDCALL

    class HRESULT(_SimpleCData):
        """A COM status code; as a restype, failure codes raise OSError."""
        _type_ = "l"
        # Implemented in C so that the raising frame is not Python code.
        _check_retval_ = _check_HRESULT

    class OleDLL(CDLL):
        """A DLL of stdcall functions returning HRESULT.

        A failing HRESULT is raised as OSError.
        """
        _func_flags_ = _FUNCFLAG_STDCALL
        _func_restype_ = HRESULT


class LibraryLoader(object):
    """Load libraries of one class by attribute access: ``cdll.libc``."""

    __class_getitem__ = classmethod(_GenericAlias)

    def __init__(self, dlltype):
        self._dlltype = dlltype

    def LoadLibrary(self, name):
        return self._dlltype(name)

    def __getitem__(self, name):
        return getattr(self, name)

    def __getattr__(self, name):
        # Names starting with "_" (private and dunder) are never libraries; an
        # empty name is an IndexError, as it always was.
        if name[0] == "_":
            raise AttributeError(name)
        if _BEHAVIOR < (3, 12):
            return _remembered(self, name, self._dlltype(name))
        # From 3.12 a library that cannot be loaded is a missing attribute (so hasattr()
        # and getattr() with a default work).
        try:
            library = self._dlltype(name)
        except OSError:
            raise AttributeError(name)
        return _remembered(self, name, library)


cdll = LibraryLoader(CDLL)
pydll = LibraryLoader(PyDLL)

if _sys.platform == "win32":
    pythonapi = PyDLL("python dll", None, _sys.dllhandle)

    windll = LibraryLoader(WinDLL)
    oledll = LibraryLoader(OleDLL)
    GetLastError = windll.kernel32.GetLastError
    from ._ctypes import get_last_error, set_last_error

    def WinError(code=None, descr=None):
        """Return an OSError for a Windows error code (default: the last one)."""
        code = GetLastError() if code is None else code
        if descr is None:
            descr = FormatError(code).strip()
        return OSError(None, descr, None, code)
elif _sys.platform == "android" and _sys.version_info[:2] == (3, 13):
    pythonapi = PyDLL("libpython%d.%d.so" % _sys.version_info[:2])
elif _sys.platform == "cygwin" and _sys.version_info < (3, 14):
    pythonapi = PyDLL("libpython%d.%d.dll" % _sys.version_info[:2])
elif _sys.platform in ("android", "cygwin") and _sys.version_info >= (3, 14):
    import sysconfig
    pythonapi = PyDLL(sysconfig.get_config_var("LDLIBRARY"))
elif _sys.version_info < (3, 14):
    pythonapi = PyDLL(None)
else:
    # From 3.14 a program that cannot open itself has no pythonapi rather than no ctypes.
    try:
        pythonapi = PyDLL(None)
    except OSError:
        pythonapi = None

# size_t is the first unsigned type as wide as a pointer; ssize_t its signed twin.
for _signed, _unsigned in ((c_int, c_uint), (c_long, c_ulong), (c_longlong, c_ulonglong)):
    if sizeof(_unsigned) == sizeof(c_void_p):
        c_size_t, c_ssize_t = _unsigned, _signed
        break
del _signed, _unsigned


# ---------------------------------------------------------------------------
# Memory functions.  The extension exports the addresses of its C helpers;
# they are called through ordinary function pointers like any C function.

from ._ctypes import _memmove_addr, _memset_addr, _string_at_addr, _cast_addr
from ._ctypes import _wstring_at_addr

# void *memmove(void *dst, const void *src, size_t count)
memmove = CFUNCTYPE(c_void_p, c_void_p, c_void_p, c_size_t)(_memmove_addr)

# void *memset(void *dst, int c, size_t count)
memset = CFUNCTYPE(c_void_p, c_void_p, c_int, c_size_t)(_memset_addr)

_cast = PYFUNCTYPE(py_object, c_void_p, py_object, py_object)(_cast_addr)


def cast(obj, typ):
    """Return a ``typ`` instance (a pointer type) pointing where ``obj`` does."""
    # obj is passed twice: once converted to an address, once as itself so
    # the result can keep it alive.
    return _cast(obj, obj, typ)


_string_at = PYFUNCTYPE(py_object, c_void_p, c_int)(_string_at_addr)
_wstring_at = PYFUNCTYPE(py_object, c_void_p, c_int)(_wstring_at_addr)
# string_at(ptr, size=-1) and wstring_at(ptr, size=-1): direct C functions for plain int
# arguments; any other argument goes through the PYFUNCTYPE wrappers above (ctypes'
# conversions and ArgumentErrors).
_newest.set_string_at_fallbacks(_string_at, _wstring_at)
string_at = _newest.string_at
wstring_at = _newest.wstring_at


# memoryview_at (CPython 3.14; every version here).
if _sys.version_info >= (3, 14):
    from ._ctypes import _memoryview_at_addr  # the name 3.14's ctypes has too
_memoryview_at = PYFUNCTYPE(py_object, c_void_p, c_ssize_t, c_int)(_newest.memoryview_at_addr)


def memoryview_at(ptr, size, readonly=False):
    """Return a memoryview of the ``size`` bytes at address ``ptr`` (no copy),
    read-only if ``readonly`` is true."""
    return _memoryview_at(ptr, size, bool(readonly))


if _sys.platform == "win32":
    # Entry points for in-process COM servers written with comtypes; without
    # comtypes there is no class to offer and nothing keeps the DLL loaded.

    def _comtypes_inproc_server():
        try:
            return __import__("comtypes.server.inprocserver",
                              globals(), locals(), ["*"])
        except ImportError:
            return None

    def DllGetClassObject(rclsid, riid, ppv):
        server = _comtypes_inproc_server()
        if server is None:
            return -2147221231  # CLASS_E_CLASSNOTAVAILABLE
        return server.DllGetClassObject(rclsid, riid, ppv)

    def DllCanUnloadNow():
        server = _comtypes_inproc_server()
        if server is None:
            return 0  # S_OK
        return server.DllCanUnloadNow()


from ._endian import BigEndianStructure, LittleEndianStructure
from ._endian import BigEndianUnion, LittleEndianUnion


def _widths(kinds):
    """Size in bytes -> type, among ``kinds``; where two have one size (aliases,
    on every platform known) the later wins."""
    return {sizeof(kind): kind for kind in kinds}


# Fixed-width names, picked by size among the types defined above.
_signed, _unsigned = (_widths((c_short, c_int, c_long, c_longlong)),
                      _widths((c_ushort, c_uint, c_ulong, c_ulonglong)))
c_int8, c_uint8 = c_byte, c_ubyte
c_int16, c_uint16 = _signed[2], _unsigned[2]
c_int32, c_uint32 = _signed[4], _unsigned[4]
c_int64, c_uint64 = _signed[8], _unsigned[8]
del _widths, _signed, _unsigned

# time_t by its size, as the interpreter was built (CPython 3.12; every version here).
try:
    c_time_t = {8: c_int64, 4: c_int32}[SIZEOF_TIME_T]
except KeyError:
    raise SystemError(f"Unexpected sizeof(time_t): {SIZEOF_TIME_T=}") from None

_reset_cache()


# Beyond ctypes: checked mode, ownership helpers, annotated structures (docs/guide/checked.md).
# They live in `_extras`, imported on first use, so `import ferrotypes` costs what it did.
# Not through a module `__getattr__`: its mere presence stops CPython 3.11 from specializing
# every `ferrotypes.<name>` attribute access. Each name is a proxy that loads the real object
# when first called, subclassed (`class P(ferrotypes.Struct)`), or used with isinstance.
from ._ctypes import _SignatureWarning as SignatureWarning
from ._ctypes import _is_checked


def is_checked():
    """Whether checked mode is on (a ``checked()`` scope is open, or ``FERROTYPES_CHECKED=1``)."""
    return _is_checked()


class _LazyExport:
    __slots__ = ("_name", "_target")

    def __init__(self, name):
        self._name = name
        self._target = None

    def _load(self):
        target = self._target
        if target is None:
            from . import _extras
            target = self._target = getattr(_extras, self._name)
        return target

    def __call__(self, *args, **kwargs):
        return self._load()(*args, **kwargs)

    def __mro_entries__(self, bases):
        return (self._load(),)

    def __instancecheck__(self, obj):
        return isinstance(obj, self._load())

    def __subclasscheck__(self, cls):
        return issubclass(cls, self._load())

    def __getattr__(self, attr):
        return getattr(self._load(), attr)

    def __repr__(self):
        return repr(self._load())


TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._extras import checked, owned, check_null, check_errno_nonzero, Struct, TypedUnion
else:
    checked = _LazyExport("checked")
    owned = _LazyExport("owned")
    check_null = _LazyExport("check_null")
    check_errno_nonzero = _LazyExport("check_errno_nonzero")
    Struct = _LazyExport("Struct")
    TypedUnion = _LazyExport("TypedUnion")
del TYPE_CHECKING


# install() lives in its own module, imported on first use: `import ferrotypes` stays as
# cheap as `import ctypes` for programs that never swap the stdlib out.
def install():
    """Make ``import ctypes`` (and ``_ctypes``, ``ctypes.util``, ...) mean ferrotypes.

    Call it first thing in the process; see ``ferrotypes._install.install``.
    """
    from ._install import install as _install_now
    return _install_now()


def installed():
    """Whether :func:`install` has run in this process."""
    from ._install import installed as _installed
    return _installed()


# ---------------------------------------------------------------------------
# Beyond ctypes: bindings from C declarations (ferrotypes.cdef) and layouts checked
# against the C compiler (ferrotypes.verify). Their modules, and pycparser, load on first
# use: `import ferrotypes` stays as cheap as `import ctypes`.

# The variadic marker: the last item of `argtypes` (`[c_char_p, VARIADIC]`) says the
# function is declared with `...`. It is the Ellipsis object, so `...` works as well.
VARIADIC = ...


def cdef(source, lib=None, **options):
    """Build ferrotypes types, constants and functions from C declarations.

    See ``ferrotypes.cdef.cdef`` and ``docs/guide/cdef.md``.
    """
    from ._cdef import cdef as _cdef
    return _cdef(source, lib, **options)


def verify(cls, c_name, **options):
    """Check a Structure/Union/simple type's layout against the C compiler.

    See ``ferrotypes.verify.verify``.
    """
    from ._verify import verify as _verify
    return _verify(cls, c_name, **options)


def verify_function(func, c_name=None, **options):
    """Check a function's ``argtypes``/``restype`` against its C prototype.

    See ``ferrotypes.verify.verify_function``.
    """
    from ._verify import verify_function as _verify_function
    return _verify_function(func, c_name, **options)


class CDefError(ValueError):
    """A C declaration could not be parsed or translated (``cdef``).

    ``filename``, ``lineno`` and ``column`` locate the problem in the C source (after
    ``#include``: in the header it came from); the message starts with
    ``file:line:column:``.
    """

    def __init__(self, message, filename=None, lineno=None, column=None):
        self.filename, self.lineno, self.column = filename, lineno, column
        self.msg = message
        where = ":".join(str(p) for p in (filename, lineno, column) if p is not None)
        super().__init__("%s: %s" % (where, message) if where else message)


class LayoutMismatch(Exception):
    """A ferrotypes declaration differs from what the C compiler says (``verify``);
    ``.report`` is the report, the message a table of the differing rows."""

    def __init__(self, report):
        self.report = report
        super().__init__("%s differs from C:\n%s" % (report.subject,
                                                       report.table(only_mismatches=True)))

# (Both are defined here rather than reached through a module ``__getattr__``: on 3.11
# a module ``__getattr__`` stops attribute-lookup specialization for every
# ``ferrotypes.<name>`` in user code.)


def behavior():
    """The CPython version whose ctypes behaviour this process has, as ``(3, minor)``: the
    running interpreter's, or the newer one opted in to with ``FERROTYPES_BEHAVIOR``
    (``3.N`` or ``newest``; docs/guide/newest.md)."""
    return _BEHAVIOR


if _BEHAVIOR >= (3, 15):
    # 3.15 deprecates the module's __version__ (and so has a module __getattr__ anyway).
    def __getattr__(name):
        if name == "_sysconfig":
            import sysconfig
            globals()["_sysconfig"] = sysconfig
            return sysconfig
        if name == "__version__":
            import warnings
            warnings.warn("'__version__' is deprecated and slated for removal in Python 3.20",
                          DeprecationWarning, stacklevel=2)
            return "1.1.0"
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

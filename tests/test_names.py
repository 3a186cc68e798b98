"""ferrotypes exports the names, kinds and constants of the stdlib ctypes it replaces.

The stock modules are the spec: every name they define on this platform must
exist in the ferrotypes counterpart (``_ctypes`` -> ``ferrotypes._ctypes``,
``ctypes`` -> ``ferrotypes``, ``ctypes.util`` -> ``ferrotypes.util``,
``ctypes.wintypes`` -> ``ferrotypes.wintypes``), be the same kind of object
(a type is a type, a function a function), and constants must be equal.
Both packages are imported side by side in this process.
"""

import ctypes
import ctypes.util
import importlib
import sys
import inspect
import subprocess
import types

import _ctypes
import pytest

import ferrotypes
import ferrotypes._ctypes
import ferrotypes.util

from support import require_stock
require_stock(ctypes)  # a differential test: the reference must be the stdlib ctypes

# Attributes every module object has, whose values naturally differ between
# two modules (file paths, import machinery), or that hold addresses.
MODULE_PLUMBING = {
    "__builtins__", "__cached__", "__file__", "__loader__", "__name__",
    "__package__", "__path__", "__spec__", "__all__",
}
ADDRESSES = {"_cast_addr", "_memmove_addr", "_memset_addr", "_string_at_addr",
             "_wstring_at_addr"}
# Submodules show up in a package's dir() once imported; checked on their own.
SUBMODULES = {"util", "wintypes", "test", "macholib", "_endian"}


def _kind(obj):
    """What sort of thing a name is bound to, independent of which module made it."""
    if isinstance(obj, types.ModuleType):
        return "module"
    return type(obj).__name__


def _public_names(module):
    return sorted(name for name in dir(module)
                  if name not in MODULE_PLUMBING and name not in SUBMODULES)


# ---------------------------------------------------------------------------
# _ctypes


STOCK_CTYPES_EXT_NAMES = _public_names(_ctypes)


@pytest.mark.parametrize("name", STOCK_CTYPES_EXT_NAMES)
def test_extension_name_exists_with_same_kind(name):
    stock = getattr(_ctypes, name)
    assert hasattr(ferrotypes._ctypes, name), f"ferrotypes._ctypes lacks {name}"
    assert _kind(getattr(ferrotypes._ctypes, name)) == _kind(stock)


def test_extension_is_the_linux_build():
    # Windows-only names must not leak into the Linux module.
    for name in ("FormatError", "LoadLibrary", "FreeLibrary", "CopyComError",
                 "FUNCFLAG_STDCALL", "FUNCFLAG_HRESULT", "COMError", "_check_HRESULT"):
        assert hasattr(_ctypes, name) == hasattr(ferrotypes._ctypes, name), name


@pytest.mark.parametrize("name", [
    "RTLD_GLOBAL", "RTLD_LOCAL", "FUNCFLAG_CDECL", "FUNCFLAG_PYTHONAPI",
    "FUNCFLAG_USE_ERRNO", "FUNCFLAG_USE_LASTERROR", "CTYPES_MAX_ARGCOUNT", "__version__",
])
def test_extension_constants_equal(name):
    value = getattr(ferrotypes._ctypes, name)
    assert value == getattr(_ctypes, name)
    assert type(value) is type(getattr(_ctypes, name))


def test_extension_constant_values():
    # Stated outright too, so that a change in both would still be noticed.
    assert ferrotypes._ctypes.RTLD_GLOBAL == 0x100
    assert ferrotypes._ctypes.RTLD_LOCAL == 0
    assert ferrotypes._ctypes.FUNCFLAG_CDECL == 1
    assert ferrotypes._ctypes.FUNCFLAG_PYTHONAPI == 4
    assert ferrotypes._ctypes.FUNCFLAG_USE_ERRNO == 8
    assert ferrotypes._ctypes.FUNCFLAG_USE_LASTERROR == 16
    assert ferrotypes._ctypes.CTYPES_MAX_ARGCOUNT == 1024
    assert ferrotypes._ctypes.__version__ == "1.1.0"


def test_extension_docstring():
    assert ferrotypes._ctypes.__doc__ == _ctypes.__doc__


@pytest.mark.parametrize("name", sorted(ADDRESSES))
def test_extension_helper_addresses_are_nonzero_ints(name):
    value = getattr(ferrotypes._ctypes, name)
    assert type(value) is int
    assert value != 0


@pytest.mark.parametrize("name", [
    "_SimpleCData", "Structure", "Union", "Array", "_Pointer", "CFuncPtr", "ArgumentError",
])
def test_extension_classes_have_stock_names(name):
    ours, stock = getattr(ferrotypes._ctypes, name), getattr(_ctypes, name)
    assert ours.__name__ == stock.__name__
    assert ours.__qualname__ == stock.__qualname__
    assert type(ours).__name__ == type(stock).__name__


def test_argument_error_is_an_exception():
    assert issubclass(ferrotypes._ctypes.ArgumentError, Exception)
    assert ferrotypes.ArgumentError is ferrotypes._ctypes.ArgumentError
    assert ferrotypes._ctypes.ArgumentError.__mro__[1:] == _ctypes.ArgumentError.__mro__[1:]


def test_extension_pointer_type_cache_is_a_dict():
    if sys.version_info >= (3, 14):
        # 3.14 moved the cache out of _ctypes (types carry __pointer_type__); ctypes keeps
        # a deprecated mapping of the same name.
        assert not hasattr(_ctypes, "_pointer_type_cache")
        assert not hasattr(ferrotypes._ctypes, "_pointer_type_cache")
        assert type(ferrotypes._pointer_type_cache).__name__ == type(ctypes._pointer_type_cache).__name__
        return
    assert type(ferrotypes._ctypes._pointer_type_cache) is dict
    assert ferrotypes._pointer_type_cache is ferrotypes._ctypes._pointer_type_cache


# ---------------------------------------------------------------------------
# ctypes


STOCK_PACKAGE_NAMES = _public_names(ctypes)


# Python functions in stock ctypes that are C functions here, for speed (issue #15): same
# signature, results and errors; only the kind of callable differs.
C_FUNCTIONS_HERE = {"string_at", "wstring_at"}

# Private aliases of modules stock ctypes imports and ferrotypes does not (issue #15): in a
# fresh interpreter `types` alone is an eighth of `import ctypes`, and ctypes needs only
# `types.GenericAlias` from it (a builtin type). docs/guide/differences.md lists them.
NOT_IMPORTED_HERE = {"_types": "types"}


@pytest.mark.parametrize("name", STOCK_PACKAGE_NAMES)
def test_package_name_exists_with_same_kind(name):
    stock = getattr(ctypes, name)
    if name in NOT_IMPORTED_HERE:
        assert _kind(stock) == "module" and not hasattr(ferrotypes, name)
        return
    assert hasattr(ferrotypes, name), f"ferrotypes lacks {name}"
    if name in C_FUNCTIONS_HERE:
        assert _kind(stock) == "function"
        assert _kind(getattr(ferrotypes, name)) == "builtin_function_or_method"
        assert inspect.signature(getattr(ferrotypes, name)) == inspect.signature(stock)
        return
    assert _kind(getattr(ferrotypes, name)) == _kind(stock)


def _modules_added_by(statement):
    """The modules a fresh interpreter adds to ``sys.modules`` running ``statement``."""
    code = ("import sys; before = set(sys.modules); " + statement + "; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    return set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=True).stdout.split())


def test_import_leaves_out_what_it_does_not_need():
    # In a fresh interpreter `import ferrotypes` imports nothing stock `import ctypes` does
    # not, beyond its own modules and `atexit` (the shutdown gate); and neither `types` nor
    # the `struct` wrapper (the size checks use its C half, `_struct`), unless something
    # both import needs them (3.14's ctypes imports sysconfig, which brings in threading).
    ours = _modules_added_by("import ferrotypes")
    stock = _modules_added_by("import ctypes")
    own = {"ferrotypes", "ferrotypes._ctypes", "ferrotypes._endian", "atexit"}
    assert {"ferrotypes._ctypes", "ferrotypes._endian"} <= ours
    assert ours - own <= stock
    shared = _modules_added_by("import sysconfig") if "sysconfig" in ours else set()
    assert not {"types", "struct"} & ours - shared


@pytest.mark.parametrize("name", [
    "RTLD_GLOBAL", "RTLD_LOCAL", "DEFAULT_MODE", "__version__",
    "_FUNCFLAG_CDECL", "_FUNCFLAG_PYTHONAPI", "_FUNCFLAG_USE_ERRNO", "_FUNCFLAG_USE_LASTERROR",
] + (["_ctypes_version"] if sys.version_info < (3, 15) else []))  # 3.15 dropped it
def test_package_constants_equal(name):
    assert getattr(ferrotypes, name) == getattr(ctypes, name)


@pytest.mark.parametrize("name", [
    n for n in STOCK_PACKAGE_NAMES
    if isinstance(getattr(ctypes, n), type) and hasattr(_ctypes, n)
])
def test_package_reexports_extension_types(name):
    # ctypes.Structure is _ctypes.Structure; the same holds for ferrotypes.
    assert getattr(ferrotypes, name) is getattr(ferrotypes._ctypes, name)


@pytest.mark.parametrize("name", [
    n for n in STOCK_PACKAGE_NAMES
    if isinstance(getattr(ctypes, n), type) and n.startswith("c_")
])
def test_package_simple_type_names(name):
    ours, stock = getattr(ferrotypes, name), getattr(ctypes, name)
    assert ours.__name__ == stock.__name__
    assert ours._type_ == stock._type_


def test_package_aliases_match_stock():
    # Which names are aliases of which is platform data: keep it identical.
    names = [n for n in STOCK_PACKAGE_NAMES
             if isinstance(getattr(ctypes, n), type) and n.startswith("c_")]
    for a in names:
        for b in names:
            same_stock = getattr(ctypes, a) is getattr(ctypes, b)
            same_ours = getattr(ferrotypes, a) is getattr(ferrotypes, b)
            assert same_ours == same_stock, (a, b)


def test_package_module_doc():
    assert ferrotypes.__doc__ and ferrotypes.__doc__.strip()


def test_cdll_and_pydll_loaders():
    assert isinstance(ferrotypes.cdll, ferrotypes.LibraryLoader)
    assert isinstance(ferrotypes.pydll, ferrotypes.LibraryLoader)
    assert isinstance(ferrotypes.pythonapi, ferrotypes.PyDLL)
    assert ferrotypes.cdll._dlltype is ferrotypes.CDLL
    assert ferrotypes.pydll._dlltype is ferrotypes.PyDLL
    assert ferrotypes.pythonapi._name == ctypes.pythonapi._name


def test_loader_class_flags_equal():
    assert ferrotypes.CDLL._func_flags_ == ctypes.CDLL._func_flags_
    assert ferrotypes.PyDLL._func_flags_ == ctypes.PyDLL._func_flags_
    assert ferrotypes.CDLL._func_restype_ is ferrotypes.c_int
    assert ferrotypes.PyDLL._func_restype_ is ferrotypes.c_int


# ---------------------------------------------------------------------------
# ctypes.util and ctypes.wintypes


STOCK_UTIL_NAMES = [n for n in dir(ctypes.util)
                    if not n.startswith("_")
                    and not isinstance(getattr(ctypes.util, n), types.ModuleType)]


@pytest.mark.parametrize("name", STOCK_UTIL_NAMES)
def test_util_name_exists_with_same_kind(name):
    assert hasattr(ferrotypes.util, name), f"ferrotypes.util lacks {name}"
    assert _kind(getattr(ferrotypes.util, name)) == _kind(getattr(ctypes.util, name))


def test_util_is_reachable_from_the_package():
    assert ferrotypes.util is sys.modules["ferrotypes.util"]


def _stock_wintypes():
    return importlib.import_module("ctypes.wintypes")


def _our_wintypes():
    return importlib.import_module("ferrotypes.wintypes")


def test_wintypes_imports_on_linux():
    # The stock module imports on every platform; so must ours.
    _stock_wintypes()
    _our_wintypes()


def test_wintypes_names_exist_with_same_kind():
    stock, ours = _stock_wintypes(), _our_wintypes()
    names = [n for n in dir(stock) if n not in MODULE_PLUMBING and n != "__doc__"]
    missing = [n for n in names if not hasattr(ours, n)]
    assert missing == []
    wrong_kind = [n for n in names if _kind(getattr(ours, n)) != _kind(getattr(stock, n))]
    assert wrong_kind == []


def test_wintypes_sizes_equal():
    stock, ours = _stock_wintypes(), _our_wintypes()
    for name in dir(stock):
        value = getattr(stock, name)
        if isinstance(value, type) and issubclass(value, ctypes._SimpleCData):
            assert ferrotypes.sizeof(getattr(ours, name)) == ctypes.sizeof(value), name
            assert getattr(ours, name)._type_ == value._type_, name

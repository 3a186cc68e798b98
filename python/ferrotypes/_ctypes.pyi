# Type stubs for ferrotypes._ctypes, the compiled half of ferrotypes.
#
# The extension exports the names of CPython 3.11's _ctypes; these stubs
# describe that surface.  Classes whose names start with an underscore and
# are not listed by the module (the metaclasses, _CData, _CArgObject) exist
# at run time only as the types of exported objects.

import sys
from _typeshed import ReadableBuffer, StrOrBytesPath, WriteableBuffer
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Final, Generic, TypeVar, overload
from types import GenericAlias
from typing_extensions import Self, TypeAlias, disjoint_base

_T = TypeVar("_T")
_CT = TypeVar("_CT", bound=_CData)

__version__: Final[str]

RTLD_GLOBAL: Final[int]
RTLD_LOCAL: Final[int]

FUNCFLAG_CDECL: Final[int]
FUNCFLAG_PYTHONAPI: Final[int]
FUNCFLAG_USE_ERRNO: Final[int]
FUNCFLAG_USE_LASTERROR: Final[int]

CTYPES_MAX_ARGCOUNT: Final[int]

# Addresses of C helpers, called through function pointers by the package.
_memmove_addr: Final[int]
_memset_addr: Final[int]
_string_at_addr: Final[int]
_wstring_at_addr: Final[int]
_cast_addr: Final[int]

# Pointer types by target type; incomplete ones (POINTER("name")) by id().
_pointer_type_cache: dict[Any, Any]

class ArgumentError(Exception): ...

# ---------------------------------------------------------------------------
# The C data model

class _CDataMeta(type):
    # "c_int * 4" makes an array type.
    def __mul__(cls: type[_CT], other: int, /) -> type[Array[_CT]]: ...  # type: ignore[misc]
    def __rmul__(cls: type[_CT], other: int, /) -> type[Array[_CT]]: ...  # type: ignore[misc]

class _CData(metaclass=_CDataMeta):
    """Base of every C data type: owns or borrows a block of memory."""

    _b_base_: int
    _b_needsfree_: bool
    _objects: Mapping[Any, int] | None
    @classmethod
    def from_buffer(cls, source: WriteableBuffer, offset: int = ...) -> Self: ...
    @classmethod
    def from_buffer_copy(cls, source: ReadableBuffer, offset: int = ...) -> Self: ...
    @classmethod
    def from_address(cls, address: int) -> Self: ...
    @classmethod
    def from_param(cls, value: Any, /) -> Self | _CArgObject: ...
    @classmethod
    def in_dll(cls, library: _HasHandle, name: str) -> Self: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __setstate__(self, state: Any, /) -> None: ...
    def __ctypes_from_outparam__(self) -> Any: ...

class _HasHandle:
    # Anything with the handle of a loaded library, e.g. a CDLL.
    _handle: int

class _CArgObject:
    """What byref() returns: a light-weight pointer usable only as an argument."""

    _obj: Any

_PointerLike: TypeAlias = _Pointer[Any] | _SimpleCData[Any]
_ECT: TypeAlias = Callable[[Any, CFuncPtr, tuple[Any, ...]], Any]
_PF: TypeAlias = tuple[int] | tuple[int, str | None] | tuple[int, str | None, Any]

class _PyCSimpleType(_CDataMeta): ...

class _SimpleCData(_CData, Generic[_T], metaclass=_PyCSimpleType):
    """Base of the scalar types; ``_type_`` is the struct-style type code."""

    _type_: ClassVar[str]
    value: _T
    def __init__(self, value: _T = ...) -> None: ...
    def __bool__(self) -> bool: ...

class _PyCPointerType(_CDataMeta):
    def set_type(self, type: Any, /) -> None: ...

class _Pointer(_CData, Generic[_CT], metaclass=_PyCPointerType):
    """Base of pointer types; ``_type_`` is the type pointed to."""

    _type_: type[_CT]
    contents: _CT
    @overload
    def __init__(self) -> None: ...
    @overload
    def __init__(self, arg: _CT) -> None: ...
    @overload
    def __getitem__(self, key: int, /) -> Any: ...
    @overload
    def __getitem__(self, key: slice, /) -> list[Any]: ...
    def __setitem__(self, key: int, value: Any, /) -> None: ...
    def __bool__(self) -> bool: ...

class _PyCArrayType(_CDataMeta): ...

class Array(_CData, Generic[_CT], metaclass=_PyCArrayType):
    """Base of array types, made with ``type * length``."""

    _length_: int
    _type_: type[_CT]
    # Only on arrays of c_char (raw, value) and c_wchar (value).
    raw: bytes
    value: Any
    def __init__(self, *args: Any) -> None: ...
    @overload
    def __getitem__(self, key: int, /) -> Any: ...
    @overload
    def __getitem__(self, key: slice, /) -> list[Any]: ...
    @overload
    def __setitem__(self, key: int, value: Any, /) -> None: ...
    @overload
    def __setitem__(self, key: slice, value: Sequence[Any], /) -> None: ...
    # Iteration really goes through __getitem__; declared for type checkers
    # (stubtest reports it as missing at run time).
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def __class_getitem__(cls, item: Any, /) -> GenericAlias: ...

class _PyCStructType(_CDataMeta): ...
class _UnionType(_CDataMeta): ...

class _CField:
    """Descriptor of one structure/union member (``type(SomeStructure.x)``)."""
    offset: Final[int]
    size: Final[int]
    name: Final[str]
    type: Final[type[_CData]]
    byte_offset: Final[int]
    byte_size: Final[int]
    bit_offset: Final[int]
    bit_size: Final[int]
    is_bitfield: Final[bool]
    is_anonymous: Final[bool]
    def __get__(self, instance: Any, owner: Any = None, /) -> Any: ...
    def __set__(self, instance: Any, value: Any, /) -> None: ...
    def __delete__(self, instance: Any, /) -> None: ...

class _StructUnionBase(_CData):
    _fields_: ClassVar[Sequence[tuple[str, type[_CData]] | tuple[str, type[_CData], int]]]
    _pack_: ClassVar[int]
    _align_: ClassVar[int]
    _layout_: ClassVar[str]
    _anonymous_: ClassVar[Sequence[str]]
    def __init__(self, *args: Any, **kw: Any) -> None: ...
    def __getattr__(self, name: str) -> Any: ...
    def __setattr__(self, name: str, value: Any) -> None: ...

class Structure(_StructUnionBase, metaclass=_PyCStructType):
    """Base of C struct types, laid out from ``_fields_``."""

class Union(_StructUnionBase, metaclass=_UnionType):
    """Base of C union types, laid out from ``_fields_``."""

class _PyCFuncPtrType(_CDataMeta): ...

# stubtest calls CFuncPtr "not subclassable": its metaclass insists on a
# _flags_ attribute, which a bare probe subclass lacks.
@disjoint_base
class CFuncPtr(_CData, metaclass=_PyCFuncPtrType):
    """Base of foreign function types (see CFUNCTYPE)."""

    _flags_: ClassVar[int]
    _restype_: ClassVar[type[_CData] | Callable[[int], Any] | None]
    _argtypes_: ClassVar[Sequence[type[_CData]]]
    restype: type[_CData] | Callable[[int], Any] | None
    argtypes: Sequence[type[_CData]]
    errcheck: _ECT
    @overload
    def __new__(cls) -> Self: ...
    @overload
    def __new__(cls, address: int, /) -> Self: ...
    @overload
    def __new__(cls, callable: Callable[..., Any], /) -> Self: ...
    @overload
    def __new__(cls, func_spec: tuple[str | int, _HasHandle], paramflags: tuple[_PF, ...] | None = ..., /) -> Self: ...
    if sys.platform == "win32":
        @overload
        def __new__(
            cls, vtbl_index: int, name: str, paramflags: tuple[_PF, ...] | None = ..., iid: _CData | _CArgObject | None = ..., /
        ) -> Self: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...
    def __bool__(self) -> bool: ...

# ---------------------------------------------------------------------------
# Functions

def POINTER(type: type[_CT] | str, /) -> type[_Pointer[_CT]]: ...
def pointer(obj: _CT, /) -> _Pointer[_CT]: ...
def sizeof(obj_or_type: _CData | type[_CData], /) -> int: ...
def alignment(obj_or_type: _CData | type[_CData], /) -> int: ...
def byref(obj: _CData, offset: int = ..., /) -> _CArgObject: ...
def addressof(obj: _CData, /) -> int: ...
def resize(obj: _CData, size: int, /) -> None: ...
def get_errno() -> int: ...
def set_errno(value: int, /) -> int: ...
def buffer_info(obj_or_type: _CData | type[_CData], /) -> tuple[str, int, tuple[int, ...]]: ...
def _unpickle(cls: type[_CData], state: tuple[Any, Any], /) -> Any: ...
def PyObj_FromPtr(address: int, /) -> Any: ...
def Py_INCREF(obj: _T, /) -> _T: ...
def Py_DECREF(obj: _T, /) -> _T: ...
def call_function(address: int, args: tuple[Any, ...], /) -> Any: ...
def call_cdeclfunction(address: int, args: tuple[Any, ...], /) -> Any: ...

if sys.platform == "win32":
    FUNCFLAG_STDCALL: Final[int]
    FUNCFLAG_HRESULT: Final[int]

    class COMError(Exception):
        hresult: int
        text: str | None
        details: tuple[Any, ...]
        def __init__(self, hresult: int, text: str | None, details: tuple[Any, ...]) -> None: ...

    def FormatError(code: int = ...) -> str: ...
    def LoadLibrary(name: str, load_flags: int = ..., /) -> int: ...
    def FreeLibrary(handle: int, /) -> None: ...
    def get_last_error() -> int: ...
    def set_last_error(value: int) -> int: ...
    def CopyComPointer(src: _PointerLike, dst: _PointerLike | _CArgObject, /) -> int: ...
    def _check_HRESULT(value: int, /) -> int: ...

else:
    def dlopen(name: StrOrBytesPath | None, flag: int = ..., /) -> int: ...
    def dlclose(handle: int, /) -> None: ...
    def dlsym(handle: int, name: str, /) -> int: ...

if sys.platform == "darwin":
    def _dyld_shared_cache_contains_path(path: str | None, /) -> bool: ...

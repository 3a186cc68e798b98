"""Field types for annotated structures that type checkers understand.

``ferrotypes.fields.c_int`` is ``Annotated[int, ferrotypes.c_int]``: in a
:class:`ferrotypes.Struct` body, ``x: c_int`` then declares a C ``int`` field, and a type
checker sees ``Point().x`` as an ``int`` (what reading the field really returns)::

    from ferrotypes import Struct
    from ferrotypes.fields import c_int, c_double

    class Point(Struct):
        x: c_int
        y: c_double

Bit fields: ``Annotated[c_int, 3]``. These names are for annotations only; use the
``ferrotypes`` types themselves to make values.
"""

from typing import Annotated

import ferrotypes as _ct

__all__ = [
    "c_bool", "c_char", "c_wchar", "c_byte", "c_ubyte", "c_short", "c_ushort", "c_int", "c_uint",
    "c_long", "c_ulong", "c_longlong", "c_ulonglong", "c_size_t", "c_ssize_t",
    "c_int8", "c_uint8", "c_int16", "c_uint16", "c_int32", "c_uint32", "c_int64", "c_uint64",
    "c_float", "c_double", "c_longdouble", "c_char_p", "c_wchar_p", "c_void_p",
]

c_bool = Annotated[bool, _ct.c_bool]
c_char = Annotated[bytes, _ct.c_char]
c_wchar = Annotated[str, _ct.c_wchar]
c_byte = Annotated[int, _ct.c_byte]
c_ubyte = Annotated[int, _ct.c_ubyte]
c_short = Annotated[int, _ct.c_short]
c_ushort = Annotated[int, _ct.c_ushort]
c_int = Annotated[int, _ct.c_int]
c_uint = Annotated[int, _ct.c_uint]
c_long = Annotated[int, _ct.c_long]
c_ulong = Annotated[int, _ct.c_ulong]
c_longlong = Annotated[int, _ct.c_longlong]
c_ulonglong = Annotated[int, _ct.c_ulonglong]
c_size_t = Annotated[int, _ct.c_size_t]
c_ssize_t = Annotated[int, _ct.c_ssize_t]
c_int8 = Annotated[int, _ct.c_int8]
c_uint8 = Annotated[int, _ct.c_uint8]
c_int16 = Annotated[int, _ct.c_int16]
c_uint16 = Annotated[int, _ct.c_uint16]
c_int32 = Annotated[int, _ct.c_int32]
c_uint32 = Annotated[int, _ct.c_uint32]
c_int64 = Annotated[int, _ct.c_int64]
c_uint64 = Annotated[int, _ct.c_uint64]
c_float = Annotated[float, _ct.c_float]
c_double = Annotated[float, _ct.c_double]
c_longdouble = Annotated[float, _ct.c_longdouble]
c_char_p = Annotated["bytes | None", _ct.c_char_p]
c_wchar_p = Annotated["str | None", _ct.c_wchar_p]
c_void_p = Annotated["int | None", _ct.c_void_p]

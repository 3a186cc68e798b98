"""Structures and unions with an explicit byte order.

The native-order classes are plain ``Structure``/``Union``.  The foreign-order
ones use a metaclass that rewrites ``_fields_`` as it is assigned, replacing
each field type by its opposite-endian twin:

- scalar types carry the twins as ``__ctype_be__``/``__ctype_le__``
  (the extension creates them for multi-byte types; one-byte types point at
  themselves);
- an array becomes an array of the twin of its element type;
- a nested ``Structure`` is kept as it is: it has its own byte order.

The ``_swappedbytes_`` class attribute tells the layout code (by its presence)
to number bit fields from the other end.
"""

import sys

from . import Array, Structure, Union

_ArrayType = type(Array)
_KEEP_ORDER = (Structure, Union) if sys.version_info >= (3, 13) else Structure

if sys.byteorder == "little":
    _FOREIGN_TWIN = "__ctype_be__"
elif sys.byteorder == "big":
    _FOREIGN_TWIN = "__ctype_le__"
else:
    raise RuntimeError("Invalid byteorder")


def _other_endian(typ):
    """Return the field type to store ``typ`` in the foreign byte order."""
    twin = getattr(typ, _FOREIGN_TWIN, None)
    if twin is None:
        if isinstance(typ, _ArrayType):
            # Same length, elements swapped (recursively, for nested arrays).
            twin = _other_endian(typ._type_) * typ._length_
        elif issubclass(typ, _KEEP_ORDER):
            # A nested structure (from 3.13 also a union) keeps the byte order it was
            # declared with.
            twin = typ
        else:
            raise TypeError("This type does not support other endian: %s" % typ)
    return twin


class _swapped_meta:
    """Metaclass mixin: swap the field types whenever ``_fields_`` is set.

    The Structure/Union metaclass applies a ``_fields_`` found in the class
    body through ``setattr``, so this hook sees both spellings.
    """

    def __setattr__(cls, name, value):
        if name == "_fields_":
            value = [(field[0], _other_endian(field[1])) + field[2:]
                     for field in value]
        super().__setattr__(name, value)


class _swapped_struct_meta(_swapped_meta, type(Structure)):
    pass


class _swapped_union_meta(_swapped_meta, type(Union)):
    pass


if sys.byteorder == "little":
    LittleEndianStructure = Structure
    LittleEndianUnion = Union

    class BigEndianStructure(Structure, metaclass=_swapped_struct_meta):
        """Structure with big endian byte order"""
        __slots__ = ()
        _swappedbytes_ = None

    class BigEndianUnion(Union, metaclass=_swapped_union_meta):
        """Union with big endian byte order"""
        __slots__ = ()
        _swappedbytes_ = None

else:
    BigEndianStructure = Structure
    BigEndianUnion = Union

    class LittleEndianStructure(Structure, metaclass=_swapped_struct_meta):
        """Structure with little endian byte order"""
        __slots__ = ()
        _swappedbytes_ = None

    class LittleEndianUnion(Union, metaclass=_swapped_union_meta):
        """Union with little endian byte order"""
        __slots__ = ()
        _swappedbytes_ = None

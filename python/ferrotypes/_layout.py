"""Where the members of a ``Structure`` or ``Union`` go (Python 3.14 and later).

From 3.14 the extension asks this module for the layout each time ``_fields_`` is
assigned, as CPython's own ``_ctypes`` asks ``ctypes._layout``: ``get_layout`` reads the
class's options (``_layout_``, ``_pack_``, ``_align_``, ``_swappedbytes_``), places every
member by the chosen compiler's rules, and answers with one ``CField`` per member, the
total size and alignment, and the PEP 3118 format of the aggregate. Up to 3.13 the
extension lays structures out by itself and never imports this module.

Two rule sets:

* ``"gcc-sysv"`` (the default except on Windows): members follow each other bit by bit; a
  bit field that would cross the end of the naturally aligned object of its declared type
  that holds its first bit moves to the next such boundary. ``_pack_`` is not allowed.
* ``"ms"``: a bit field joins the storage unit opened by the previous bit field when both
  were declared with types of one size and the unit has room; anything else opens a new
  unit of its own type, aligned (to at most ``_pack_``, if given).
"""

import sys
import warnings

from ._ctypes import CField, alignment, buffer_info, sizeof

# The largest _pack_: C's INT_MAX (int is 32 bits wide on every platform ctypes runs on).
_PACK_LIMIT = 2**31 - 1

_BAD_ENTRY = ("_fields_ must be a sequence of (name, C type) pairs "
              "or (name, C type, bit size) triples")


class StructUnionLayout:
    """What ``get_layout`` answers: the member descriptors in order, the aggregate's
    ``size`` (a multiple of ``align``) and ``align``, and its buffer ``format_spec``."""

    def __init__(self, fields, size, align, format_spec):
        self.fields = fields
        self.size = size
        self.align = align
        self.format_spec = format_spec


def _ceil_to(value, unit):
    """``value`` rounded up to a multiple of ``unit`` (both non-negative, unit > 0)."""
    return -(-value // unit) * unit


def _floor_to(value, unit):
    return value - value % unit


def _pad(nbytes):
    """Format code for ``nbytes`` bytes of padding ('' for none)."""
    if nbytes <= 0:
        return ""
    return "x" if nbytes == 1 else "%dx" % nbytes


def _uses_gcc_rules(cls, pack, is_struct):
    """True for the GCC rules, False for MSVC's, from ``_layout_`` (and ``_pack_``)."""
    chosen = getattr(cls, "_layout_", None)
    if chosen == "gcc-sysv":
        return True
    if chosen == "ms":
        return False
    if chosen is not None:
        raise ValueError("unknown _layout_: %r" % (chosen,))
    if sys.platform == "win32":
        return False
    if not pack:
        return True
    # A pack without an explicit _layout_ has always meant MSVC's rules; saying so is
    # now required.
    what = "Structure" if is_struct else "Union"
    warnings._deprecated(
        "_pack_ without _layout_",
        "Due to '_pack_', the '" + cls.__name__ + "' " + what
        + " will use memory layout compatible with MSVC (Windows). If this is "
        "intended, set _layout_ to 'ms'. The implicit default is deprecated and "
        "slated to become an error in Python {remove}.",
        remove=(3, 19),
    )
    return False


def _checked_pack(pack, gcc):
    if pack is None:
        return None
    try:
        pack = int(pack)
    except (TypeError, ValueError):
        raise ValueError("_pack_ must be an integer") from None
    if pack < 0:
        raise ValueError("_pack_ must be a non-negative integer")
    if pack > _PACK_LIMIT:
        raise ValueError("_pack_ too big")
    if gcc:
        raise ValueError("_pack_ is not compatible with gcc-sysv layout")
    return pack


def _unpack_entry(entry):
    """``(name, ctype, bits)`` of one ``_fields_`` entry; ``bits`` is None for a plain
    member."""
    entry = tuple(entry)
    if len(entry) == 2:
        return entry[0], entry[1], None
    if len(entry) == 3:
        return entry
    raise ValueError(_BAD_ENTRY) from ValueError(
        "a _fields_ entry has %d items" % len(entry))


def get_layout(cls, input_fields, is_struct, base):
    """Lay out ``input_fields`` for ``cls`` (a structure if ``is_struct``, else a union)
    after the members of ``base`` (a complete aggregate type, or None)."""
    raw_pack = getattr(cls, "_pack_", None)
    gcc = _uses_gcc_rules(cls, raw_pack, is_struct)

    align = getattr(cls, "_align_", 1)
    if align < 0:
        raise ValueError("_align_ must be a non-negative integer")
    align = align or 1
    if base:
        align = max(align, alignment(base))

    # Bit fields count from the most significant end in a big-endian aggregate.
    foreign = hasattr(cls, "_swappedbytes_")
    big_endian = (sys.byteorder == "big") != foreign

    pack = _checked_pack(raw_pack, gcc)

    made = []
    fmt = ["T{"] if is_struct else ["B"]
    # GCC rules: the next free bit. MSVC rules: the end of the open storage unit (in bytes),
    # the bits of that unit still free (as a negative count), and the unit's size in bits.
    free_bit = 0
    unit_end = 0
    unit_free = 0
    unit_bits = 0
    size_so_far = 0   # bytes covered so far (a structure)
    union_size = 0    # the largest member (a union)
    if base:
        size_so_far = sizeof(base)
        if gcc:
            free_bit = 8 * size_so_far
        else:
            unit_end = size_so_far
    data_end = size_so_far

    for index, entry in enumerate(input_fields):
        if not is_struct:
            free_bit = unit_end = unit_free = unit_bits = 0
        name, ctype, bits = _unpack_entry(entry)
        is_bitfield = bits is not None
        if is_bitfield:
            if bits <= 0:
                raise ValueError("number of bits invalid for bit field %r" % (name,))
            type_size = sizeof(ctype)
            if bits > 8 * type_size:
                raise ValueError("number of bits invalid for bit field %r" % (name,))
        else:
            type_size = sizeof(ctype)
            bits = 8 * type_size
        type_bits = 8 * type_size
        type_align = alignment(ctype) or 1
        bit_offset = 0

        if gcc:
            unit = 8 * type_align
            # The type-sized object aligned for the type that holds the first free bit:
            # if the member would run past its end, start at the next boundary.
            if free_bit + bits > _floor_to(free_bit, unit) + type_bits:
                free_bit = _ceil_to(free_bit, unit)
            offset = _floor_to(free_bit, unit) // 8
            if is_bitfield:
                bit_offset = free_bit - 8 * offset
            free_bit += bits
            size_so_far = _ceil_to(free_bit, 8) // 8
        else:
            if pack:
                type_align = min(type_align, pack)
            if unit_free + bits > 0 or type_bits != unit_bits:
                # Open a new unit of this member's type.
                unit_end = _ceil_to(unit_end, type_align) + type_size
                unit_bits = type_bits
                unit_free = -type_bits
            offset = unit_end - unit_bits // 8
            if is_bitfield:
                bit_offset = unit_bits + unit_free
            unit_free += bits
            size_so_far = unit_end

        if is_bitfield and big_endian:
            bit_offset = type_bits - bits - bit_offset

        if is_struct:
            fmt.append(_pad(offset - data_end))
            code, _ndim, shape = buffer_info(ctype)
            if shape:
                fmt.append("(%s)" % ",".join(map(str, shape)))
            if isinstance(name, bytes):
                raise TypeError("field %r: name must be a string, not bytes" % (name,))
            fmt.append("%s:%s:" % ("B" if code is None else code, name))

        made.append(CField(
            name=name, type=ctype, byte_size=type_size, byte_offset=offset, index=index,
            bit_size=bits if is_bitfield else None,
            bit_offset=bit_offset if is_bitfield else None,
            _internal_use=True))

        align = max(align, type_align)
        data_end = size_so_far
        if not is_struct:
            union_size = max(union_size, size_so_far)

    used = size_so_far if is_struct else union_size
    total = _ceil_to(used, align)
    if is_struct:
        fmt.append(_pad(total - used))
        fmt.append("}")
    return StructUnionLayout(made, total, align, "".join(fmt))

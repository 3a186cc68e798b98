"""Proof against the compiler: random Structures and Unions laid out as the C compiler does.

A seeded generator makes random aggregate definitions: every C scalar type, fixed-width
integers, pointers, nested structures and unions, arrays of one to three dimensions of
scalars and of aggregates, bit fields of mixed integer types and widths, ``_pack_`` (GCC's
``#pragma pack(n)``), ``_anonymous_`` members (C11 anonymous struct/union members),
``_align_`` (``__attribute__((aligned(n)))`` on the type), ``BigEndianStructure``/
``BigEndianUnion`` (GCC's ``scalar_storage_order("big-endian")``) and Structure subclasses
(a leading member ``base`` of the base type). Each definition becomes a real
``ferrotypes`` class and the equivalent C; the C for a batch is compiled once into a shared
library and called through ferrotypes itself. For every aggregate:

* **layout** -- ``sizeof``, ``alignof`` and ``offsetof`` of every ordinary member (promoted
  anonymous members included) against ``sizeof``/``alignment``/``CField.offset``;
* **bit positions, C to Python** -- C zeroes an object, stores all ones into one bit field
  and returns the bytes; ferrotypes does the same on a zeroed instance and ``bytes(inst)``
  must be identical;
* **values, Python to C** -- ferrotypes stores random values in the leaves (scalars, array
  elements, bit fields, members of nested aggregates; in a union, one member), C reads every
  leaf from the instance's memory and the values must agree with what ferrotypes wrote and
  reads back;
* **by value** -- ``struct S rt_S(struct S s) { return s; }`` and a variant that changes
  one leaf are called with ``argtypes``/``restype`` set; every leaf must survive (or hold
  the new value). Skipped for aggregates aligned to more than 16 bytes (refused as
  arguments) and one corner of GCC's classification that ferrotypes does not model, see
  :func:`by_value_supported`.

The system compiler is taken as GCC on Linux (the default ``_layout_``): ferrotypes follows
GCC deliberately, also where stock CPython 3.11 places bit fields differently, so nothing here
is compared with ``ctypes``. The by-value part runs on x86-64, whose psABI the exclusions
below are about.

``FERROTYPES_LAYOUT_CASES`` sets the number of top-level definitions (default 500, the CI
size; nested ones come on top) and ``FERROTYPES_LAYOUT_SEED`` the seed. Every mismatch prints
the C and the Python definitions (with everything they depend on) and fails the test.

Not generated, and why:

* ``c_char`` arrays of two or more dimensions: a ``c_char`` array member reads and writes as
  ``bytes``, not element by element, so a one-dimensional one is one ``bytes`` leaf here and
  deeper ones would need another way in;
* zero-width bit fields and zero-length arrays: ctypes 3.11 refuses the first, C only has
  the second as a GNU extension;
* in a big-endian aggregate: ``c_bool``, ``c_char``, pointers, ``c_longdouble``, union
  members and anonymous members, which ``_endian`` (as CPython 3.11's) refuses;
* a subclass with ``_pack_``, or of a packed or big-endian base: ctypes keeps a base's
  alignment under ``_pack_`` where C would reduce a ``base`` member's, and a subclass
  inherits its base's ``_pack_`` and byte order (``crates/ferrotypes-core/tests/
  layout_vs_cc.rs`` covers the layout engine's side of those);
* ``_layout_ = "ms"``: compared with GCC's ``ms_struct`` in that same Rust test (from
  CPython 3.14 ``_pack_`` requires it: packed aggregates then carry ``_layout_ = "ms"`` and
  the C ``ms_struct``, and packed unions have no bit fields, which GCC's ``ms_struct`` sizes
  by the bytes they touch rather than by their declared types as MSVC does);
* ``c_wchar``, ``c_char_p``/``c_wchar_p``, ``py_object``, function pointers: laid out as
  the ``wchar_t`` and pointer scalars that are generated, and their values need live memory.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import platform
import random
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

import ferrotypes as ct

CI_CASES = 500
DEFAULT_SEED = 0x5EED_C0DE
BATCH = 250  # top-level definitions per C file
MAX_LEAVES = 48  # leaves checked per aggregate (sampled beyond that)
REPORTED = 10
MAX_STACK_ALIGN = 16  # libffi's outgoing argument area, see `by_value_supported`
BY_VALUE = platform.machine() in ("x86_64", "AMD64")  # mismatching aggregates printed in full


# --- the C scalar types -------------------------------------------------------------------

@dataclass(frozen=True)
class Scalar:
    py: str  # expression in the `ferrotypes` namespace
    c: str
    size: int
    # "signed", "unsigned", "bool", "char", "float", "longdouble", "pointer"
    kind: str

    @property
    def ctype(self):
        if self.py == "POINTER(c_int)":
            return ct.POINTER(ct.c_int)
        return getattr(ct, self.py)


def _scalars():
    out = [
        Scalar("c_char", "char", 1, "char"),
        Scalar("c_bool", "_Bool", 1, "bool"),
        Scalar("c_float", "float", 4, "float"),
        Scalar("c_double", "double", 8, "float"),
        Scalar("c_longdouble", "long double", ct.sizeof(ct.c_longdouble), "longdouble"),
        Scalar("c_void_p", "void *", ct.sizeof(ct.c_void_p), "pointer"),
        Scalar("POINTER(c_int)", "int *", ct.sizeof(ct.c_void_p), "pointer"),
    ]
    for py, c in [("byte", "signed char"), ("short", "short"), ("int", "int"),
                  ("long", "long"), ("longlong", "long long")]:
        size = ct.sizeof(getattr(ct, "c_" + py))
        out.append(Scalar("c_" + py, c, size, "signed"))
        out.append(Scalar("c_u" + py, "unsigned " + c.replace("signed ", ""), size, "unsigned"))
    for bits in (8, 16, 32, 64):
        out.append(Scalar(f"c_int{bits}", f"int{bits}_t", bits // 8, "signed"))
        out.append(Scalar(f"c_uint{bits}", f"uint{bits}_t", bits // 8, "unsigned"))
    return out


SCALARS = _scalars()
BIT_FIELD_TYPES = [s for s in SCALARS if s.kind in ("signed", "unsigned", "bool")]
# What a BigEndianStructure may hold (ferrotypes' _endian, as CPython 3.11's): types with a
# byte-swapped twin, arrays of them, and Structures (kept in their own byte order).
SWAPPABLE = [s for s in SCALARS if s.kind in ("signed", "unsigned", "float")]
SWAPPABLE_BIT_FIELD_TYPES = [s for s in BIT_FIELD_TYPES if s.kind != "bool"]
BIG_ENDIAN = sys.byteorder == "little"  # the foreign order GCC's scalar_storage_order gives


# --- the generated definitions ------------------------------------------------------------

@dataclass
class Member:
    name: str
    # "scalar", "bits", "array" (of a Scalar or an Aggregate), "nested", "anonymous"
    what: str
    scalar: Scalar | None = None
    aggregate: Aggregate | None = None
    width: int = 0
    dims: tuple[int, ...] = ()


@dataclass
class Aggregate:
    index: int
    is_union: bool
    pack: int | None
    align: int | None
    big_endian: bool
    members: list[Member] = field(default_factory=list)
    # which member a union's value-fill writes (structures write them all)
    active: int = 0
    cls: type | None = None
    leaves: list = field(default_factory=list)
    modify: tuple | None = None  # (leaf index, new value) for the by-value variant
    # A Structure base class; in C, a leading member `base` of that type.
    base: Aggregate | None = None

    @property
    def name(self):
        return f"A{self.index}"

    @property
    def keyword(self):
        return "union" if self.is_union else "struct"

    def dependencies(self):
        """Aggregates this one names, deepest first, each once."""
        seen, out = set(), []

        def visit(agg):
            named = [m.aggregate for m in agg.members if m.aggregate is not None]
            for inner in ([agg.base] if agg.base else []) + named:
                if inner.index not in seen:
                    visit(inner)
                    seen.add(inner.index)
                    out.append(inner)

        visit(self)
        return out

    def fields(self):
        """(Python name, C name, member) of every field addressable by name: inherited ones,
        own members, anonymous members replaced by their (recursively) promoted fields."""
        if self.base is not None:
            for name, c_name, m in self.base.fields():
                yield name, "base." + c_name, m
        for m in self.members:
            if m.what == "anonymous":
                yield from m.aggregate.fields()
            else:
                yield m.name, m.name, m


class Generator:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.aggregates: list[Aggregate] = []

    def aggregate(self, depth=0, pack=False, is_union=None, anonymous=False, foreign=True):
        """A new aggregate (after the ones it nests). `pack=False` picks a random pack;
        anything else (None or a number) is imposed, for anonymous members. `foreign=False`
        keeps it in the native byte order (a base class)."""
        rng = self.rng
        if is_union is None:
            is_union = rng.random() < 0.2
        if pack is False:
            pack = rng.choice([1, 2, 4, 8]) if rng.random() < 0.3 else None
        align = rng.choice([1, 2, 4, 8, 16, 32]) if rng.random() < 0.15 else None
        big_endian = foreign and BIG_ENDIAN and rng.random() < 0.12
        # ctypes does not reduce a base's alignment under `_pack_` (a C member would be),
        # a subclass inherits the `_pack_` of its base (a class attribute) and a base lends
        # it its byte order: unpacked subclasses of unpacked, native bases only.
        base = None
        if not (is_union or anonymous or big_endian) and pack is None and depth < 2 \
                and rng.random() < 0.1:
            base = self.aggregate(depth + 1, pack=None, is_union=False, foreign=False)
        scalars = SWAPPABLE if big_endian else SCALARS
        bit_field_types = SWAPPABLE_BIT_FIELD_TYPES if big_endian else BIT_FIELD_TYPES
        nested_union = False if big_endian else None
        members: list[Member] = []
        count = 1 + rng.randrange(5 if is_union else 9)
        last_bit_type = rng.choice(bit_field_types)
        # GCC's `ms_struct` sizes a packed union by the bytes its bit fields touch, MSVC (and
        # so ctypes' "ms" rules) by their declared types: not compared (3.14+).
        no_bits = PACK_IS_MS and is_union and pack is not None
        for _ in range(count):
            roll = rng.random()
            if roll < 0.35 and not no_bits:
                ty = last_bit_type if rng.random() < 0.5 else rng.choice(bit_field_types)
                last_bit_type = ty
                bits = ty.size * 8
                if ty.kind == "bool":
                    width = 1
                elif rng.random() < 0.15:
                    width = bits
                elif rng.random() < 0.5:
                    width = rng.randint(1, min(bits, 12))
                else:
                    width = rng.randint(1, bits)
                members.append(Member("", "bits", scalar=ty, width=width))
            elif roll < 0.65 or depth >= 2:
                members.append(Member("", "scalar", scalar=rng.choice(scalars)))
            elif roll < 0.78:
                ty = rng.choice(scalars)
                ndims = 1 if ty.kind == "char" else rng.randint(1, 3)
                dims = tuple(rng.randint(1, 3) for _ in range(ndims))
                members.append(Member("", "array", scalar=ty, dims=dims))
            elif roll < 0.88 or (roll >= 0.94 and big_endian):
                inner = self.aggregate(depth + 1, is_union=nested_union)
                members.append(Member("", "nested", aggregate=inner))
            elif roll < 0.94:
                dims = tuple(rng.randint(1, 3) for _ in range(rng.randint(1, 2)))
                inner = self.aggregate(depth + 1, is_union=nested_union)
                members.append(Member("", "array", aggregate=inner, dims=dims))
            else:
                # C11 anonymous members are written inline, so under the outer pack.
                inner = self.aggregate(depth + 1, pack=pack, anonymous=True)
                members.append(Member("", "anonymous", aggregate=inner))
        agg = Aggregate(len(self.aggregates), is_union, pack, align, big_endian, members,
                        base=base)
        for i, m in enumerate(members):
            # Globally unique names: promoted anonymous fields must not collide.
            m.name = f"m{agg.index}_{i}"
        agg.active = rng.randrange(len(members))
        self.aggregates.append(agg)
        agg.cls = make_class(agg)
        agg.leaves = self.choose_leaves(agg)
        return agg

    def choose_leaves(self, agg):
        leaves = list(leaves_of(agg, (), True))
        if len(leaves) > MAX_LEAVES:
            keep = sorted(self.rng.sample(range(len(leaves)), MAX_LEAVES))
            leaves = [leaves[i] for i in keep]
        # The by-value variant changes one written integer leaf (a bit field or a scalar).
        candidates = [i for i, leaf in enumerate(leaves)
                      if leaf.written and leaf.kind in ("signed", "unsigned")]
        if candidates:
            i = self.rng.choice(candidates)
            agg.modify = (i, random_value(self.rng, leaves[i]))
        return leaves


# --- leaves: the scalars inside an aggregate, with their paths ----------------------------

@dataclass(frozen=True)
class Leaf:
    # steps: ("attr", name), ("item", index), ("base", "base") (C's leading member standing
    # for the base class; Python reaches inherited fields directly)
    path: tuple
    scalar: Scalar
    width: int  # bit field width, 0 otherwise
    chars: int  # a c_char array read as bytes: its length, 0 otherwise
    written: bool  # the value-fill stores into it (a union writes one member)

    @property
    def kind(self):
        return self.scalar.kind

    @property
    def c_path(self):
        return "".join(f"[{s}]" if step == "item" else f".{s}" for step, s in self.path)


def leaves_of(agg, prefix, written):
    if agg.base is not None:
        yield from leaves_of(agg.base, prefix + (("base", "base"),), written)
    for i, m in enumerate(agg.members):
        w = written and (not agg.is_union or i == agg.active)
        # Promoted names are reachable directly, in C and in Python alike.
        here = prefix if m.what == "anonymous" else prefix + (("attr", m.name),)
        if m.what == "anonymous":
            yield from leaves_of(m.aggregate, here, w)
        elif m.what == "bits":
            yield Leaf(here, m.scalar, m.width, 0, w)
        elif m.what == "scalar":
            yield Leaf(here, m.scalar, 0, 0, w)
        elif m.what == "nested":
            yield from leaves_of(m.aggregate, here, w)
        elif m.scalar is not None and m.scalar.kind == "char":
            yield Leaf(here, m.scalar, 0, m.dims[0], w)
        else:
            for index in _indices(m.dims):
                path = here + tuple(("item", k) for k in index)
                if m.scalar is not None:
                    yield Leaf(path, m.scalar, 0, 0, w)
                else:
                    yield from leaves_of(m.aggregate, path, w)


def _indices(dims):
    if not dims:
        yield ()
        return
    for k in range(dims[0]):
        for rest in _indices(dims[1:]):
            yield (k,) + rest


def random_value(rng, leaf):
    kind, size = leaf.kind, leaf.scalar.size
    if leaf.chars:
        return bytes(rng.randrange(1, 256) for _ in range(leaf.chars))
    bits = leaf.width or size * 8
    if kind == "signed":
        return rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1))
    if kind == "unsigned":
        return rng.randrange(0, 1 << bits)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "char":
        return bytes([rng.randrange(256)])
    if kind == "pointer":
        return rng.randrange(1, 1 << 47) & ~7
    if kind == "float" and size == 4:
        return struct.unpack("f", struct.pack("f", rng.uniform(-1e6, 1e6)))[0]
    return rng.uniform(-1e12, 1e12)  # double, long double: any double is exact


# --- the Python side ----------------------------------------------------------------------

def member_type(m):
    if m.what in ("scalar", "bits"):
        return m.scalar.ctype
    ty = m.aggregate.cls if m.aggregate is not None else m.scalar.ctype
    for d in reversed(m.dims):
        ty = ty * d
    return ty


# From 3.14, `_pack_` means MSVC's rules (`_layout_ = "ms"`, said explicitly; GCC's rules
# refuse a pack): packed aggregates are compared with GCC's `ms_struct`.
PACK_IS_MS = sys.version_info >= (3, 14)


def make_class(agg):
    ns = {}
    if agg.pack is not None:
        ns["_pack_"] = agg.pack
        if PACK_IS_MS:
            ns["_layout_"] = "ms"
    if agg.align is not None:
        ns["_align_"] = agg.align
    anonymous = [m.name for m in agg.members if m.what == "anonymous"]
    if anonymous:
        ns["_anonymous_"] = anonymous
    ns["_fields_"] = [
        (m.name, member_type(m), m.width) if m.what == "bits" else (m.name, member_type(m))
        for m in agg.members
    ]
    return type(agg.name, (agg.base.cls if agg.base else py_base(agg),), ns)


def py_base(agg):
    if agg.big_endian:
        return ct.BigEndianUnion if agg.is_union else ct.BigEndianStructure
    return ct.Union if agg.is_union else ct.Structure


def py_type_expr(m):
    if m.what in ("scalar", "bits"):
        return m.scalar.py
    ty = m.aggregate.name if m.aggregate is not None else m.scalar.py
    return ty + "".join(f" * {d}" for d in reversed(m.dims))


def py_definition(agg):
    base = agg.base.name if agg.base else py_base(agg).__name__
    lines = [f"class {agg.name}({base}):"]
    if agg.pack is not None:
        lines.append(f"    _pack_ = {agg.pack}")
        if PACK_IS_MS:
            lines.append('    _layout_ = "ms"')
    if agg.align is not None:
        lines.append(f"    _align_ = {agg.align}")
    anonymous = [m.name for m in agg.members if m.what == "anonymous"]
    if anonymous:
        lines.append(f"    _anonymous_ = {anonymous!r}")
    lines.append("    _fields_ = [")
    for m in agg.members:
        extra = f", {m.width}" if m.what == "bits" else ""
        lines.append(f"        ({m.name!r}, {py_type_expr(m)}{extra}),")
    lines.append("    ]")
    return "\n".join(lines) + "\n"


def navigate(obj, path):
    for step, s in path[:-1]:
        if step == "attr":
            obj = getattr(obj, s)
        elif step == "item":
            obj = obj[s]
    return obj, path[-1]


def py_set(obj, leaf, value):
    if leaf.kind == "pointer" and leaf.scalar.py != "c_void_p":
        value = ct.cast(ct.c_void_p(value), ct.POINTER(ct.c_int))
    parent, (step, s) = navigate(obj, leaf.path)
    if step == "attr":
        setattr(parent, s, value)
    else:
        parent[s] = value


def py_get(obj, leaf):
    parent, (step, s) = navigate(obj, leaf.path)
    value = getattr(parent, s) if step == "attr" else parent[s]
    return normalize(leaf, value)


def normalize(leaf, value):
    """A leaf's value as ferrotypes returns it, made comparable with `decode_c`."""
    if leaf.chars:
        return value.ljust(leaf.chars, b"\0")
    if leaf.kind == "pointer":
        if not isinstance(value, int) and value is not None:
            value = ct.cast(value, ct.c_void_p).value
        return value or 0
    if leaf.kind == "bool":
        return bool(value)
    return value


def decode_c(leaf, slot):
    """A leaf's value from the 8-byte slot the C reader filled."""
    if leaf.chars:
        # As the field reads it: up to the first NUL.
        return slot[: leaf.chars].split(b"\0")[0].ljust(leaf.chars, b"\0")
    kind = leaf.kind
    if kind == "signed":
        return struct.unpack("<q", slot)[0]
    if kind in ("unsigned", "pointer"):
        return struct.unpack("<Q", slot)[0]
    if kind == "bool":
        return slot[0] != 0
    if kind == "char":
        return slot[:1]
    return struct.unpack("<d", slot)[0]


def same(leaf, a, b):
    if leaf.kind in ("float", "longdouble") and not leaf.chars:
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def comparable_unwritten(leaf):
    """Whether a leaf the fill did not write (a union's other members) has a value both
    sides must agree on whatever its bytes: not _Bool (a byte other than 0/1 is undefined in
    C) and not long double (arbitrary bytes may be no valid x87 number)."""
    return leaf.kind not in ("bool", "longdouble")


# --- the C side ---------------------------------------------------------------------------

C_PRELUDE = """\
#include <stddef.h>
#include <stdint.h>
#include <string.h>
"""


def c_decl(m):
    if m.what == "bits":
        return f"{m.scalar.c} {m.name} : {m.width};"
    ty = m.scalar.c if m.aggregate is None else m.aggregate.name
    return f"{ty} {m.name}{''.join(f'[{d}]' for d in m.dims)};"


def c_attributes(agg):
    attributes = []
    if agg.pack is not None and PACK_IS_MS:
        attributes.append("ms_struct")
    if agg.align is not None:
        attributes.append(f"aligned({agg.align})")
    if agg.big_endian:
        attributes.append('scalar_storage_order("big-endian")')
    return f" __attribute__(({', '.join(attributes)}))" if attributes else ""


def c_body(agg, indent):
    lines = []
    for m in agg.members:
        if m.what == "anonymous":
            inner = m.aggregate
            lines.append(f"{indent}{inner.keyword}{c_attributes(inner)} {{")
            lines.extend(c_body(inner, indent + "    "))
            lines.append(f"{indent}}};")
        else:
            lines.append(indent + c_decl(m))
    return lines


def c_definition(agg):
    lines = []
    if agg.pack is not None:
        lines.append(f"#pragma pack(push, {agg.pack})")
    lines.append(f"typedef {agg.keyword}{c_attributes(agg)} {agg.name} {{")
    if agg.base is not None:
        lines.append(f"    {agg.base.name} base;")
    lines.extend(c_body(agg, "    "))
    lines.append(f"}} {agg.name};")
    if agg.pack is not None:
        lines.append("#pragma pack(pop)")
    return "\n".join(lines) + "\n"


def c_literal(scalar, value):
    return f"({scalar.c})({value}LL)" if value < 0 else f"({scalar.c})({value}ULL)"


def c_functions(agg):
    n = agg.name
    fields = list(agg.fields())
    out = [f"void info_{n}(unsigned long long *out) {{",
           f"    out[0] = sizeof({n}); out[1] = _Alignof({n});"]
    k = 2
    for _, c_name, m in fields:
        if m.what != "bits":
            out.append(f"    out[{k}] = offsetof({n}, {c_name});")
            k += 1
    out.append("}")
    out.append(f"void ones_{n}(int which, unsigned char *out) {{")
    out.append(f"    {n} v; memset(&v, 0, sizeof v);")
    out.append("    switch (which) {")
    for k, (_, c_name, m) in enumerate(f for f in fields if f[2].what == "bits"):
        ones = "1" if m.scalar.kind == "bool" else "-1"
        out.append(f"    case {k}: v.{c_name} = {ones}; break;")
    out.append("    }")
    out.append("    memcpy(out, &v, sizeof v);")
    out.append("}")
    out.append(f"void read_{n}(const {n} *s, unsigned char *out) {{")
    for k, leaf in enumerate(agg.leaves):
        slot, ref = f"out + {8 * k}", f"s->{leaf.c_path[1:]}"
        kind = leaf.kind
        if leaf.chars:
            out.append(f"    memcpy({slot}, {ref}, {leaf.chars});")
            continue
        if kind == "signed":
            expr = f"long long x = {ref};"
        elif kind == "char":
            expr = f"unsigned long long x = (unsigned char){ref};"
        elif kind in ("unsigned", "bool"):
            expr = f"unsigned long long x = {ref};"
        elif kind == "pointer":
            expr = f"unsigned long long x = (uintptr_t){ref};"
        else:
            expr = f"double x = {ref};"
        out.append(f"    {{ {expr} memcpy({slot}, &x, 8); }}")
    out.append("}")
    out.append(f"{n} rt_{n}({n} s) {{ return s; }}")
    if agg.modify is not None:
        i, value = agg.modify
        leaf = agg.leaves[i]
        out.append(f"{n} mod_{n}({n} s) {{ s.{leaf.c_path[1:]} = "
                   f"{c_literal(leaf.scalar, value)}; return s; }}")
    return "\n".join(out) + "\n"


def by_value_supported(agg):
    """Whether `agg` can be passed and returned by value as the C compiler does.

    Everything is passed by value (on x86-64) except:

    * an aggregate aligned to more than 16 bytes (`_align_ = 32`): libffi aligns its
      outgoing argument area to 16 bytes only, so ferrotypes refuses it as an argument
      (tests/test_byvalue_corners.py);
    * one corner of GCC's classification that ferrotypes does not model: a nested aggregate
      with a scalar that `_pack_` misaligns inside it makes ferrotypes pass the enclosing
      one in memory, where GCC checks each scalar where it finally lies, so that an
      enclosing `_pack_` can realign them all (GCC 12's own code for such a type,
      `aligned(8)` inside `pack(1)`, then drops half of the value).

    An aggregate that is one `long double` (returned in %st0), arrays of `_pack_`ed
    aggregates (GCC checks their first element only) and bit fields of exactly 8, 16, 32 or
    64 bits at a multiple of their width (ordinary members to GCC) are passed as GCC does.
    """
    if not BY_VALUE or ct.alignment(agg.cls) > MAX_STACK_ALIGN:
        return False
    def gcc_misaligned(a):
        return misaligned_inside(a, first_elements_only=True, whole_mode_bit_fields=True)
    return gcc_misaligned(agg) or not any(map(gcc_misaligned, agg.dependencies()))


def misaligned_inside(agg, first_elements_only=False, whole_mode_bit_fields=False):
    """Whether a scalar inside `agg` is off its alignment, counted from the start of `agg`
    (what makes the psABI pass it in memory). A structure's bit fields never are; a union's
    count as integers of the smallest mode that holds them (GCC's `classify_argument` and
    bit-field types). GCC looks at the first element of an array only:
    `first_elements_only=True` does the same. And GCC makes a structure's bit field of 8,
    16, 32 or 64 bits at a multiple of its width an ordinary integer member:
    `whole_mode_bit_fields=True` counts those."""
    def scalars(a, offset):
        cls = a.cls
        if a.base is not None:
            yield from scalars(a.base, offset)
        for m in a.members:
            descr = getattr(cls, m.name)
            at = offset + descr.offset
            if m.what == "bits" and not a.is_union:
                first = descr.bit_offset
                if a.big_endian:
                    first = descr.byte_size * 8 - descr.bit_offset - m.width
                if whole_mode_bit_fields and m.width in (8, 16, 32, 64) \
                        and (descr.offset * 8 + first) % m.width == 0:
                    yield at + first // 8, m.width // 8
                continue
            if m.what == "bits":
                yield at, next(n for n in (1, 2, 4, 8) if 8 * n >= m.width)
                continue
            if m.what == "scalar":
                yield at, ct.alignment(m.scalar.ctype)
                continue
            if m.aggregate is not None and not m.dims:
                yield from scalars(m.aggregate, at)
                continue
            element = m.aggregate.cls if m.aggregate is not None else m.scalar.ctype
            step = ct.sizeof(element)
            for k in range(1 if first_elements_only else math.prod(m.dims)):
                if m.aggregate is not None:
                    yield from scalars(m.aggregate, at + k * step)
                else:
                    yield at + k * step, ct.alignment(m.scalar.ctype)
    return any(at % align for at, align in scalars(agg, 0))


# --- the comparison -----------------------------------------------------------------------

def check_aggregate(lib, agg):
    """Mismatch descriptions for one aggregate (empty when ferrotypes agrees with C)."""
    problems = []
    cls = agg.cls
    fields = list(agg.fields())
    plain = [name for name, _, m in fields if m.what != "bits"]
    bit_fields = [(name, m) for name, _, m in fields if m.what == "bits"]
    size = ct.sizeof(cls)

    # Layout.
    info = (ct.c_ulonglong * (2 + len(plain)))()
    getattr(lib, "info_" + agg.name)(info)
    expected = list(info)
    got = [size, ct.alignment(cls)] + [getattr(cls, name).offset for name in plain]
    labels = ["sizeof", "alignof"] + [f"offsetof {name}" for name in plain]
    for label, c_value, ours in zip(labels, expected, got):
        if c_value != ours:
            problems.append(f"{label}: C {c_value}, ferrotypes {ours}")
    if expected[0] != size:
        return problems  # nothing below is meaningful with different sizes

    # Bit positions: all ones in one field of a zeroed object.
    ones = getattr(lib, "ones_" + agg.name)
    buf = (ct.c_ubyte * size)()
    for k, (name, m) in enumerate(bit_fields):
        ones(k, buf)
        inst = cls()
        kind = m.scalar.kind
        setattr(inst, name, True if kind == "bool" else -1 if kind == "signed"
                else (1 << m.width) - 1)
        if bytes(inst) != bytes(buf):
            problems.append(f"bit field {name} all ones: C {bytes(buf).hex(' ')}, "
                            f"ferrotypes {bytes(inst).hex(' ')} ({getattr(cls, name)!r})")

    # Values: ferrotypes writes, both read.
    rng = random.Random(agg.index)
    inst = cls()
    written = {}
    for i, leaf in enumerate(agg.leaves):
        if leaf.written:
            written[i] = random_value(rng, leaf)
            py_set(inst, leaf, written[i])
    slots = (ct.c_ubyte * (8 * max(1, len(agg.leaves))))()
    getattr(lib, "read_" + agg.name)(ct.byref(inst), slots)
    raw = bytes(slots)
    for i, leaf in enumerate(agg.leaves):
        ours = py_get(inst, leaf)
        theirs = decode_c(leaf, raw[8 * i: 8 * i + 8])
        if i in written:
            want = normalize(leaf, written[i])
            if not same(leaf, ours, want) or not same(leaf, theirs, want):
                problems.append(f"leaf {leaf.c_path}: wrote {want!r}, ferrotypes reads "
                                f"{ours!r}, C reads {theirs!r}")
        elif comparable_unwritten(leaf) and not same(leaf, ours, theirs):
            problems.append(f"leaf {leaf.c_path} (not written): ferrotypes reads {ours!r}, "
                            f"C reads {theirs!r}")

    # By value.
    if by_value_supported(agg):
        before = [py_get(inst, leaf) for leaf in agg.leaves]
        variants = [("rt_", None)] + ([("mod_", agg.modify)] if agg.modify else [])
        for prefix, change in variants:
            fn = getattr(lib, prefix + agg.name)
            fn.argtypes = [cls]
            fn.restype = cls
            result = fn(inst)
            want_values = before
            if change is not None:
                # In a union the change reaches the other members too: make it here as well.
                changed = cls.from_buffer_copy(inst)
                py_set(changed, agg.leaves[change[0]], change[1])
                want_values = [py_get(changed, leaf) for leaf in agg.leaves]
            for i, leaf in enumerate(agg.leaves):
                if not (leaf.written or comparable_unwritten(leaf)):
                    continue
                want = want_values[i]
                got_value = py_get(result, leaf)
                if not same(leaf, got_value, want):
                    problems.append(f"{prefix}{agg.name} by value: leaf {leaf.c_path} "
                                    f"{want!r} came back as {got_value!r}")
    return problems


def build_library(tmp_path, index, aggregates, cc):
    source = tmp_path / f"layouts_{index}.c"
    parts = [C_PRELUDE]
    parts += [c_definition(a) for a in aggregates]
    parts += [c_functions(a) for a in aggregates]
    source.write_text("\n".join(parts))
    library = tmp_path / f"layouts_{index}.so"
    run = subprocess.run([cc, "-std=gnu11", "-shared", "-fPIC", "-O0", "-w", "-o",
                          str(library), str(source)], capture_output=True, text=True)
    if run.returncode != 0:
        raise AssertionError(f"cc failed on {source}:\n{run.stderr[-5000:]}")
    return library


def report(agg, problems):
    deps = agg.dependencies()
    c_text = "".join(c_definition(a) for a in deps + [agg])
    py_text = "\n".join(py_definition(a) for a in deps + [agg])
    return (f"--- {agg.name}\n" + "".join(f"  {p}\n" for p in problems)
            + f"C:\n{c_text}Python:\n{py_text}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with GCC on Linux")
def test_layout_matches_the_c_compiler(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("needs a C compiler")
    cases = int(os.environ.get("FERROTYPES_LAYOUT_CASES", CI_CASES))
    seed = int(os.environ.get("FERROTYPES_LAYOUT_SEED", str(DEFAULT_SEED)), 0)

    # Generate in batches of top-level definitions; each batch is one C file.
    gen = Generator(seed)
    batches = []
    for start in range(0, cases, BATCH):
        first = len(gen.aggregates)
        for _ in range(min(BATCH, cases - start)):
            gen.aggregate()
        batches.append(gen.aggregates[first:])

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        libraries = list(pool.map(lambda ib: build_library(tmp_path, ib[0], ib[1], cc),
                                  enumerate(batches)))

    failures = []
    by_value = 0
    for library, batch in zip(libraries, batches):
        lib = ct.CDLL(str(library))
        for agg in batch:
            by_value += by_value_supported(agg)
            problems = check_aggregate(lib, agg)
            if problems:
                failures.append(report(agg, problems))

    aggregates = gen.aggregates
    counts = (f"{cases} top-level definitions ({len(aggregates)} aggregates with nested "
              f"ones; {sum(a.is_union for a in aggregates)} unions, "
              f"{sum(a.pack is not None for a in aggregates)} packed, "
              f"{sum(a.align is not None for a in aggregates)} with _align_, "
              f"{sum(a.big_endian for a in aggregates)} big-endian, "
              f"{sum(a.base is not None for a in aggregates)} with a base class, "
              f"{sum(m.what == 'anonymous' for a in aggregates for m in a.members)} anonymous "
              f"members, {sum(m.what == 'bits' for a in aggregates for m in a.members)} bit "
              f"fields, {sum(len(a.leaves) for a in aggregates)} leaves, {by_value} passed "
              f"by value), seed {seed:#x}")
    print(f"layout_vs_cc: {counts}: {len(failures)} mismatches")
    assert not failures, (f"{len(failures)} of {len(aggregates)} aggregates differ from cc "
                          f"({counts}); first {REPORTED}:\n" + "\n".join(failures[:REPORTED]))

//! Structure and union layout: step 2 of the pipeline, between the scalar type table and
//! the libffi type trees.
//!
//! [`StructLayout::compute`] is a pure function from a description of the members (size,
//! alignment, optional bit width) plus the aggregate's options (`_pack_`, `_align_`,
//! `_layout_`, base class, byte order) to the size and alignment of the aggregate and the
//! place of every member. Nothing here touches memory; the Python extension turns the result
//! into `CField` descriptors and the `ffi_type` module into libffi element lists.
//!
//! Two rule sets are modelled:
//!
//! * [`LayoutKind::GccSysv`] is what GCC does on Linux x86-64, `#pragma pack(n)` included.
//!   Without a pack, a bit field goes at the next free bit unless that would make it touch
//!   more alignment units of its declared type than the type itself has; then it moves to the
//!   next such unit. Under *any* `#pragma pack(n)` — even `pack(8)`, which changes no
//!   ordinary member on x86-64 — GCC drops that rule altogether and packs bit fields bit by
//!   bit, so a field may straddle its type's units and even occupy more bytes than its type.
//! * [`LayoutKind::Ms`] is the MSVC rule set (GCC's `ms_struct`): consecutive bit fields share
//!   one storage unit only while their declared types have the same size and the unit has
//!   room; anything else opens a fresh, aligned unit.
//!
//! Every bit field is then given a *storage window*: `size` bytes at `offset` that contain all
//! of its bits and lie inside the aggregate, read as one integer in the aggregate's byte
//! order. Normally that is the field's own type at its natural place (what C compilers and
//! `CPython` do); only GCC's packed placements can need a window of another width, because no
//! window of the type's width holds the field or fits in the aggregate (see
//! [`FieldLayout::size`]).
use crate::error::CoreError;

/// Which compiler's rules to follow (ctypes `_layout_`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutKind {
    /// `"gcc-sysv"`: GCC on System V platforms (Linux, macOS, BSDs).
    GccSysv,
    /// `"ms"`: MSVC, as CPython's `_layout_ = "ms"` models it. GCC's `ms_struct` agrees
    /// except on `#pragma pack`ed unions, which it sizes by the bytes their bit fields touch
    /// rather than by the bit fields' declared types.
    Ms,
}

/// One member as declared, in declaration order.
#[derive(Clone, Debug)]
pub struct FieldRequest {
    /// `sizeof` the member's C type; for a bit field, the size of its declared integer type.
    pub size: usize,
    /// Natural `alignof` the member's C type (0 is read as 1).
    pub align: usize,
    /// `Some(n)` for a bit field of `n` bits (`1..=8 * size`); `None` for an ordinary member.
    pub bit_width: Option<u32>,
}

/// Everything [`StructLayout::compute`] needs to know about one aggregate.
#[derive(Clone, Debug)]
pub struct LayoutRequest<'a> {
    pub fields: &'a [FieldRequest],
    pub is_union: bool,
    /// ctypes `_pack_`, i.e. GCC's `#pragma pack(n)`: members are aligned to at most `n`.
    /// `None` means not packed; `Some(n)` must be a power of two (map ctypes' `_pack_ = 0`
    /// to `None` before calling).
    pub pack: Option<usize>,
    /// ctypes `_align_`, i.e. `__attribute__((aligned(n)))` on the aggregate: its alignment
    /// is at least this. 0 and 1 mean no request; anything else must be a power of two.
    pub min_align: usize,
    pub kind: LayoutKind,
    /// Size of the inherited base `Structure`, whose members come first (0 if none).
    pub base_size: usize,
    /// Alignment of that base (1 if none). Like ctypes, and unlike a `#pragma pack`ed C
    /// member, it is not reduced by `pack`: a derived aggregate is at least as aligned as its
    /// base, so that a derived object is always a valid base object.
    pub base_align: usize,
    /// The aggregate is big-endian (`BigEndianStructure`/`BigEndianUnion`): bit fields are
    /// numbered as a big-endian compiler numbers them, from the most significant end.
    pub big_endian: bool,
}

/// Where one member lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldLayout {
    /// Byte offset of the member; for a bit field, of its storage window.
    pub offset: usize,
    /// Bytes read and written for the member. For an ordinary member and for almost every bit
    /// field this is the size of the declared type. It differs only for GCC `#pragma pack`
    /// placements whose bits do not fit a type-sized window inside the aggregate: then it is
    /// the smallest power of two (1, 2, 4, 8, 16) whose window holds the bits and fits, or,
    /// failing that, exactly the bytes the field touches (up to 9 for a 64-bit field).
    pub size: usize,
    /// Bit field only: bit number of the field's least significant bit in the window read
    /// as an unsigned integer of `size` bytes in the aggregate's byte order (0 otherwise).
    pub bit_offset: u32,
    /// Bit field only: its width in bits (0 means an ordinary member).
    pub bit_size: u32,
}

/// The layout of a whole structure or union.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructLayout {
    /// `sizeof` the aggregate, trailing padding included.
    pub size: usize,
    /// `alignof` the aggregate.
    pub align: usize,
    /// One entry per requested field, in the same order.
    pub fields: Vec<FieldLayout>,
}

/// A member after validation, with the numbers every rule set needs.
struct Member {
    size: u128,
    /// Natural alignment of the declared type, in bytes.
    natural_align: u128,
    /// Alignment after `pack`, in bytes: what the member contributes to the aggregate.
    packed_align: u128,
    bit_width: Option<u128>,
}

/// Where the placement pass put a member, before storage windows are chosen.
struct Placement {
    /// First bit of the member, counted from the start of the aggregate.
    start_bit: u128,
    /// The storage unit the rule set itself reads a bit field from (byte offset); it is kept
    /// when it holds the field and lies inside the aggregate.
    unit_offset: u128,
}

/// The outcome of a placement pass: members placed, bytes used, alignment reached.
struct Placed {
    placements: Vec<Placement>,
    /// Bytes covered by members (and the base), before rounding up to the alignment.
    data_size: u128,
    align: u128,
}

impl StructLayout {
    /// Lay out `req` as its compiler would; see the module documentation for the rules.
    ///
    /// # Errors
    ///
    /// [`CoreError::Layout`], naming the offending field index where there is one, for a bit
    /// width of 0 or wider than its type; a `pack`, `min_align`, field alignment or base
    /// alignment that is not a power of two; and sizes or offsets beyond `usize`.
    pub fn compute(req: &LayoutRequest<'_>) -> Result<StructLayout, CoreError> {
        let members = validate(req)?;
        let placed = match req.kind {
            LayoutKind::GccSysv => place_gcc(req, &members),
            LayoutKind::Ms => place_ms(req, &members),
        };
        let align = placed.align.max(req.min_align.max(1) as u128);
        let size = round_up(placed.data_size, align);
        let fields = members
            .iter()
            .zip(&placed.placements)
            .map(|(member, placement)| field_layout(req, member, placement, size))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StructLayout {
            size: to_usize(size, "size of the aggregate")?,
            align: to_usize(align, "alignment of the aggregate")?,
            fields,
        })
    }
}

fn layout_error(message: String) -> CoreError {
    CoreError::Layout(message)
}

/// Check the request and turn every number into `u128`. Bit positions are byte counts times
/// eight and sums of them, so with `u128` no arithmetic below can overflow for any `usize`
/// input; only the final conversion back to `usize` can fail.
fn validate(req: &LayoutRequest<'_>) -> Result<Vec<Member>, CoreError> {
    if let Some(pack) = req.pack {
        if !pack.is_power_of_two() {
            return Err(layout_error(format!(
                "_pack_ must be a power of two, not {pack}"
            )));
        }
    }
    if req.min_align > 1 && !req.min_align.is_power_of_two() {
        return Err(layout_error(format!(
            "_align_ must be a power of two, not {}",
            req.min_align
        )));
    }
    if req.base_align > 1 && !req.base_align.is_power_of_two() {
        return Err(layout_error(format!(
            "alignment of the base class must be a power of two, not {}",
            req.base_align
        )));
    }
    req.fields
        .iter()
        .enumerate()
        .map(|(index, field)| {
            let natural_align = field.align.max(1);
            if !natural_align.is_power_of_two() {
                return Err(layout_error(format!(
                    "field {index}: alignment must be a power of two, not {}",
                    field.align
                )));
            }
            if let Some(width) = field.bit_width {
                let type_bits = field.size as u128 * 8;
                if width == 0 || u128::from(width) > type_bits {
                    return Err(layout_error(format!(
                        "field {index}: number of bits invalid for bit field \
                         ({width} bits in a {}-byte type)",
                        field.size
                    )));
                }
            }
            let packed_align = match req.pack {
                Some(pack) => natural_align.min(pack),
                None => natural_align,
            };
            Ok(Member {
                size: field.size as u128,
                natural_align: natural_align as u128,
                packed_align: packed_align as u128,
                bit_width: field.bit_width.map(u128::from),
            })
        })
        .collect()
}

/// GCC on x86-64 (stor-layout.c `place_field` with `PCC_BITFIELD_TYPE_MATTERS`).
fn place_gcc(req: &LayoutRequest<'_>, members: &[Member]) -> Placed {
    let base_size = req.base_size as u128;
    let mut align = req.base_align.max(1) as u128;
    let mut next_bit = if req.is_union { 0 } else { base_size * 8 };
    let mut data_size = base_size;
    let mut placements = Vec::with_capacity(members.len());

    for member in members {
        let type_bits = member.size * 8;
        let align_bits = member.natural_align * 8;
        let start_bit = match member.bit_width {
            _ if req.is_union => 0,
            // GCC checks for straddling only when no `#pragma pack` is in force at all.
            Some(width)
                if req.pack.is_none()
                    && touches_too_many_units(next_bit, width, align_bits, type_bits) =>
            {
                round_up(next_bit, align_bits)
            }
            Some(_) => next_bit,
            None => round_up(next_bit, member.packed_align * 8),
        };
        let bits = member.bit_width.unwrap_or(type_bits);
        if req.is_union {
            data_size = data_size.max(bits.div_ceil(8));
        } else {
            next_bit = start_bit + bits;
            data_size = next_bit.div_ceil(8);
        }
        // Named bit fields raise the aggregate's alignment to their type's (capped by the
        // pack) exactly like ordinary members do, although they need no alignment themselves.
        align = align.max(member.packed_align);
        placements.push(Placement {
            start_bit,
            unit_offset: round_down(start_bit, align_bits) / 8,
        });
    }
    Placed {
        placements,
        data_size,
        align,
    }
}

/// GCC's `excess_unit_span`: would `width` bits starting at `bit` touch more `align_bits`
/// units than a whole object of `type_bits` bits does?
fn touches_too_many_units(bit: u128, width: u128, align_bits: u128, type_bits: u128) -> bool {
    let units_touched = (bit % align_bits + width).div_ceil(align_bits);
    units_touched > type_bits / align_bits
}

/// MSVC: every member but a bit field that fits the open unit of a same-sized type starts a
/// new storage unit of its type's size, at the next (pack-capped) aligned offset.
fn place_ms(req: &LayoutRequest<'_>, members: &[Member]) -> Placed {
    /// The storage unit bit fields are currently being added to.
    struct OpenUnit {
        offset: u128,
        size: u128,
        bits_used: u128,
    }
    let base_size = req.base_size as u128;
    let mut align = req.base_align.max(1) as u128;
    let mut next_byte = if req.is_union { 0 } else { base_size };
    let mut data_size = base_size;
    let mut open_unit: Option<OpenUnit> = None;
    let mut placements = Vec::with_capacity(members.len());

    for member in members {
        let type_bits = member.size * 8;
        let bits = member.bit_width.unwrap_or(type_bits);
        let shares_open_unit = !req.is_union
            && member.bit_width.is_some()
            && open_unit
                .as_ref()
                .is_some_and(|unit| unit.size == member.size && unit.bits_used + bits <= type_bits);
        let (start_bit, unit_offset) = match open_unit.as_mut() {
            Some(unit) if shares_open_unit => {
                let start_bit = unit.offset * 8 + unit.bits_used;
                unit.bits_used += bits;
                (start_bit, unit.offset)
            }
            _ => {
                let offset = if req.is_union {
                    0
                } else {
                    round_up(next_byte, member.packed_align)
                };
                next_byte = offset + member.size;
                data_size = data_size.max(next_byte);
                open_unit = Some(OpenUnit {
                    offset,
                    size: member.size,
                    // An ordinary member fills its unit, so nothing joins it.
                    bits_used: bits,
                });
                (offset * 8, offset)
            }
        };
        align = align.max(member.packed_align);
        placements.push(Placement {
            start_bit,
            unit_offset,
        });
    }
    Placed {
        placements,
        data_size,
        align,
    }
}

/// Turn a placement into the public [`FieldLayout`], choosing the storage window of a bit
/// field inside an aggregate of `aggregate_size` bytes.
fn field_layout(
    req: &LayoutRequest<'_>,
    member: &Member,
    placement: &Placement,
    aggregate_size: u128,
) -> Result<FieldLayout, CoreError> {
    let Some(width) = member.bit_width else {
        return Ok(FieldLayout {
            offset: to_usize(placement.start_bit / 8, "field offset")?,
            size: to_usize(member.size, "field size")?,
            bit_offset: 0,
            bit_size: 0,
        });
    };
    let start_bit = placement.start_bit;
    let end_bit = start_bit + width;
    let (offset, size) = storage_window(
        start_bit,
        end_bit,
        placement.unit_offset,
        member.size,
        aggregate_size,
    );
    let lsb_from_window_start = start_bit - offset * 8;
    let bit_offset = if req.big_endian {
        // A big-endian compiler hands out bits from the most significant end of the window,
        // so the field's least significant bit is counted back from the top.
        size * 8 - lsb_from_window_start - width
    } else {
        lsb_from_window_start
    };
    Ok(FieldLayout {
        offset: to_usize(offset, "bit field offset")?,
        size: to_usize(size, "bit field storage size")?,
        bit_offset: u32::try_from(bit_offset)
            .map_err(|_| layout_error("bit field storage is too wide".to_owned()))?,
        bit_size: u32::try_from(width)
            .map_err(|_| layout_error("bit field is too wide".to_owned()))?,
    })
}

/// Pick `(offset, size)` in bytes: a window that holds bits `start_bit..end_bit` and lies in
/// `0..aggregate_size`. Preference order: the rule set's own unit; a window of the type's
/// size starting at the field's first byte (moved back if it would pass the end); the
/// narrowest power-of-two window that works; the exact bytes the field touches.
fn storage_window(
    start_bit: u128,
    end_bit: u128,
    unit_offset: u128,
    type_size: u128,
    aggregate_size: u128,
) -> (u128, u128) {
    let holds = |offset: u128, size: u128| {
        offset * 8 <= start_bit && end_bit <= (offset + size) * 8 && offset + size <= aggregate_size
    };
    if holds(unit_offset, type_size) {
        return (unit_offset, type_size);
    }
    let first_byte = start_bit / 8;
    let window_at_field = |size: u128| {
        let offset = first_byte.min(aggregate_size.checked_sub(size)?);
        holds(offset, size).then_some((offset, size))
    };
    let touched_bytes = end_bit.div_ceil(8) - first_byte;
    std::iter::once(type_size)
        .chain(
            [1, 2, 4, 8, 16]
                .into_iter()
                .filter(|&size| size >= touched_bytes),
        )
        .find_map(window_at_field)
        .unwrap_or((first_byte, touched_bytes))
}

fn round_up(value: u128, multiple: u128) -> u128 {
    value.div_ceil(multiple) * multiple
}

fn round_down(value: u128, multiple: u128) -> u128 {
    value / multiple * multiple
}

fn to_usize(value: u128, what: &str) -> Result<usize, CoreError> {
    usize::try_from(value)
        .map_err(|_| layout_error(format!("{what} does not fit in the address space")))
}

#[cfg(test)]
mod tests {
    //! Hand-checked layouts. Wherever C has an equivalent, the expectation was also
    //! confirmed with GCC 12 on x86-64 (`scalar_storage_order("big-endian")` for big-endian,
    //! `ms_struct` for MS); base classes, `_pack_`-ed MS unions and invalid requests follow
    //! ctypes instead. `tests/layout_vs_cc.rs` compares thousands of random aggregates.
    use super::*;

    /// An ordinary member of a type with this size and alignment.
    fn member(size: usize, align: usize) -> FieldRequest {
        FieldRequest {
            size,
            align,
            bit_width: None,
        }
    }

    /// A bit field declared with an integer type of `size` bytes (aligned to its size).
    fn bits(size: usize, width: u32) -> FieldRequest {
        FieldRequest {
            size,
            align: size,
            bit_width: Some(width),
        }
    }

    fn struct_of(fields: &[FieldRequest]) -> LayoutRequest<'_> {
        LayoutRequest {
            fields,
            is_union: false,
            pack: None,
            min_align: 0,
            kind: LayoutKind::GccSysv,
            base_size: 0,
            base_align: 1,
            big_endian: false,
        }
    }

    fn at(offset: usize, size: usize) -> FieldLayout {
        FieldLayout {
            offset,
            size,
            bit_offset: 0,
            bit_size: 0,
        }
    }

    fn bit_field(offset: usize, size: usize, bit_offset: u32, bit_size: u32) -> FieldLayout {
        FieldLayout {
            offset,
            size,
            bit_offset,
            bit_size,
        }
    }

    fn compute(req: &LayoutRequest<'_>) -> StructLayout {
        StructLayout::compute(req).expect("valid request")
    }

    fn layout(size: usize, align: usize, fields: Vec<FieldLayout>) -> StructLayout {
        StructLayout {
            size,
            align,
            fields,
        }
    }

    fn layout_error_text(req: &LayoutRequest<'_>) -> String {
        match StructLayout::compute(req) {
            Err(CoreError::Layout(message)) => message,
            other => panic!("expected a layout error, got {other:?}"),
        }
    }

    #[test]
    fn members_are_padded_to_their_alignment() {
        // struct { char; int; short; }
        let fields = [member(1, 1), member(4, 4), member(2, 2)];
        assert_eq!(
            compute(&struct_of(&fields)),
            layout(12, 4, vec![at(0, 1), at(4, 4), at(8, 2)])
        );
    }

    #[test]
    fn trailing_padding_rounds_the_size_to_the_alignment() {
        // struct { double; char; }
        let fields = [member(8, 8), member(1, 1)];
        assert_eq!(
            compute(&struct_of(&fields)),
            layout(16, 8, vec![at(0, 8), at(8, 1)])
        );
    }

    #[test]
    fn empty_struct_has_size_zero() {
        assert_eq!(compute(&struct_of(&[])), layout(0, 1, vec![]));
    }

    #[test]
    fn union_members_all_start_at_zero() {
        // union { char; double; int[3]; }
        let fields = [member(1, 1), member(8, 8), member(12, 4)];
        let req = LayoutRequest {
            is_union: true,
            ..struct_of(&fields)
        };
        assert_eq!(
            compute(&req),
            layout(16, 8, vec![at(0, 1), at(0, 8), at(0, 12)])
        );
    }

    #[test]
    fn nested_aggregate_is_placed_by_its_size_and_alignment() {
        // struct { char; struct { double; char[16]; }; char; }
        let fields = [member(1, 1), member(24, 8), member(1, 1)];
        assert_eq!(
            compute(&struct_of(&fields)),
            layout(40, 8, vec![at(0, 1), at(8, 24), at(32, 1)])
        );
    }

    #[test]
    fn pack_caps_member_alignment() {
        // #pragma pack(n) struct { char; double; }
        let fields = [member(1, 1), member(8, 8)];
        for (pack, offset, size) in [(1, 1, 9), (2, 2, 10), (4, 4, 12), (8, 8, 16)] {
            let req = LayoutRequest {
                pack: Some(pack),
                ..struct_of(&fields)
            };
            assert_eq!(
                compute(&req),
                layout(size, pack, vec![at(0, 1), at(offset, 8)]),
                "pack({pack})"
            );
        }
        // pack(8) still matters for long double, whose natural alignment is 16.
        let fields = [member(1, 1), member(16, 16)];
        let req = LayoutRequest {
            pack: Some(8),
            ..struct_of(&fields)
        };
        assert_eq!(compute(&req), layout(24, 8, vec![at(0, 1), at(8, 16)]));
    }

    #[test]
    fn bit_fields_of_one_type_share_units_until_one_would_straddle() {
        // struct { int a:3; int b:5; int c:25; }: c would cross bit 32, so it moves on.
        let fields = [bits(4, 3), bits(4, 5), bits(4, 25)];
        assert_eq!(
            compute(&struct_of(&fields)),
            layout(
                8,
                4,
                vec![
                    bit_field(0, 4, 0, 3),
                    bit_field(0, 4, 3, 5),
                    bit_field(4, 4, 0, 25)
                ]
            )
        );
    }

    #[test]
    fn bit_fields_of_different_types_share_storage() {
        // struct { char a:3; short b:9; int c:4; }: all in the first 16 bits; the int makes
        // the struct 4-aligned.
        let fields = [bits(1, 3), bits(2, 9), bits(4, 4)];
        assert_eq!(
            compute(&struct_of(&fields)),
            layout(
                4,
                4,
                vec![
                    bit_field(0, 1, 0, 3),
                    bit_field(0, 2, 3, 9),
                    bit_field(0, 4, 12, 4)
                ]
            )
        );
    }

    #[test]
    fn bit_field_may_share_a_unit_with_an_ordinary_member() {
        // struct { char a; long long b:56; } fits b after a in one 8-byte unit;
        // struct { char a; long long b:60; } does not, so b starts the next unit.
        let fields = [member(1, 1), bits(8, 56)];
        assert_eq!(
            compute(&struct_of(&fields)),
            layout(8, 8, vec![at(0, 1), bit_field(0, 8, 8, 56)])
        );
        let fields = [member(1, 1), bits(8, 60)];
        assert_eq!(
            compute(&struct_of(&fields)),
            layout(16, 8, vec![at(0, 1), bit_field(8, 8, 0, 60)])
        );
    }

    #[test]
    fn ordinary_member_after_bit_field_starts_at_next_byte() {
        // struct { int a:3; char b; }
        let fields = [bits(4, 3), member(1, 1)];
        assert_eq!(
            compute(&struct_of(&fields)),
            layout(4, 4, vec![bit_field(0, 4, 0, 3), at(1, 1)])
        );
    }

    #[test]
    fn full_width_bit_field() {
        let fields = [bits(8, 64)];
        assert_eq!(
            compute(&struct_of(&fields)),
            layout(8, 8, vec![bit_field(0, 8, 0, 64)])
        );
    }

    #[test]
    fn packed_bit_field_may_straddle_even_under_pack_8() {
        // #pragma pack(8) struct { char a:7; int b:30; }: any pack turns off GCC's
        // no-straddling rule, so b occupies bits 7..37 and needs an 8-byte window.
        let fields = [bits(1, 7), bits(4, 30)];
        let req = LayoutRequest {
            pack: Some(8),
            ..struct_of(&fields)
        };
        assert_eq!(
            compute(&req),
            layout(8, 4, vec![bit_field(0, 1, 0, 7), bit_field(0, 8, 7, 30)])
        );
    }

    #[test]
    fn packed_bit_field_window_stays_inside_the_aggregate() {
        let packed_1 = |fields| LayoutRequest {
            pack: Some(1),
            ..struct_of(fields)
        };
        // struct { char a; int b:9; } is 3 bytes: an int window would overrun it.
        let fields = [member(1, 1), bits(4, 9)];
        assert_eq!(
            compute(&packed_1(&fields)),
            layout(3, 1, vec![at(0, 1), bit_field(1, 2, 0, 9)])
        );
        // struct { char a:1; char b:8; }: a char field spread over two bytes.
        let fields = [bits(1, 1), bits(1, 8)];
        assert_eq!(
            compute(&packed_1(&fields)),
            layout(2, 1, vec![bit_field(0, 1, 0, 1), bit_field(0, 2, 1, 8)])
        );
        // struct { char a:4; int b:17; } is 3 bytes and b touches all of them.
        let fields = [bits(1, 4), bits(4, 17)];
        assert_eq!(
            compute(&packed_1(&fields)),
            layout(3, 1, vec![bit_field(0, 1, 0, 4), bit_field(0, 3, 4, 17)])
        );
        // struct { char a[3]; int b:9; char c[3]; }: an int window fits, moved to b's bytes.
        let fields = [member(3, 1), bits(4, 9), member(3, 1)];
        assert_eq!(
            compute(&packed_1(&fields)),
            layout(8, 1, vec![at(0, 3), bit_field(3, 4, 0, 9), at(5, 3)])
        );
    }

    #[test]
    fn packed_union_of_bit_fields_is_sized_by_the_bits() {
        // #pragma pack(2) union { int x:17; } is 3 bytes of bits rounded up to 4.
        let fields = [bits(4, 17)];
        let req = LayoutRequest {
            is_union: true,
            pack: Some(2),
            ..struct_of(&fields)
        };
        assert_eq!(compute(&req), layout(4, 2, vec![bit_field(0, 4, 0, 17)]));
        // #pragma pack(1) union { int x:9; } is 2 bytes: the window shrinks to fit.
        let fields = [bits(4, 9)];
        let req = LayoutRequest {
            is_union: true,
            pack: Some(1),
            ..struct_of(&fields)
        };
        assert_eq!(compute(&req), layout(2, 1, vec![bit_field(0, 2, 0, 9)]));
    }

    #[test]
    fn big_endian_bit_fields_count_from_the_top() {
        // struct { char a:3; int b:9; short c:5; long long d:40; }: c would straddle its
        // short unit, so it moves to byte 2; d fits in the first 8 bytes.
        let fields = [bits(1, 3), bits(4, 9), bits(2, 5), bits(8, 40)];
        let little = compute(&struct_of(&fields));
        assert_eq!(
            little,
            layout(
                8,
                8,
                vec![
                    bit_field(0, 1, 0, 3),
                    bit_field(0, 4, 3, 9),
                    bit_field(2, 2, 0, 5),
                    bit_field(0, 8, 21, 40),
                ]
            )
        );
        let req = LayoutRequest {
            big_endian: true,
            ..struct_of(&fields)
        };
        assert_eq!(
            compute(&req),
            layout(
                8,
                8,
                vec![
                    bit_field(0, 1, 5, 3),
                    bit_field(0, 4, 20, 9),
                    bit_field(2, 2, 11, 5),
                    bit_field(0, 8, 3, 40),
                ]
            )
        );
    }

    #[test]
    fn big_endian_numbering_uses_the_chosen_window() {
        // #pragma pack(1) struct { char a:4; int b:17; } big-endian: bytes 0f ff f8.
        let fields = [bits(1, 4), bits(4, 17)];
        let req = LayoutRequest {
            pack: Some(1),
            big_endian: true,
            ..struct_of(&fields)
        };
        assert_eq!(
            compute(&req),
            layout(3, 1, vec![bit_field(0, 1, 4, 4), bit_field(0, 3, 3, 17)])
        );
    }

    #[test]
    fn big_endian_union_bit_field_sits_at_the_top() {
        let fields = [bits(4, 3), member(2, 2)];
        let req = LayoutRequest {
            is_union: true,
            big_endian: true,
            ..struct_of(&fields)
        };
        assert_eq!(
            compute(&req),
            layout(4, 4, vec![bit_field(0, 4, 29, 3), at(0, 2)])
        );
    }

    #[test]
    fn ms_bit_field_after_ordinary_member_opens_a_new_unit() {
        // struct { char a; int b:4; }: GCC puts b at bit 8 of the first int, MSVC in a new one.
        let fields = [member(1, 1), bits(4, 4)];
        let gcc = compute(&struct_of(&fields));
        assert_eq!(gcc, layout(4, 4, vec![at(0, 1), bit_field(0, 4, 8, 4)]));
        let req = LayoutRequest {
            kind: LayoutKind::Ms,
            ..struct_of(&fields)
        };
        assert_eq!(
            compute(&req),
            layout(8, 4, vec![at(0, 1), bit_field(4, 4, 0, 4)])
        );
        let req = LayoutRequest {
            kind: LayoutKind::Ms,
            pack: Some(1),
            ..struct_of(&fields)
        };
        assert_eq!(
            compute(&req),
            layout(5, 1, vec![at(0, 1), bit_field(1, 4, 0, 4)])
        );
    }

    #[test]
    fn ms_bit_fields_share_only_same_sized_units_with_room() {
        // struct { int a:3; short b:4; short c:5; int d:30; int e:4; }
        let fields = [bits(4, 3), bits(2, 4), bits(2, 5), bits(4, 30), bits(4, 4)];
        let req = LayoutRequest {
            kind: LayoutKind::Ms,
            ..struct_of(&fields)
        };
        assert_eq!(
            compute(&req),
            layout(
                16,
                4,
                vec![
                    bit_field(0, 4, 0, 3),
                    bit_field(4, 2, 0, 4),
                    bit_field(4, 2, 4, 5),
                    bit_field(8, 4, 0, 30),
                    bit_field(12, 4, 0, 4),
                ]
            )
        );
    }

    #[test]
    fn ms_union_bit_fields_use_their_whole_type() {
        let fields = [bits(8, 15), bits(2, 8)];
        let req = LayoutRequest {
            kind: LayoutKind::Ms,
            is_union: true,
            pack: Some(2),
            ..struct_of(&fields)
        };
        assert_eq!(
            compute(&req),
            layout(8, 2, vec![bit_field(0, 8, 0, 15), bit_field(0, 2, 0, 8)])
        );
    }

    #[test]
    fn min_align_raises_alignment_and_size() {
        let fields = [member(1, 1)];
        let req = LayoutRequest {
            min_align: 16,
            ..struct_of(&fields)
        };
        assert_eq!(compute(&req), layout(16, 16, vec![at(0, 1)]));
        // A smaller request changes nothing; so do 0 and 1.
        let fields = [member(4, 4)];
        for min_align in [0, 1, 2] {
            let req = LayoutRequest {
                min_align,
                ..struct_of(&fields)
            };
            assert_eq!(compute(&req), layout(4, 4, vec![at(0, 4)]));
        }
        // And it applies under pack too.
        let fields = [member(1, 1), member(8, 8)];
        let req = LayoutRequest {
            pack: Some(1),
            min_align: 8,
            ..struct_of(&fields)
        };
        assert_eq!(compute(&req), layout(16, 8, vec![at(0, 1), at(1, 8)]));
    }

    #[test]
    fn base_members_come_first() {
        // A 6-byte, 2-aligned base, then { char; int; }.
        let fields = [member(1, 1), member(4, 4)];
        let req = LayoutRequest {
            base_size: 6,
            base_align: 2,
            ..struct_of(&fields)
        };
        assert_eq!(compute(&req), layout(12, 4, vec![at(6, 1), at(8, 4)]));
        // A bit field after a 1-byte base shares the int unit that starts with the base.
        let fields = [bits(4, 4)];
        let req = LayoutRequest {
            base_size: 1,
            base_align: 1,
            ..struct_of(&fields)
        };
        assert_eq!(compute(&req), layout(4, 4, vec![bit_field(0, 4, 8, 4)]));
        // Pack does not lower the base's alignment (ctypes keeps derived ≥ base).
        let fields = [member(1, 1)];
        let req = LayoutRequest {
            base_size: 8,
            base_align: 8,
            pack: Some(1),
            ..struct_of(&fields)
        };
        assert_eq!(compute(&req), layout(16, 8, vec![at(8, 1)]));
        // A union's members overlay the base; the union is at least as big.
        let fields = [member(2, 2)];
        let req = LayoutRequest {
            base_size: 8,
            base_align: 4,
            is_union: true,
            ..struct_of(&fields)
        };
        assert_eq!(compute(&req), layout(8, 4, vec![at(0, 2)]));
        let ms = LayoutRequest {
            kind: LayoutKind::Ms,
            ..req
        };
        assert_eq!(compute(&ms), layout(8, 4, vec![at(0, 2)]));
    }

    #[test]
    fn invalid_requests_name_the_problem() {
        let fields = [member(4, 4), bits(4, 0)];
        assert!(layout_error_text(&struct_of(&fields)).contains("field 1"));
        let fields = [bits(4, 33)];
        assert!(layout_error_text(&struct_of(&fields)).contains("field 0"));
        let fields = [FieldRequest {
            size: 4,
            align: 3,
            bit_width: None,
        }];
        assert!(layout_error_text(&struct_of(&fields)).contains("field 0"));
        for pack in [0, 3, 6] {
            let req = LayoutRequest {
                pack: Some(pack),
                ..struct_of(&[])
            };
            assert!(layout_error_text(&req).contains("_pack_"));
        }
        let req = LayoutRequest {
            min_align: 12,
            ..struct_of(&[])
        };
        assert!(layout_error_text(&req).contains("_align_"));
    }

    #[test]
    fn sizes_beyond_the_address_space_are_errors_not_panics() {
        let fields = [member(usize::MAX, 1), member(2, 1)];
        assert!(StructLayout::compute(&struct_of(&fields)).is_err());
        let fields = [member(usize::MAX - 2, 1)];
        let req = LayoutRequest {
            min_align: 8,
            ..struct_of(&fields)
        };
        assert!(StructLayout::compute(&req).is_err());
    }
}

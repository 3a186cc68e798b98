//! Shared code of the fuzz targets: the input format ([`shape`]), the properties every
//! successful layout must have ([`check_layout`]) and the by-value classification oracle
//! ([`check_classification`]). Every check panics with a description on a violation, which
//! libFuzzer reports as a crash with the input that caused it.
pub mod shape;

use ferrotypes_core::call::CallInterface;
use ferrotypes_core::ffi_type::{ByValueMember, FfiType};
use ferrotypes_core::layout::{FieldLayout, LayoutKind, StructLayout};
use ferrotypes_core::simple::ValueClass;
use libffi::low::{ffi_type, type_tag};
use shape::{AggregateShape, Computed, Elem, MemberShape};

/// Layouts up to this many bytes also get the bit-by-bit occupancy checks.
const BITMAP_LIMIT: usize = 1 << 16;

/// The bits a member occupies, as (byte, mask) pairs, in memory order.
fn member_bits(field: &FieldLayout, big_endian: bool) -> Vec<(usize, u8)> {
    if field.bit_size == 0 {
        return (field.offset..field.offset + field.size).map(|b| (b, 0xff)).collect();
    }
    (field.bit_offset..field.bit_offset + field.bit_size)
        .map(|bit| {
            let in_window = (bit / 8) as usize;
            let in_window = if big_endian { field.size - 1 - in_window } else { in_window };
            (field.offset + in_window, 1u8 << (bit % 8))
        })
        .collect()
}

/// The bytes a member's own bits touch: `first..end`.
fn touched_bytes(field: &FieldLayout, big_endian: bool) -> (usize, usize) {
    let bits = member_bits(field, big_endian);
    let first = bits.iter().map(|&(b, _)| b).min().unwrap_or(field.offset);
    let end = bits.iter().map(|&(b, _)| b + 1).max().unwrap_or(field.offset);
    (first, end)
}

/// Everything that must hold of a successful [`StructLayout::compute`] result:
///
/// 1. one field per request; alignment a power of two, exactly the largest of the base's,
///    `_align_` and every member's alignment capped by `_pack_`; size a multiple of it;
/// 2. every member (bit-field windows included) lies inside the aggregate;
/// 3. an ordinary member keeps its size, sits at a multiple of its (pack-capped)
///    alignment, at 0 in a union and after the base in a structure, and is preceded by less
///    padding than its alignment (GCC rules: nothing moves it further);
/// 4. a bit field keeps its width, its bits lie inside its window; under MS rules the
///    window is the declared type; under GCC rules without `_pack_` a field of a scalar type
///    never straddles an aligned unit of that type and is read through that unit;
/// 5. in a structure no two members (nor a member and the base) share a bit; under MS rules
///    storage units do not overlap ordinary members or each other either;
/// 6. the size is the end of the last byte used (bits touched under GCC rules, whole units
///    under MS rules, the base), rounded up to the alignment: no trailing padding beyond it;
///    a union is at least as big as each member's bits and its base;
/// 7. the same request gives the same result; a big-endian aggregate differs from its
///    little-endian twin only in bit numbering (mirrored in each window); a `_pack_` at or
///    above every member's alignment changes nothing without bit fields (and under MS
///    rules, nothing at all).
pub fn check_layout(shape: &AggregateShape, c: &Computed) {
    let Ok(layout) = &c.result else { return };
    let req = shape::request(shape, &c.fields, c.base_size, c.base_align);
    let ctx = || format!("{shape:?}\nrequests {:?}\nlayout {layout:?}", c.fields);
    assert_eq!(layout.fields.len(), c.fields.len(), "field count\n{}", ctx());

    // 1.
    let packed_align = |align: usize| {
        let a = align.max(1);
        shape.pack.map_or(a, |p| a.min(p))
    };
    let expected_align = c
        .fields
        .iter()
        .map(|f| packed_align(f.align))
        .chain([c.base_align.max(1), shape.min_align.max(1)])
        .max()
        .unwrap_or(1);
    assert!(layout.align.is_power_of_two(), "alignment not a power of two\n{}", ctx());
    assert_eq!(layout.align, expected_align, "alignment\n{}", ctx());
    assert_eq!(layout.size % layout.align, 0, "size not a multiple of the alignment\n{}", ctx());

    let mut used_end = c.base_size;
    let mut prev_end_bit = if shape.is_union { 0 } else { c.base_size as u128 * 8 };
    for (i, (req_f, f)) in c.fields.iter().zip(&layout.fields).enumerate() {
        // 2.
        let end = f.offset.checked_add(f.size);
        assert!(end.is_some_and(|e| e <= layout.size), "field {i} outside the aggregate\n{}", ctx());
        match req_f.bit_width {
            None => {
                // 3.
                let a = packed_align(req_f.align);
                assert_eq!((f.size, f.bit_size, f.bit_offset), (req_f.size, 0, 0), "field {i} shape\n{}", ctx());
                assert_eq!(f.offset % a, 0, "field {i} misaligned\n{}", ctx());
                if shape.is_union {
                    assert_eq!(f.offset, 0, "union member {i} not at 0\n{}", ctx());
                } else {
                    assert!(f.offset >= c.base_size, "field {i} inside the base\n{}", ctx());
                    if shape.kind == LayoutKind::GccSysv {
                        let start = f.offset as u128 * 8;
                        assert!(start >= prev_end_bit, "field {i} overlaps the previous one\n{}", ctx());
                        assert!(start < prev_end_bit.div_ceil(8) * 8 + a as u128 * 8, "field {i}: padding ≥ alignment\n{}", ctx());
                        prev_end_bit = start + f.size as u128 * 8;
                    }
                }
                used_end = used_end.max(f.offset + f.size);
            }
            Some(width) => {
                // 4.
                assert_eq!(f.bit_size, width, "field {i} width\n{}", ctx());
                assert!(f.size > 0 && u128::from(f.bit_offset) + u128::from(width) <= 8 * f.size as u128, "field {i} bits outside its window\n{}", ctx());
                let (_, end) = touched_bytes(f, shape.big_endian);
                if shape.kind == LayoutKind::Ms {
                    assert_eq!(f.size, req_f.size, "MS bit field {i} window\n{}", ctx());
                    used_end = used_end.max(f.offset + f.size);
                } else {
                    if shape.pack.is_none() && req_f.size == req_f.align.max(1) {
                        assert_eq!(f.size, req_f.size, "GCC bit field {i} window\n{}", ctx());
                        assert_eq!(f.offset % f.size, 0, "GCC bit field {i} unit misaligned\n{}", ctx());
                    }
                    used_end = used_end.max(end);
                }
                if !shape.is_union && shape.kind == LayoutKind::GccSysv {
                    // The field's first bit in little-endian numbering (a big-endian window
                    // numbers from its other end).
                    let lsb = if shape.big_endian { 8 * f.size as u128 - u128::from(f.bit_offset) - u128::from(width) } else { u128::from(f.bit_offset) };
                    let start = f.offset as u128 * 8 + lsb;
                    assert!(start >= prev_end_bit, "bit field {i} before the previous member's end\n{}", ctx());
                    prev_end_bit = start + u128::from(width);
                }
            }
        }
    }

    // 6.
    let expected_size = used_end.div_ceil(layout.align) * layout.align;
    assert_eq!(layout.size, expected_size, "size is not the used bytes rounded up\n{}", ctx());

    // 5.
    if !shape.is_union && layout.size <= BITMAP_LIMIT {
        let mut bits = vec![0u8; layout.size];
        bits[..c.base_size].fill(0xff);
        for (i, f) in layout.fields.iter().enumerate() {
            for (byte, mask) in member_bits(f, shape.big_endian) {
                assert_eq!(bits[byte] & mask, 0, "field {i} shares bits with another member\n{}", ctx());
                bits[byte] |= mask;
            }
        }
        if shape.kind == LayoutKind::Ms {
            let mut units: Vec<(usize, usize)> = layout.fields.iter().map(|f| (f.offset, f.size)).filter(|u| u.1 > 0).collect();
            units.sort_unstable();
            units.dedup();
            for pair in units.windows(2) {
                assert!(pair[0].0 + pair[0].1 <= pair[1].0, "MS storage units overlap: {pair:?}\n{}", ctx());
            }
        }
    }

    // 7.
    let again = StructLayout::compute(&req).expect("the same request succeeded before");
    assert_eq!(&again, layout, "not deterministic\n{}", ctx());
    let mut twin = req.clone();
    twin.big_endian = !req.big_endian;
    let twin_layout = match StructLayout::compute(&twin) {
        Ok(l) => l,
        // Big-endian bit numbers count from the far end of the window: a window of 2^32
        // bits or more (a bit field of a gigantic declared type) has no u32 bit number.
        Err(_) if layout.fields.iter().any(|f| f.bit_size > 0 && f.size as u128 * 8 > u128::from(u32::MAX)) => return,
        Err(e) => panic!("the byte order made a request invalid: {e}\n{}", ctx()),
    };
    assert_eq!((twin_layout.size, twin_layout.align), (layout.size, layout.align), "byte order changed the size\n{}", ctx());
    for (i, (a, b)) in layout.fields.iter().zip(&twin_layout.fields).enumerate() {
        assert_eq!((a.offset, a.size, a.bit_size), (b.offset, b.size, b.bit_size), "byte order moved field {i}\n{}", ctx());
        if a.bit_size > 0 {
            assert_eq!(u128::from(b.bit_offset), 8 * a.size as u128 - u128::from(a.bit_offset) - u128::from(a.bit_size), "bit {i} not mirrored\n{}", ctx());
        }
    }
    if shape.pack.is_none() {
        let max_align = c.fields.iter().map(|f| f.align.max(1)).max().unwrap_or(1);
        let has_bits = c.fields.iter().any(|f| f.bit_width.is_some());
        let mut packed = req.clone();
        packed.pack = Some(max_align.next_power_of_two());
        if shape.kind == LayoutKind::Ms || !has_bits {
            let packed_layout = StructLayout::compute(&packed).expect("a large enough pack cannot make a request invalid");
            assert_eq!(&packed_layout, layout, "_pack_ {} changed the layout\n{}", max_align, ctx());
        }
    }
}

// ---------------------------------------------------------------------------------------
// By-value classification

/// The psABI classes of one eightbyte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Class {
    Empty,
    Integer,
    Sse,
    X87,
    X87Up,
    Memory,
}

/// psABI §3.2.3, the merge of two classes in one eightbyte (written from the document, not
/// from `ffi_type.rs`).
fn merge(a: Class, b: Class) -> Class {
    use Class::*;
    if a == b {
        a
    } else if a == Empty {
        b
    } else if b == Empty {
        a
    } else if a == Memory || b == Memory {
        Memory
    } else if a == Integer || b == Integer {
        Integer
    } else if matches!(a, X87 | X87Up) || matches!(b, X87 | X87Up) {
        Memory
    } else {
        Sse
    }
}

/// A scalar somewhere inside an aggregate, at its absolute offset.
#[derive(Debug)]
struct Leaf {
    offset: usize,
    size: usize,
    align: usize,
    class: Class,
}

/// What the oracle says of one aggregate of at most 16 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Memory,
    /// One `long double` (X87, X87UP).
    X87,
    Registers(Vec<Class>),
}

fn scalar_class(k: &ferrotypes_core::simple::SimpleKind) -> Class {
    match k.class {
        ValueClass::Float => Class::Sse,
        ValueClass::LongDouble => Class::X87,
        _ => Class::Integer,
    }
}

/// The oracle's verdicts and the extension's descriptors for a whole input.
pub struct Classified {
    pub types: Vec<Option<FfiType>>,
    pub verdicts: Vec<Option<Verdict>>,
}

/// The libffi type the extension would give a member of element type `e`.
fn elem_ffi(e: Elem, types: &[Option<FfiType>]) -> Option<FfiType> {
    match e {
        Elem::Scalar(k) => Some(FfiType::Static(k.ffi_type())),
        Elem::Aggregate(i) => types[i].clone(),
        Elem::Raw { size, align } => Some(FfiType::aggregate(size, align, vec![])),
    }
}

fn member_ffi(m: MemberShape, size: usize, align: usize, types: &[Option<FfiType>]) -> Option<FfiType> {
    match m {
        MemberShape::Plain(e) | MemberShape::Bits(e, _) => elem_ffi(e, types),
        // As `array_type_info` builds an array's descriptor (classified as GCC does where
        // it is small, else a plain element list).
        MemberShape::Array(e, len) => {
            let item = elem_ffi(e, types)?;
            let item_size = size.checked_div(len).unwrap_or(0);
            FfiType::sysv_array(&item, item_size, len, align)
                .or_else(|| Some(FfiType::aggregate(size, align, if len == 0 { vec![] } else { vec![item; len.min(4096)] })))
        }
    }
}

/// Collect the leaves of aggregate `index` placed at `at`; `false` if a nested aggregate is
/// MEMORY by itself (the extension does not look inside those again).
fn leaves(index: usize, at: usize, shapes: &[AggregateShape], computed: &[Computed], verdicts: &[Option<Verdict>], out: &mut Vec<Leaf>) -> bool {
    let shape = &shapes[index];
    let c = &computed[index];
    let Ok(layout) = &c.result else { return false };
    let nested = |j: usize, at: usize, out: &mut Vec<Leaf>| -> bool {
        if verdicts[j] == Some(Verdict::Memory) {
            return false;
        }
        leaves(j, at, shapes, computed, verdicts, out)
    };
    if let (Some(b), true) = (shape.base, c.base_size > 0) {
        if !nested(b, at, out) {
            return false;
        }
    }
    for ((m, req), f) in shape.members.iter().zip(&c.fields).zip(&layout.fields) {
        if req.size == 0 {
            continue;
        }
        let (elem, count) = match *m {
            MemberShape::Plain(e) => (e, 1),
            MemberShape::Array(e, n) => (e, n),
            MemberShape::Bits(_, width) => {
                if shape.is_union {
                    // Classified as the smallest integer type holding the bits.
                    let size = (width.div_ceil(8).next_power_of_two() as usize).min(8);
                    out.push(Leaf { offset: at + f.offset, size, align: size, class: Class::Integer });
                } else {
                    // GCC makes a bit field of exactly 8, 16, 32 or 64 bits at a multiple of
                    // its width an ordinary member: its alignment counts.
                    let (first, end) = touched_bytes(f, shape.big_endian);
                    let whole = matches!(width, 8 | 16 | 32 | 64) && (first * 8) % width as usize == 0 && (end - first) * 8 == width as usize;
                    let align = if whole { width as usize / 8 } else { 1 };
                    out.push(Leaf { offset: at + first, size: end - first, align, class: Class::Integer });
                }
                continue;
            }
        };
        let Ok((elem_size, _)) = shape::elem_size_align(elem, computed) else { return false };
        for k in 0..count {
            let offset = at + f.offset + k * elem_size;
            // GCC classifies an array from its first element: the others' scalars give
            // their classes, their alignment is not checked.
            let from = out.len();
            match elem {
                // A complex number is two of its real type (psABI: COMPLEX_X87 for long
                // double, which needs 32 bytes and so never meets this oracle).
                Elem::Scalar(kind) if kind.class == ValueClass::Complex => {
                    let part = kind.size / 2;
                    for at in [offset, offset + part] {
                        out.push(Leaf { offset: at, size: part, align: kind.align, class: Class::Sse });
                    }
                }
                Elem::Scalar(kind) => out.push(Leaf { offset, size: kind.size, align: kind.align, class: scalar_class(kind) }),
                Elem::Aggregate(j) => {
                    if !nested(j, offset, out) {
                        return false;
                    }
                }
                Elem::Raw { .. } => {}
            }
            if k > 0 {
                for leaf in &mut out[from..] {
                    leaf.align = 1;
                }
            }
        }
    }
    true
}

/// The oracle: GCC's classification of aggregate `index` (≤ 16 bytes) from its scalars,
/// merged in declaration order, and (second) with the INTEGER ones merged first. The two
/// differ only where X87/X87UP meets both SSE and INTEGER in one eightbyte: the psABI's
/// pairwise merge is not associative there (SSE then INTEGER gives MEMORY, INTEGER then SSE
/// gives INTEGER), and GCC, which merges a nested aggregate's own classes before its
/// parent's, can take either order. Both are accepted.
fn verdicts_of(index: usize, shapes: &[AggregateShape], computed: &[Computed], verdicts: &[Option<Verdict>]) -> [Verdict; 2] {
    [false, true].map(|integer_first| verdict(index, shapes, computed, verdicts, integer_first))
}

fn verdict(index: usize, shapes: &[AggregateShape], computed: &[Computed], verdicts: &[Option<Verdict>], integer_first: bool) -> Verdict {
    let size = computed[index].result.as_ref().map(|l| l.size).unwrap_or(0);
    let mut found = Vec::new();
    if !leaves(index, 0, shapes, computed, verdicts, &mut found) {
        return Verdict::Memory;
    }
    if integer_first {
        found.sort_by_key(|l| l.class != Class::Integer);
    }
    if found.iter().any(|l| l.offset % l.align.max(1) != 0) {
        return Verdict::Memory;
    }
    let words = size.div_ceil(8);
    let mut classes = vec![Class::Empty; words];
    let mut mark = |from: usize, len: usize, class: Class| {
        let end = (from + len).min(size);
        for w in (from / 8)..end.div_ceil(8) {
            classes[w] = merge(classes[w], class);
        }
    };
    for l in &found {
        if l.class == Class::X87 {
            mark(l.offset, 8, Class::X87);
            mark(l.offset + 8, 8, Class::X87Up);
        } else {
            mark(l.offset, l.size, l.class);
        }
    }
    let stray_up = (0..words).any(|w| classes[w] == Class::X87Up && (w == 0 || classes[w - 1] != Class::X87));
    if classes.contains(&Class::Memory) || stray_up {
        return Verdict::Memory;
    }
    if classes.contains(&Class::X87) {
        return Verdict::X87;
    }
    Verdict::Registers(classes)
}

/// # Safety
/// `t` must be a valid descriptor.
unsafe fn elements_of(t: *const ffi_type) -> Vec<*const ffi_type> {
    let mut out = Vec::new();
    // SAFETY: valid descriptor (contract); STRUCT element lists are NULL-terminated.
    unsafe {
        let mut p = (*t).elements;
        while !p.is_null() && !(*p).is_null() {
            out.push(*p as *const ffi_type);
            p = p.add(1);
        }
    }
    out
}

/// What libffi will make of the extension's descriptor `t` for an aggregate of `size` bytes:
/// its elements placed one after another at their alignment and merged per eightbyte.
fn libffi_view(t: &FfiType, size: usize) -> Verdict {
    // SAFETY: `t` owns its descriptors while it lives.
    if unsafe { (*t.as_ptr()).type_ } == libffi::raw::FFI_TYPE_LONGDOUBLE {
        // An aggregate of one long double, described as the long double (returned in %st0).
        return Verdict::X87;
    }
    // SAFETY: as above.
    let elements = unsafe { elements_of(t.as_ptr()) };
    // SAFETY: as above.
    let first = unsafe { &*elements[0] };
    if elements.len() == 1 && first.type_ == type_tag::STRUCT && first.size == 64 {
        return Verdict::Memory;
    }
    if elements.len() == 1 && first.type_ == libffi::raw::FFI_TYPE_LONGDOUBLE as u16 {
        return Verdict::X87;
    }
    let words = size.div_ceil(8);
    let mut classes = vec![Class::Empty; words];
    let mut at = 0usize;
    for &e in &elements {
        // SAFETY: as above.
        let e = unsafe { &*e };
        at = at.next_multiple_of(usize::from(e.alignment).max(1));
        let class = match e.type_ {
            type_tag::STRUCT => {
                // SAFETY: as above.
                assert!(unsafe { elements_of(e) }.is_empty(), "nested element with members in a classified descriptor");
                Class::Empty
            }
            t if t == libffi::raw::FFI_TYPE_FLOAT as u16 || t == libffi::raw::FFI_TYPE_DOUBLE as u16 => Class::Sse,
            t if t == libffi::raw::FFI_TYPE_LONGDOUBLE as u16 => Class::X87,
            _ => Class::Integer,
        };
        assert!(e.size > 0 && at / 8 == (at + e.size - 1) / 8, "element at {at} of {} bytes straddles an eightbyte", e.size);
        if at / 8 < words {
            classes[at / 8] = merge(classes[at / 8], class);
        }
        at += e.size;
    }
    assert!(at >= size && at <= words * 8, "elements cover {at} bytes of a {size}-byte aggregate");
    Verdict::Registers(classes)
}

/// Builds every aggregate's descriptor as the extension does and checks each one of 1 to
/// 16 bytes against the oracle; checks that every descriptor of a reasonable size is
/// accepted by `ffi_prep_cif` as argument and result (or refused cleanly).
pub fn check_classification(shapes: &[AggregateShape], computed: &[Computed]) -> Classified {
    let mut types: Vec<Option<FfiType>> = Vec::with_capacity(shapes.len());
    let mut verdicts: Vec<Option<Verdict>> = Vec::with_capacity(shapes.len());
    for (index, (shape, c)) in shapes.iter().zip(computed).enumerate() {
        let Ok(layout) = &c.result else {
            types.push(None);
            verdicts.push(None);
            continue;
        };
        let member_types: Option<Vec<FfiType>> = shape
            .members
            .iter()
            .zip(&c.fields)
            .map(|(&m, f)| member_ffi(m, f.size, f.align, &types))
            .collect();
        let base_type = match shape.base {
            Some(b) if c.base_size > 0 => types[b].clone(),
            _ => None,
        };
        let (Some(member_types), true) = (member_types, shape.base.is_none() || c.base_size == 0 || base_type.is_some()) else {
            types.push(None);
            verdicts.push(None);
            continue;
        };
        let by_value: Vec<ByValueMember<'_>> = member_types
            .iter()
            .zip(shape.members.iter().zip(&c.fields))
            .map(|(ty, (_, f))| ByValueMember { ty, size: f.size, bits: f.bit_width })
            .collect();
        let classified = FfiType::sysv_by_value(layout, base_type.as_ref(), &by_value, shape.is_union, shape.big_endian);
        let ctx = || format!("aggregate {index}: {shape:?}\nrequests {:?}\nlayout {layout:?}", c.fields);
        assert_eq!(classified.is_some(), layout.size > 0, "classified exactly the non-empty aggregates\n{}", ctx());
        let verdict = classified.as_ref().map(|t| {
            assert_eq!(t.size(), layout.size, "descriptor size\n{}", ctx());
            if layout.size > 16 {
                // Always MEMORY; the descriptor must say so without elements libffi would
                // place (see `FfiType::sysv_by_value`).
                assert_eq!(libffi_view(t, layout.size), Verdict::Memory, "a large aggregate not MEMORY\n{}", ctx());
                return Verdict::Memory;
            }
            // SAFETY: `t` owns its descriptor.
            assert_eq!(usize::from(unsafe { (*t.as_ptr()).alignment }), layout.align, "descriptor alignment\n{}", ctx());
            let [expected, alternative] = verdicts_of(index, shapes, computed, &verdicts);
            let got = libffi_view(t, layout.size);
            assert!(got == expected || got == alternative, "classification differs from the psABI's: {got:?}, expected {expected:?} (or {alternative:?})\n{}", ctx());
            got
        });
        // An empty aggregate: the extension's element list has no members then.
        let ty = classified.unwrap_or_else(|| FfiType::aggregate(0, layout.align, vec![]));
        if layout.size <= 1 << 20 {
            // ffi_prep_cif must accept the descriptor or refuse it; it must not crash.
            let _ = CallInterface::new(Some(ty.clone()), vec![ty.clone(), ty.clone()], None);
        }
        types.push(Some(ty));
        verdicts.push(verdict);
    }
    Classified { types, verdicts }
}

//! Owned libffi type trees for aggregates.
//!
//! Scalars use libffi's static descriptors. A structure, union or array passed by value needs
//! an `ffi_type` of kind STRUCT whose `elements` list describes its members for the ABI's
//! register classification; those are built here and owned by an [`FfiType`], which keeps
//! every descriptor it points to alive for as long as any call interface uses it.
use crate::layout::StructLayout;
use crate::simple::SimpleKind;
use libffi::low::{ffi_type, type_tag};
use std::ptr::addr_of_mut;
use std::sync::Arc;

/// A libffi type: either one of libffi's process-lifetime scalars or an owned aggregate.
#[derive(Clone, Debug)]
pub enum FfiType {
    Static(*mut ffi_type),
    Aggregate(Arc<Aggregate>),
}

// SAFETY: a static descriptor is never written after libffi initialises it, and an
// `Aggregate` is immutable once built; sharing the pointers between threads is sound.
unsafe impl Send for FfiType {}
// SAFETY: as above, nothing reachable through an `FfiType` is mutated after construction.
unsafe impl Sync for FfiType {}

/// An owned STRUCT descriptor with its NULL-terminated element list and the element types.
pub struct Aggregate {
    descriptor: Box<ffi_type>,
    _element_ptrs: Box<[*mut ffi_type]>,
    _elements: Vec<FfiType>,
}

// SAFETY: an Aggregate is immutable once built; its raw pointers point into its own boxed
// descriptor and element list or into libffi's static scalars, so it may be shared and sent.
unsafe impl Send for Aggregate {}
// SAFETY: as above: nothing is mutated through a shared Aggregate.
unsafe impl Sync for Aggregate {}

impl std::fmt::Debug for Aggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Aggregate(size={}, align={})", self.descriptor.size, self.descriptor.alignment)
    }
}

impl FfiType {
    /// The descriptor pointer to hand to libffi; valid while `self` (or a clone) lives.
    pub fn as_ptr(&self) -> *mut ffi_type {
        match self {
            FfiType::Static(p) => *p,
            FfiType::Aggregate(a) => &*a.descriptor as *const ffi_type as *mut ffi_type,
        }
    }

    /// Builds a STRUCT descriptor with an explicit size and alignment (ctypes computes the
    /// layout itself — packing and bit fields included — so libffi must not recompute it) and
    /// the member types libffi uses to classify it for registers.
    pub fn aggregate(size: usize, align: usize, elements: Vec<FfiType>) -> FfiType {
        let mut ptrs: Vec<*mut ffi_type> = elements.iter().map(FfiType::as_ptr).collect();
        ptrs.push(std::ptr::null_mut());
        let mut element_ptrs = ptrs.into_boxed_slice();
        let descriptor = Box::new(ffi_type {
            size,
            alignment: align as u16,
            type_: type_tag::STRUCT,
            elements: element_ptrs.as_mut_ptr(),
        });
        FfiType::Aggregate(Arc::new(Aggregate { descriptor, _element_ptrs: element_ptrs, _elements: elements }))
    }

    /// libffi's `long double` descriptor with another alignment (an aggregate of one
    /// `long double` under `_pack_`), owned like an aggregate's descriptor.
    pub fn long_double_aligned(align: usize) -> FfiType {
        // SAFETY: libffi's static scalar descriptor, initialised before use and never
        // written again; only copied here.
        let copy = unsafe { *addr_of_mut!(libffi::low::types::longdouble) };
        let descriptor = Box::new(ffi_type { alignment: align as u16, elements: std::ptr::null_mut(), ..copy });
        FfiType::Aggregate(Arc::new(Aggregate { descriptor, _element_ptrs: Box::new([]), _elements: Vec::new() }))
    }

    /// Size in bytes as libffi sees it.
    pub fn size(&self) -> usize {
        // SAFETY: `as_ptr` is valid while `self` lives.
        unsafe { (*self.as_ptr()).size }
    }

    /// A STRUCT descriptor that libffi on x86-64 passes and returns in memory: its only
    /// element is an opaque 64-byte structure, and libffi classifies anything over 32 bytes
    /// as MEMORY, which makes the whole aggregate MEMORY. `size` and `align` are the real ones.
    pub fn in_memory(size: usize, align: usize) -> FfiType {
        FfiType::aggregate(size, align, vec![FfiType::aggregate(64, 1, vec![])])
    }

    /// The descriptor of an x86-64 System V aggregate of at most 16 bytes, classified as GCC
    /// does from its members at their real places, or `None` for larger aggregates, which a
    /// plain element list describes well enough. How: the private function of the same name.
    pub fn sysv_x86_64(size: usize, align: usize, parts: &[Part<'_>]) -> Option<FfiType> {
        sysv_x86_64(size, align, parts)
    }

    /// [`FfiType::sysv_x86_64`] for an array of `length` elements of type `element`
    /// (`element_size` bytes each), as GCC classifies it: the first element checked where it
    /// lies, the others giving their classes only (an array of `_pack_`ed aggregates whose
    /// size is not a multiple of their scalars' alignment has misaligned scalars in every
    /// element but the first, which GCC does not see). `None` as for `sysv_x86_64`.
    pub fn sysv_array(element: &FfiType, element_size: usize, length: usize, align: usize) -> Option<FfiType> {
        let size = element_size.checked_mul(length)?;
        if size == 0 || size > 16 {
            return None;
        }
        let parts: Vec<Part<'_>> = (0..length)
            .map(|k| if k == 0 { Part::Member { offset: 0, ty: element } } else { Part::Repeat { offset: k * element_size, ty: element } })
            .collect();
        sysv_x86_64(size, align, &parts)
    }

    /// [`FfiType::sysv_x86_64`] for a structure or union as declared: its (non-empty) base's
    /// descriptor, its members in declaration order and the layout computed for them. Turns
    /// each member into the [`Part`] GCC classifies: an ordinary member at its offset; a
    /// structure's bit field as the bytes its bits occupy (a big-endian window counts bits
    /// from its last byte); a union's bit field as a member of the smallest integer type
    /// that holds its bits, since GCC classifies it as one (and checks its alignment where
    /// the union lies). Members of size 0 add nothing.
    ///
    /// An aggregate of more than 16 bytes is always MEMORY (no vector types here) and gets
    /// the opaque [`FfiType::in_memory`] descriptor: a plain element list would do as far as
    /// the psABI goes, but libffi places elements one after another at their natural
    /// alignment, so a `_pack_` or a bit-field window can push a nested aggregate's element
    /// past the aggregate's real end, and libffi's `classify_argument` then writes past its
    /// four-entry class array on the stack (found by `fuzz/fuzz_targets/classify.rs` under
    /// AddressSanitizer: `#pragma pack(1) struct { char c; short h; struct { char a[29]; }
    /// s; }`). `None` for an aggregate of 0 bytes.
    pub fn sysv_by_value(
        layout: &StructLayout,
        base: Option<&FfiType>,
        members: &[ByValueMember<'_>],
        is_union: bool,
        big_endian: bool,
    ) -> Option<FfiType> {
        // Only small aggregates are classified; a larger one's offsets may be anywhere in
        // the address space, where counting bits would overflow.
        if layout.size == 0 {
            return None;
        }
        if layout.size > 16 {
            return Some(FfiType::in_memory(layout.size, layout.align));
        }
        let bit_field_types: Vec<FfiType> = members
            .iter()
            .map(|m| uint_of_size(m.bits.unwrap_or(8).div_ceil(8).next_power_of_two() as usize))
            .collect();
        let mut parts = Vec::with_capacity(members.len() + 1);
        if let Some(b) = base {
            parts.push(Part::Member { offset: 0, ty: b });
        }
        for ((m, fl), bit_field_type) in members.iter().zip(&layout.fields).zip(&bit_field_types) {
            if m.size == 0 {
                continue;
            }
            parts.push(match m.bits {
                None => Part::Member { offset: fl.offset, ty: m.ty },
                Some(_) if is_union => Part::Member { offset: fl.offset, ty: bit_field_type },
                Some(width) => {
                    let (first, last) = (fl.bit_offset as usize / 8, (fl.bit_offset + width - 1) as usize / 8);
                    let (first, last) = if big_endian { (fl.size - 1 - last, fl.size - 1 - first) } else { (first, last) };
                    // GCC makes a bit field of exactly 8, 16, 32 or 64 bits that starts at a
                    // multiple of its width an ordinary integer member, whose alignment then
                    // counts where an enclosing `_pack_` places this aggregate.
                    let first_bit = if big_endian { fl.size * 8 - fl.bit_offset as usize - width as usize } else { fl.bit_offset as usize };
                    let start = fl.offset * 8 + first_bit;
                    if matches!(width, 8 | 16 | 32 | 64) && start % width as usize == 0 {
                        Part::Member { offset: start / 8, ty: bit_field_type }
                    } else {
                        Part::Bits { start: (fl.offset + first) * 8, width: (last - first + 1) * 8 }
                    }
                }
            });
        }
        sysv_x86_64(layout.size, layout.align, &parts)
    }
}

/// How x86-64 System V passes (and returns) an aggregate, read back from the descriptor
/// [`FfiType::sysv_by_value`] built for it: what the fast lane needs to put its bytes into
/// registers or onto the stack itself (`direct.rs`), as libffi would from the same descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysvPassing {
    /// In `words` (1 or 2) eightbytes, each in the next free register of its class:
    /// `sse[i]` for an SSE register, else a general-purpose one.
    Registers { words: u8, sse: [bool; 2] },
    /// In memory: copied onto the stack as an argument, through a hidden pointer as a result.
    Memory,
}

impl FfiType {
    /// The x86-64 System V passing of this aggregate, or `None` where the fast lane should
    /// leave it to libffi: not a STRUCT descriptor (a lone `long double` aggregate), empty,
    /// or with an eightbyte of padding only.
    pub fn sysv_passing(&self) -> Option<SysvPassing> {
        // SAFETY: `as_ptr` is valid while `self` lives.
        let t = unsafe { &*self.as_ptr() };
        if t.type_ != type_tag::STRUCT || t.size == 0 {
            return None;
        }
        if t.size > 16 {
            return Some(SysvPassing::Memory);
        }
        let mut words = Eightbytes::new(t.size);
        // SAFETY: an `FfiType`'s descriptors are valid and NULL-terminated while it lives.
        // The elements sit where libffi places them, which for the descriptors built here
        // is where their bytes are.
        unsafe { classify_into(t, 0, &mut words, false) };
        if words.memory || words.classes.iter().any(|c| matches!(c, Class::Memory | Class::X87 | Class::X87Up)) {
            return Some(SysvPassing::Memory);
        }
        let mut sse = [false; 2];
        for (i, c) in words.classes.iter().enumerate() {
            match c {
                Class::Sse => sse[i] = true,
                Class::Integer => {}
                _ => return None,
            }
        }
        Some(SysvPassing::Registers { words: words.classes.len() as u8, sse })
    }
}

/// One declared member of an aggregate, for [`FfiType::sysv_by_value`].
pub struct ByValueMember<'a> {
    /// The member's libffi type (not used for a bit field).
    pub ty: &'a FfiType,
    /// `sizeof` the member's type.
    pub size: usize,
    /// `Some(width)` for a bit field.
    pub bits: Option<u32>,
}

/// libffi's unsigned integer of `size` bytes (1, 2, 4; anything else: 8).
pub fn uint_of_size(size: usize) -> FfiType {
    let code = match size {
        1 => b'B',
        2 => b'H',
        4 => b'I',
        _ => b'Q',
    };
    FfiType::Static(SimpleKind::from_code(code).map_or_else(crate::simple::ffi_sint, |k| k.ffi_type()))
}

/// One member of an aggregate at its real place, for [`FfiType::sysv_x86_64`].
pub enum Part<'a> {
    /// An ordinary member of type `ty` at byte `offset`.
    Member { offset: usize, ty: &'a FfiType },
    /// A bit field: `width` bits from bit `start` of the aggregate (always INTEGER).
    Bits { start: usize, width: usize },
    /// A further element of an array at byte `offset`: GCC classifies an array from its
    /// first element and gives every other the same classes, so the scalars of this one
    /// count for their classes but are never checked for misalignment.
    Repeat { offset: usize, ty: &'a FfiType },
}

/// The psABI's classes for one eightbyte (GCC's `x86_64_reg_class`, without the SSE
/// sub-kinds, which only tell libffi how many bytes to move).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Class {
    /// NO_CLASS: padding only.
    Empty,
    Integer,
    Sse,
    X87,
    X87Up,
    Memory,
}

/// The psABI's merge rule for two classes meeting in one eightbyte.
fn merge(a: Class, b: Class) -> Class {
    use Class::*;
    match (a, b) {
        _ if a == b => a,
        (Empty, other) | (other, Empty) => other,
        (Memory, _) | (_, Memory) => Memory,
        (Integer, _) | (_, Integer) => Integer,
        (X87 | X87Up, _) | (_, X87 | X87Up) => Memory,
        _ => Sse,
    }
}

/// What classification has found out so far: the class of each eightbyte (merged member by
/// member, as GCC merges them), and for the elements that will stand for it, their unit and
/// which bytes hold floating-point numbers only or nothing.
struct Eightbytes {
    classes: Vec<Class>,
    /// Per byte: `Sse` if only floating-point scalars lie there, `Empty` if nothing does,
    /// `Integer` otherwise.
    bytes: Vec<Class>,
    /// The largest alignment of an ordinary scalar in each eightbyte (1 if it has bit fields
    /// only). Elements of that size keep every scalar's class and, for an enclosing
    /// aggregate, every misalignment a `_pack_` causes (inside an aggregate that is not
    /// MEMORY itself, every scalar is at a multiple of its alignment).
    units: Vec<usize>,
    memory: bool,
}

impl Eightbytes {
    fn new(size: usize) -> Self {
        let words = size.div_ceil(8);
        Eightbytes { classes: vec![Class::Empty; words], bytes: vec![Class::Empty; size], units: vec![1; words], memory: false }
    }

    fn set(&mut self, from: usize, len: usize, class: Class, unit: usize) {
        if class == Class::Memory {
            self.memory = true;
            return;
        }
        // A union's bit field counts as an integer type, which may be wider than the
        // (packed) union: like GCC, keep the part inside.
        let end = (from + len).min(self.bytes.len());
        if from >= end {
            return;
        }
        let kind = if class == Class::Sse { Class::Sse } else { Class::Integer };
        for b in &mut self.bytes[from..end] {
            *b = if *b == Class::Empty || *b == kind { kind } else { Class::Integer };
        }
        for word in from / 8..end.div_ceil(8) {
            self.classes[word] = merge(self.classes[word], class);
            self.units[word] = self.units[word].max(unit);
        }
    }

    /// `Sse` if bytes `range` hold floating-point numbers only, `Empty` if nothing,
    /// `Integer` otherwise.
    fn kind(&self, range: std::ops::Range<usize>) -> Class {
        self.bytes[range].iter().fold(Class::Empty, |a, &b| if a == Class::Empty || a == b { b } else { Class::Integer })
    }
}

/// Classes `t`, placed at byte `offset`, contributes, read from its libffi descriptor (as
/// GCC's `classify_argument` would from the C type). A nested descriptor's elements are
/// placed one after another at their alignment, as libffi places them; ours are built by
/// this module with elements at their real offsets where that placement would be wrong.
///
/// Not modelled: a nested aggregate that is MEMORY by itself (a scalar misaligned inside
/// it) stays MEMORY here, where GCC checks its scalars where they finally lie, so that an
/// enclosing `_pack_` can realign them. GCC 12 miscompiles the one shape where that shows
/// (an `aligned(n)` type inside `#pragma pack(1)`), so nothing is lost in practice.
///
/// `check_alignment` false: a [`Part::Repeat`], whose misalignment GCC does not see.
///
/// # Safety
/// `t` must be a valid descriptor whose element lists are NULL-terminated.
unsafe fn classify_into(t: *const ffi_type, offset: usize, words: &mut Eightbytes, check_alignment: bool) {
    // SAFETY: `t` is valid (contract).
    let t = unsafe { &*t };
    if t.type_ == type_tag::STRUCT {
        if t.size > 32 {
            words.set(offset, t.size, Class::Memory, 1);
            return;
        }
        let mut at = 0usize;
        let mut p = t.elements;
        // SAFETY: the list is NULL-terminated and every entry valid (contract).
        while !p.is_null() && unsafe { !(*p).is_null() } {
            // SAFETY: as above.
            let e = unsafe { &**p };
            at = at.next_multiple_of(usize::from(e.alignment).max(1));
            // SAFETY: as above.
            unsafe { classify_into(e, offset + at, words, check_alignment) };
            at += e.size;
            // SAFETY: not yet past the terminating NULL.
            p = unsafe { p.add(1) };
        }
        return;
    }
    // GCC checks scalars only, each against its own size ("misaligned fields are always
    // passed in memory").
    let align = usize::from(t.alignment).max(1);
    if check_alignment && offset % align != 0 {
        words.set(offset, t.size, Class::Memory, 1);
        return;
    }
    let code = t.type_;
    if code == libffi::raw::FFI_TYPE_COMPLEX {
        // A complex number is its real type twice: SSE for float and double (COMPLEX_X87,
        // i.e. MEMORY, for long double, which never fits 16 bytes with anything else).
        // SAFETY: libffi's complex descriptors list their real type as the one element.
        let part = unsafe { t.elements.as_ref().and_then(|p| p.as_ref()) };
        match part {
            Some(part) if part.size <= 8 => {
                words.set(offset, t.size, Class::Sse, usize::from(part.alignment).max(1));
            }
            _ => words.set(offset, t.size, Class::Memory, 1),
        }
        return;
    }
    if code == libffi::raw::FFI_TYPE_FLOAT || code == libffi::raw::FFI_TYPE_DOUBLE {
        words.set(offset, t.size, Class::Sse, align);
    } else if code == libffi::raw::FFI_TYPE_LONGDOUBLE && t.size == 16 {
        words.set(offset, 8, Class::X87, 8);
        words.set(offset + 8, 8, Class::X87Up, 8);
    } else {
        words.set(offset, t.size, Class::Integer, align.min(8));
    }
}

/// The x86-64 System V descriptor of an aggregate of at most 16 bytes. libffi classifies a
/// plain element list by placing the elements one after another at their alignment, which
/// misreads bit fields (their storage windows overlap neighbouring members), union members
/// and `_pack_`ed members (GCC passes an aggregate in memory if any scalar in it is
/// misaligned; libffi never checks). So GCC's `classify_argument` is applied here to the
/// members at their real places, and the result is handed to libffi as elements it
/// classifies the same way: integers for INTEGER and floating-point numbers for SSE, in
/// units of the eightbyte's most aligned scalar (see [`Eightbytes::units`]), an empty 8-byte
/// structure for an eightbyte of padding only, and for MEMORY the single opaque element of
/// [`FfiType::in_memory`]; an aggregate whose classes are the X87 pair of a lone `long double`
/// is described as that `long double` (so that libffi returns it from %st0).
/// Returns `None` for larger aggregates (always MEMORY without vector types, which libffi
/// gets right).
///
/// GCC checks the alignment of an array's first element only: the elements after it come
/// as [`Part::Repeat`] ([`FfiType::sysv_array`]). A structure's bit field of exactly 8, 16,
/// 32 or 64 bits at a multiple of its width comes as the ordinary member GCC makes of it
/// ([`FfiType::sysv_by_value`]). Not modelled: see [`classify_into`].
fn sysv_x86_64(size: usize, align: usize, parts: &[Part<'_>]) -> Option<FfiType> {
    use libffi::low::types;
    if size > 16 || size == 0 {
        return None;
    }
    let mut words = Eightbytes::new(size);
    for part in parts {
        match *part {
            // SAFETY: an `FfiType`'s descriptors are valid and NULL-terminated while it lives.
            Part::Member { offset, ty } => unsafe { classify_into(ty.as_ptr(), offset, &mut words, true) },
            // SAFETY: as above.
            Part::Repeat { offset, ty } => unsafe { classify_into(ty.as_ptr(), offset, &mut words, false) },
            // Bit fields are INTEGER wherever they are (GCC never calls them misaligned).
            Part::Bits { start, width } => words.set(start / 8, (start + width).div_ceil(8) - start / 8, Class::Integer, 1),
        }
    }
    let classes = &words.classes;
    // An X87UP not preceded by X87 is MEMORY too (the psABI's post-merger cleanup).
    let stray_x87up = (0..classes.len()).any(|i| classes[i] == Class::X87Up && (i == 0 || classes[i - 1] != Class::X87));
    if words.memory || classes.contains(&Class::Memory) || stray_x87up {
        return Some(FfiType::in_memory(size, align));
    }
    if classes.iter().any(|c| matches!(c, Class::X87 | Class::X87Up)) {
        // One `long double` (alone, in an array of one, overlaid by others): the psABI
        // passes it like a `long double` (on the stack) and returns it like one (in %st0).
        // libffi reads a STRUCT result from %rax:%rdx whatever its classes, so the aggregate
        // is described as the `long double` itself: same size, alignment and classes, and
        // the result comes from %st0 as GCC puts it there.
        // With the aggregate's own alignment (a `_pack_` may lower it), which places it
        // on the stack.
        let long_double = addr_of_mut!(types::longdouble);
        // SAFETY: libffi's static descriptor, never written after initialisation.
        if align == usize::from(unsafe { (*long_double).alignment }) {
            return Some(FfiType::Static(long_double));
        }
        return Some(FfiType::long_double_aligned(align));
    }
    let scalar = |p: *mut ffi_type| FfiType::Static(p);
    let mut elements = Vec::new();
    for (word, &unit) in words.units.iter().enumerate() {
        let end = (word * 8 + 8).min(size);
        if classes[word] == Class::Empty {
            // Padding only: an empty structure is NO_CLASS to libffi too.
            elements.push(FfiType::aggregate(end - word * 8, 1, vec![]));
            continue;
        }
        // One element per unit, of the class of the bytes it covers: an enclosing aggregate
        // that places this one off an eightbyte boundary merges them as GCC merges scalars.
        // The last may reach past the end of the aggregate (a `_pack_`ed union of an
        // `int64_t` bit field is 3 bytes): it keeps the unit's alignment that way, and
        // libffi classifies no byte past `size`.
        let mut at = word * 8;
        while at < end {
            let len = unit.min(end - at);
            elements.push(match (words.kind(at..at + len), unit) {
                (Class::Empty, _) => FfiType::aggregate(len, 1, vec![]),
                (Class::Sse, 8) => scalar(addr_of_mut!(types::double)),
                (Class::Sse, _) => scalar(addr_of_mut!(types::float)),
                (_, 8) => scalar(addr_of_mut!(types::uint64)),
                (_, 4) => scalar(addr_of_mut!(types::uint32)),
                (_, 2) => scalar(addr_of_mut!(types::uint16)),
                _ => scalar(addr_of_mut!(types::uint8)),
            });
            at += len;
        }
    }
    Some(FfiType::aggregate(size, align, elements))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysv_passing_reads_the_classes_back() {
        let (i, d, f) = (scalar(b'i'), scalar(b'd'), scalar(b'f'));
        let by_value = |offsets: &[(usize, &FfiType)], size: usize, align: usize| {
            let parts: Vec<Part<'_>> = offsets.iter().map(|&(offset, ty)| Part::Member { offset, ty }).collect();
            FfiType::sysv_x86_64(size, align, &parts).unwrap_or_else(|| FfiType::in_memory(size, align))
        };
        // { int a; double b; }: INTEGER, SSE.
        let t = by_value(&[(0, &i), (8, &d)], 16, 8);
        assert_eq!(t.sysv_passing(), Some(SysvPassing::Registers { words: 2, sse: [false, true] }));
        // { float x, y; }: one SSE eightbyte.
        let t = by_value(&[(0, &f), (4, &f)], 8, 4);
        assert_eq!(t.sysv_passing(), Some(SysvPassing::Registers { words: 1, sse: [true, false] }));
        // { float x; int y; double z; }: INTEGER (merged), SSE.
        let t = by_value(&[(0, &f), (4, &i), (8, &d)], 16, 8);
        assert_eq!(t.sysv_passing(), Some(SysvPassing::Registers { words: 2, sse: [false, true] }));
        // { int a; double b; int c; }: 24 bytes, MEMORY.
        assert_eq!(FfiType::in_memory(24, 8).sysv_passing(), Some(SysvPassing::Memory));
        // A misaligned (packed) double: MEMORY though small.
        let t = by_value(&[(0, &i), (4, &d)], 12, 1);
        assert_eq!(t.sysv_passing(), Some(SysvPassing::Memory));
        // Scalars are not aggregates.
        assert_eq!(i.sysv_passing(), None);
    }

    #[test]
    fn aggregate_keeps_its_elements() {
        let int = FfiType::Static(SimpleKind::from_code(b'i').unwrap().ffi_type());
        let inner = FfiType::aggregate(8, 4, vec![int.clone(), int.clone()]);
        let outer = FfiType::aggregate(16, 4, vec![inner.clone(), inner]);
        // SAFETY: the descriptors are owned by `outer`, alive for this scope.
        unsafe {
            let d = &*outer.as_ptr();
            assert_eq!(d.type_, type_tag::STRUCT);
            assert_eq!(d.size, 16);
            assert!(!(*d.elements).is_null() && (*d.elements.add(2)).is_null());
            assert_eq!((**d.elements).size, 8);
        }
    }

    fn scalar(code: u8) -> FfiType {
        FfiType::Static(SimpleKind::from_code(code).unwrap().ffi_type())
    }

    /// (type tag, size) of each element of `t`.
    fn elements(t: &FfiType) -> Vec<(u16, usize)> {
        let mut out = Vec::new();
        // SAFETY: `t` owns its NULL-terminated element list for this scope.
        unsafe {
            let mut p = (*t.as_ptr()).elements;
            while !(*p).is_null() {
                out.push(((**p).type_, (**p).size));
                p = p.add(1);
            }
        }
        out
    }

    const UINT32: (u16, usize) = (libffi::raw::FFI_TYPE_UINT32, 4);
    const DOUBLE: (u16, usize) = (libffi::raw::FFI_TYPE_DOUBLE, 8);
    const FLOAT: (u16, usize) = (libffi::raw::FFI_TYPE_FLOAT, 4);
    /// The opaque element that makes libffi pass an aggregate in memory.
    const MEMORY: (u16, usize) = (type_tag::STRUCT, 64);

    #[test]
    fn sysv_bit_field_sharing_an_eightbyte_with_a_float_makes_it_integer() {
        // struct { float f; long b : 12; double d; }: GCC passes f and b in one GPR.
        let (f, d) = (scalar(b'f'), scalar(b'd'));
        let parts = [
            Part::Member { offset: 0, ty: &f },
            Part::Bits { start: 32, width: 16 },
            Part::Member { offset: 8, ty: &d },
        ];
        let t = sysv_x86_64(16, 8, &parts).unwrap();
        // In units of the float's alignment, each of its own class: libffi merges them.
        assert_eq!(elements(&t), [FLOAT, UINT32, DOUBLE]);
    }

    #[test]
    fn sysv_union_of_floats_stays_sse() {
        // union { double d; float f[2]; } in one XMM register; union { float; float; } too.
        let (f, d) = (scalar(b'f'), scalar(b'd'));
        let floats = FfiType::aggregate(8, 4, vec![f.clone(), f.clone()]);
        let parts = [Part::Member { offset: 0, ty: &d }, Part::Member { offset: 0, ty: &floats }];
        assert_eq!(elements(&sysv_x86_64(8, 8, &parts).unwrap()), [DOUBLE]);
        assert_eq!(elements(&sysv_x86_64(8, 4, &parts[1..]).unwrap()), [FLOAT, FLOAT]);
        let parts = [Part::Member { offset: 0, ty: &f }, Part::Member { offset: 0, ty: &f }];
        assert_eq!(elements(&sysv_x86_64(4, 4, &parts).unwrap()), [FLOAT]);
    }

    #[test]
    fn sysv_nested_aggregate_off_an_eightbyte_boundary_keeps_its_scalars_classes() {
        // struct { int16_t s; float f; } at offset 4 of #pragma pack(1) struct { short a;
        // char b, c; ... }: its float alone in eightbyte 1 is SSE, as GCC has it.
        let (h, b, f) = (scalar(b'h'), scalar(b'b'), scalar(b'f'));
        let inner = sysv_x86_64(8, 4, &[Part::Member { offset: 0, ty: &h }, Part::Member { offset: 4, ty: &f }]).unwrap();
        let parts = [
            Part::Member { offset: 0, ty: &h },
            Part::Member { offset: 2, ty: &b },
            Part::Member { offset: 3, ty: &b },
            Part::Member { offset: 4, ty: &inner },
        ];
        let outer = sysv_x86_64(12, 1, &parts).unwrap();
        assert_eq!(elements(&outer).last(), Some(&FLOAT));
    }

    #[test]
    fn sysv_long_double_overlaid_by_another_member_is_memory() {
        // union { long double x; int i; }: X87 merged with INTEGER.
        let (g, i) = (scalar(b'g'), scalar(b'i'));
        let parts = [Part::Member { offset: 0, ty: &g }, Part::Member { offset: 0, ty: &i }];
        let t = sysv_x86_64(16, 16, &parts).unwrap();
        assert_eq!(elements(&t).len(), 1);
        assert_eq!(elements(&t)[0].1, MEMORY.1);
        // A lone long double stays one (X87, X87UP), also inside an aggregate of its own:
        // described as the long double itself, which libffi returns from %st0.
        let lone = sysv_x86_64(16, 16, &[Part::Member { offset: 0, ty: &g }]).unwrap();
        // SAFETY: `lone` is a valid descriptor for this scope.
        assert_eq!(unsafe { (*lone.as_ptr()).type_ }, libffi::raw::FFI_TYPE_LONGDOUBLE);
        // Under #pragma pack(2) it keeps the aggregate's alignment (its stack slot).
        let packed = sysv_x86_64(16, 2, &[Part::Member { offset: 0, ty: &g }]).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { ((*packed.as_ptr()).type_, (*packed.as_ptr()).alignment) }, (libffi::raw::FFI_TYPE_LONGDOUBLE, 2));
        let parts = [Part::Member { offset: 0, ty: &lone }, Part::Member { offset: 0, ty: &i }];
        assert_eq!(elements(&sysv_x86_64(16, 16, &parts).unwrap()).len(), 1);
    }

    #[test]
    fn sysv_array_checks_its_first_element_only() {
        // #pragma pack(1) struct E { int16_t s; char c; }; E e[2]: e[1].s at offset 3 is
        // misaligned, but GCC classifies the array from e[0]: one INTEGER eightbyte.
        let (h, c) = (scalar(b'h'), scalar(b'b'));
        let e = sysv_x86_64(3, 1, &[Part::Member { offset: 0, ty: &h }, Part::Member { offset: 2, ty: &c }]).unwrap();
        let arr = FfiType::sysv_array(&e, 3, 2, 1).unwrap();
        assert!(elements(&arr).iter().all(|&(tag, _)| tag != type_tag::STRUCT), "{:?}", elements(&arr));
        // The first element misaligned inside the array's container still counts.
        let parts = [Part::Member { offset: 1, ty: &arr }];
        assert_eq!(elements(&sysv_x86_64(7, 1, &parts).unwrap()), [MEMORY]);
    }

    #[test]
    fn sysv_misaligned_member_is_memory() {
        // #pragma pack(1) struct { char c; int i; }
        let (c, i) = (scalar(b'b'), scalar(b'i'));
        let parts = [Part::Member { offset: 0, ty: &c }, Part::Member { offset: 1, ty: &i }];
        let t = sysv_x86_64(5, 1, &parts).unwrap();
        assert_eq!(elements(&t).iter().map(|e| e.1).collect::<Vec<_>>(), [MEMORY.1]);
        // Nested in another aggregate, it makes that one MEMORY too.
        let parts = [Part::Member { offset: 0, ty: &t }];
        assert_eq!(elements(&sysv_x86_64(5, 1, &parts).unwrap()).len(), 1);
        // union { int *p; short s; } (eightbyte of pointer-aligned integers), placed by
        // #pragma pack(2) at offset 4 of struct { int i; union u; }: the pointer is misaligned.
        let (p, h) = (scalar(b'P'), scalar(b'h'));
        let union = sysv_x86_64(8, 2, &[Part::Member { offset: 0, ty: &p }, Part::Member { offset: 0, ty: &h }]).unwrap();
        let parts = [Part::Member { offset: 0, ty: &i }, Part::Member { offset: 4, ty: &union }];
        assert_eq!(elements(&sysv_x86_64(12, 2, &parts).unwrap()).iter().map(|e| e.1).collect::<Vec<_>>(), [MEMORY.1]);
        // #pragma pack(1) struct { int a, b; } at offset 4 keeps both ints aligned: registers.
        let ints = sysv_x86_64(8, 1, &[Part::Member { offset: 0, ty: &i }, Part::Member { offset: 4, ty: &i }]).unwrap();
        let parts = [Part::Member { offset: 0, ty: &i }, Part::Member { offset: 4, ty: &ints }];
        assert_eq!(elements(&sysv_x86_64(12, 4, &parts).unwrap()), [UINT32, UINT32, UINT32]);
    }

    #[test]
    fn sysv_by_value_leaves_large_aggregates_alone_whatever_their_offsets() {
        // struct { char a[1 << 62]; int b : 3; }: b's window is at byte 2^62, whose bit
        // number does not fit a usize (found by fuzz/fuzz_targets/classify.rs).
        use crate::layout::{FieldRequest, LayoutKind, LayoutRequest};
        let fields = [
            FieldRequest { size: 1 << 62, align: 1, bit_width: None },
            FieldRequest { size: 4, align: 4, bit_width: Some(3) },
        ];
        let req = LayoutRequest {
            fields: &fields,
            is_union: false,
            pack: None,
            min_align: 0,
            kind: LayoutKind::GccSysv,
            base_size: 0,
            base_align: 1,
            big_endian: false,
        };
        let layout = StructLayout::compute(&req).unwrap();
        let (array, int) = (FfiType::aggregate(1 << 62, 1, vec![]), scalar(b'i'));
        let members = [
            ByValueMember { ty: &array, size: 1 << 62, bits: None },
            ByValueMember { ty: &int, size: 4, bits: Some(3) },
        ];
        for big_endian in [false, true] {
            let t = FfiType::sysv_by_value(&layout, None, &members, false, big_endian).unwrap();
            assert_eq!(elements(&t), [MEMORY]);
        }
    }

    #[test]
    fn sysv_by_value_describes_larger_aggregates_as_memory_only() {
        // #pragma pack(1) struct { char c; short h; struct { char a[29]; } s; }: 32 bytes,
        // with s at 3. As a plain element list libffi would put s at 4 and classify its 29
        // bytes from offset 4 as five eightbytes, one past its class array.
        let (c, h) = (scalar(b'c'), scalar(b'h'));
        let chars = FfiType::aggregate(29, 1, vec![c.clone(); 29]);
        let inner = FfiType::aggregate(29, 1, vec![chars]);
        let layout = StructLayout {
            size: 32,
            align: 1,
            fields: vec![
                crate::layout::FieldLayout { offset: 0, size: 1, bit_offset: 0, bit_size: 0 },
                crate::layout::FieldLayout { offset: 1, size: 2, bit_offset: 0, bit_size: 0 },
                crate::layout::FieldLayout { offset: 3, size: 29, bit_offset: 0, bit_size: 0 },
            ],
        };
        let members = [
            ByValueMember { ty: &c, size: 1, bits: None },
            ByValueMember { ty: &h, size: 2, bits: None },
            ByValueMember { ty: &inner, size: 29, bits: None },
        ];
        let t = FfiType::sysv_by_value(&layout, None, &members, false, false).unwrap();
        assert_eq!((t.size(), elements(&t)), (32, vec![MEMORY]));
        // And libffi prepares calls with it.
        assert!(crate::call::CallInterface::new(Some(t.clone()), vec![t], None).is_ok());
    }

    #[test]
    fn sysv_complex_members_are_sse() {
        // struct { float _Complex c; } in one XMM register, struct { double _Complex c; } in
        // two, as GCC passes them (they were INTEGER; found while giving the classify
        // fuzzer's oracle the complex kinds).
        let (cf, cd) = (scalar(b'F'), scalar(b'D'));
        let one = sysv_x86_64(8, 4, &[Part::Member { offset: 0, ty: &cf }]).unwrap();
        assert_eq!(elements(&one), [FLOAT, FLOAT]);
        let two = sysv_x86_64(16, 8, &[Part::Member { offset: 0, ty: &cd }]).unwrap();
        assert_eq!(elements(&two), [DOUBLE, DOUBLE]);
        // struct { int i; float _Complex c; }: the real part shares eightbyte 0 with the int
        // (INTEGER once libffi merges it), the imaginary part is alone in eightbyte 1 (SSE).
        let i = scalar(b'i');
        let parts = [Part::Member { offset: 0, ty: &i }, Part::Member { offset: 4, ty: &cf }];
        let mixed = sysv_x86_64(12, 4, &parts).unwrap();
        assert_eq!(elements(&mixed), [UINT32, FLOAT, FLOAT]);
        // Misaligned by a _pack_: MEMORY.
        let c = scalar(b'c');
        let parts = [Part::Member { offset: 0, ty: &c }, Part::Member { offset: 1, ty: &cf }];
        assert_eq!(elements(&sysv_x86_64(9, 1, &parts).unwrap()), [MEMORY]);
    }

    #[test]
    fn sysv_padding_eightbyte_is_no_class_and_larger_aggregates_are_left_alone() {
        // struct __attribute__((aligned(16))) { int i; }: one GPR, then padding.
        let i = scalar(b'i');
        let t = sysv_x86_64(16, 16, &[Part::Member { offset: 0, ty: &i }]).unwrap();
        assert_eq!(elements(&t), [UINT32, (type_tag::STRUCT, 4), (type_tag::STRUCT, 8)]);
        assert!(sysv_x86_64(24, 8, &[Part::Member { offset: 0, ty: &i }]).is_none());
    }
}

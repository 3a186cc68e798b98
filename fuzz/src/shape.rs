//! The fuzz targets' input format: a byte string read as a few aggregate types, each made of
//! members of the scalar table's types, arrays, earlier aggregates, bit fields and types of
//! any size and alignment, with every option `StructLayout::compute` takes.
//!
//! Every byte string decodes to something (a read past the end gives 0), so libFuzzer's
//! mutations always reach the layout engine. The decoding favours valid requests but keeps
//! invalid ones reachable: bit widths of 0 and wider than their type, `_pack_` values
//! 0..=16 (non-powers of two included) and arbitrary ones, `_align_` values that are not
//! powers of two, sizes and array lengths near `usize::MAX`.
//!
//! Used by the fuzz targets (`fuzz/fuzz_targets/`) and, through `#[path]`, by
//! `crates/ferrotypes-core/tests/layout_vs_cc.rs`, which replays the committed corpus
//! against the C compiler: keep it free of dependencies beyond `ferrotypes-core` and std.
use ferrotypes_core::layout::{FieldRequest, LayoutKind, LayoutRequest, StructLayout};
use ferrotypes_core::simple::{SimpleKind, ValueClass, SIMPLE_KINDS};
use ferrotypes_core::CoreError;

/// Reads the input front to back; past its end every read is 0.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// Eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |v, i| v | u64::from(self.byte()) << (8 * i))
    }

    /// A number that is mostly small but may be anything: one byte below 0xf0 is itself,
    /// 0xf0..=0xfe gives `usize::MAX - (b - 0xf0)` and 0xff reads eight more bytes.
    pub fn wide(&mut self) -> usize {
        match self.byte() {
            b @ 0..=0xef => usize::from(b),
            b @ 0xf0..=0xfe => usize::MAX - usize::from(b - 0xf0),
            0xff => self.u64() as usize,
        }
    }
}

/// The type of a member (or of an array's elements).
#[derive(Clone, Copy, Debug)]
pub enum Elem {
    /// A row of [`SIMPLE_KINDS`].
    Scalar(&'static SimpleKind),
    /// An aggregate decoded earlier from the same input (by index).
    Aggregate(usize),
    /// A type of any size and alignment, as a custom type's storage info could claim.
    Raw { size: usize, align: usize },
}

#[derive(Clone, Copy, Debug)]
pub enum MemberShape {
    Plain(Elem),
    Array(Elem, usize),
    /// A bit field of `width` bits declared with this type.
    Bits(Elem, u32),
}

#[derive(Clone, Debug)]
pub struct AggregateShape {
    pub is_union: bool,
    pub kind: LayoutKind,
    pub big_endian: bool,
    /// `_pack_` as the extension hands it to the core (`_pack_ = 0` is `None` there, so
    /// `Some(0)` is an invalid request).
    pub pack: Option<usize>,
    pub min_align: usize,
    /// An earlier aggregate standing for the base class.
    pub base: Option<usize>,
    pub members: Vec<MemberShape>,
}

/// Integer kinds a bit field may be declared with (as ctypes allows).
pub fn bit_field_kinds() -> impl Iterator<Item = &'static SimpleKind> {
    SIMPLE_KINDS.iter().filter(|k| {
        matches!(k.class, ValueClass::Signed | ValueClass::Unsigned | ValueClass::Bool | ValueClass::Char)
            && k.code != b'c'
    })
}

/// The table's rows a shape may use: all but the inline-string kinds ("s", "U", the last
/// rows), which no C declaration spells and which keep the corpus' byte-to-kind mapping as
/// it was before they were added.
fn fuzzed_kinds() -> &'static [SimpleKind] {
    let n = SIMPLE_KINDS
        .iter()
        .take_while(|k| !matches!(k.class, ValueClass::InlineBytes | ValueClass::InlineWide))
        .count();
    &SIMPLE_KINDS[..n]
}

fn pick_kind(byte: u8, kinds: &[&'static SimpleKind]) -> &'static SimpleKind {
    kinds[usize::from(byte) % kinds.len()]
}

fn elem(r: &mut Reader<'_>, earlier: usize) -> Elem {
    let b = r.byte();
    match b {
        0..=199 => {
            let kinds = fuzzed_kinds();
            Elem::Scalar(&kinds[usize::from(b) % kinds.len()])
        }
        200..=249 if earlier > 0 => Elem::Aggregate(usize::from(r.byte()) % earlier),
        200..=249 => Elem::Scalar(&SIMPLE_KINDS[0]),
        250..=255 => Elem::Raw { size: r.wide(), align: r.wide() },
    }
}

/// Decodes `data` into one to six aggregates; each may use only those before it.
pub fn decode(data: &[u8]) -> Vec<AggregateShape> {
    let mut r = Reader::new(data);
    let ints: Vec<_> = bit_field_kinds().collect();
    let count = 1 + usize::from(r.byte()) % 6;
    let mut out = Vec::with_capacity(count);
    for index in 0..count {
        let flags = r.byte();
        let pack = match r.byte() {
            p @ 0x60..=0x7f => Some(1 << (p % 5)),
            p @ 0x80..=0x90 => Some(usize::from(p - 0x80)),
            0xff => Some(r.wide()),
            _ => None,
        };
        let min_align = match r.byte() {
            a @ 0xc0..=0xdf => 1 << (a % 7),
            a @ 0xe0..=0xfe => usize::from(a - 0xe0),
            0xff => r.wide(),
            _ => 0,
        };
        let base = (flags & 8 != 0 && index > 0).then(|| usize::from(r.byte()) % index);
        let member_count = usize::from(r.byte()) % 17;
        let mut members = Vec::with_capacity(member_count);
        for _ in 0..member_count {
            let tag = r.byte();
            members.push(match tag % 8 {
                0..=2 => MemberShape::Plain(elem(&mut r, index)),
                3 => {
                    let e = elem(&mut r, index);
                    let len = match r.byte() {
                        n @ 0..=0xef => usize::from(n % 8),
                        _ => r.wide(),
                    };
                    MemberShape::Array(e, len)
                }
                4 | 5 => {
                    let kind = pick_kind(r.byte(), &ints);
                    let width = r.byte();
                    // Mostly a valid width of the type (0 and too wide stay reachable).
                    let width = if tag & 0x80 == 0 && width != 0 {
                        1 + u32::from(width) % (8 * kind.size as u32)
                    } else {
                        u32::from(width)
                    };
                    MemberShape::Bits(Elem::Scalar(kind), width)
                }
                6 => {
                    let e = elem(&mut r, index);
                    MemberShape::Bits(e, u32::from(r.byte()) | u32::from(r.byte()) << 8)
                }
                _ => MemberShape::Plain(Elem::Raw { size: r.wide(), align: r.wide() }),
            });
        }
        out.push(AggregateShape {
            is_union: flags & 1 != 0,
            kind: if flags & 2 != 0 { LayoutKind::Ms } else { LayoutKind::GccSysv },
            big_endian: flags & 4 != 0,
            pack,
            min_align,
            base,
            members,
        });
    }
    out
}

/// An aggregate after layout: its requests (as the extension would make them) and the
/// result. `Err` also when a type it uses could not be made (an earlier aggregate that
/// failed, an array beyond `isize::MAX` bytes: the extension refuses those first).
#[derive(Clone, Debug)]
pub struct Computed {
    pub fields: Vec<FieldRequest>,
    pub base_size: usize,
    pub base_align: usize,
    pub result: Result<StructLayout, CoreError>,
}

/// (size, align) of an element type, or why it cannot exist.
pub fn elem_size_align(e: Elem, done: &[Computed]) -> Result<(usize, usize), CoreError> {
    match e {
        Elem::Scalar(k) => Ok((k.size, k.align)),
        Elem::Raw { size, align } => Ok((size, align)),
        Elem::Aggregate(i) => match &done[i].result {
            Ok(l) => Ok((l.size, l.align)),
            Err(e) => Err(e.clone()),
        },
    }
}

/// The request for one member.
pub fn field_request(m: MemberShape, done: &[Computed]) -> Result<FieldRequest, CoreError> {
    Ok(match m {
        MemberShape::Plain(e) => {
            let (size, align) = elem_size_align(e, done)?;
            FieldRequest { size, align, bit_width: None }
        }
        MemberShape::Array(e, len) => {
            let (size, align) = elem_size_align(e, done)?;
            let size = size
                .checked_mul(len)
                .filter(|&s| s <= isize::MAX as usize)
                .ok_or_else(|| CoreError::Layout("array too large".into()))?;
            FieldRequest { size, align, bit_width: None }
        }
        MemberShape::Bits(e, width) => {
            let (size, align) = elem_size_align(e, done)?;
            FieldRequest { size, align, bit_width: Some(width) }
        }
    })
}

/// The layout request of `shape` (whose fields are `fields`).
pub fn request<'a>(shape: &AggregateShape, fields: &'a [FieldRequest], base_size: usize, base_align: usize) -> LayoutRequest<'a> {
    LayoutRequest {
        fields,
        is_union: shape.is_union,
        pack: shape.pack,
        min_align: shape.min_align,
        kind: shape.kind,
        base_size,
        base_align,
        big_endian: shape.big_endian,
    }
}

/// Lays out every aggregate in order.
pub fn compute_all(shapes: &[AggregateShape]) -> Vec<Computed> {
    let mut done: Vec<Computed> = Vec::with_capacity(shapes.len());
    for shape in shapes {
        let base = match shape.base {
            None => Ok((0, 1)),
            Some(b) => elem_size_align(Elem::Aggregate(b), &done),
        };
        let fields: Result<Vec<_>, _> = shape.members.iter().map(|&m| field_request(m, &done)).collect();
        let computed = match (base, fields) {
            (Ok((base_size, base_align)), Ok(fields)) => {
                let result = StructLayout::compute(&request(shape, &fields, base_size, base_align));
                Computed { fields, base_size, base_align, result }
            }
            (Err(e), _) | (_, Err(e)) => Computed { fields: vec![], base_size: 0, base_align: 1, result: Err(e) },
        };
        done.push(computed);
    }
    done
}

//! The one table of C scalar kinds.
//!
//! Every simple ctypes type is named by a one-letter code (`_type_`), as in CPython's
//! `cfield.c` format table. This module maps a code to everything that is true of the C
//! type independent of Python: its size and alignment, the libffi type used to pass it,
//! its PEP 3118 format character, and how its bytes are read as a number. Adding a type is
//! one row in [`SIMPLE_KINDS`].
use libffi::low::ffi_type;
use std::ptr::addr_of_mut;

/// How the bytes of a simple value are interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueClass {
    /// A two's-complement integer of `size` bytes.
    Signed,
    /// An unsigned integer of `size` bytes.
    Unsigned,
    /// `_Bool`.
    Bool,
    /// `float` / `double`.
    Float,
    /// x87 80-bit extended precision stored in 16 bytes.
    LongDouble,
    /// `char`: one byte, converted to a `bytes` of length one.
    Char,
    /// `wchar_t`: one code point.
    WChar,
    /// A pointer-sized value (`char *`, `wchar_t *`, `void *`, `PyObject *`).
    Pointer,
    /// Windows `VARIANT_BOOL`: a 16-bit integer, -1 for true.
    VariantBool,
    /// C11 `_Complex` of `float`, `double` or `long double`: the real part, then the
    /// imaginary part, each stored as the real type is.
    Complex,
    /// `_type_` "s" (accepted from CPython 3.14): a pointer-sized buffer holding a byte
    /// string inline, NUL-terminated when shorter than the buffer.
    InlineBytes,
    /// `_type_` "U" (accepted from CPython 3.14): the same for a `wchar_t` string.
    InlineWide,
}

/// One row of the scalar table.
#[derive(Clone, Copy, Debug)]
pub struct SimpleKind {
    /// The `_type_` code.
    pub code: u8,
    pub size: usize,
    pub align: usize,
    pub class: ValueClass,
    /// PEP 3118 format character for the native byte order (`l` is exported as `q`, as CPython
    /// does, because `struct` sizes `l` differently in standard mode).
    pub format: &'static str,
    ffi: FfiScalar,
}

#[derive(Clone, Copy, Debug)]
enum FfiScalar {
    S8,
    U8,
    S16,
    U16,
    S32,
    U32,
    S64,
    U64,
    F32,
    F64,
    LongDouble,
    Pointer,
    ComplexF32,
    ComplexF64,
    ComplexLongDouble,
}

const PTR: usize = std::mem::size_of::<*const u8>();
const WCHAR: usize = std::mem::size_of::<libc::wchar_t>();
const LONG: usize = std::mem::size_of::<libc::c_long>();

macro_rules! kind {
    ($code:literal, $size:expr, $align:expr, $class:ident, $fmt:literal, $ffi:ident) => {
        SimpleKind {
            code: $code,
            size: $size,
            align: $align,
            class: ValueClass::$class,
            format: $fmt,
            ffi: FfiScalar::$ffi,
        }
    };
}

/// The table. The codes are CPython's; `X` (BSTR) is Windows-only and absent here.
pub static SIMPLE_KINDS: &[SimpleKind] = &[
    kind!(b'c', 1, 1, Char, "c", S8),
    kind!(b'b', 1, 1, Signed, "b", S8),
    kind!(b'B', 1, 1, Unsigned, "B", U8),
    kind!(b'h', 2, 2, Signed, "h", S16),
    kind!(b'H', 2, 2, Unsigned, "H", U16),
    kind!(b'i', 4, 4, Signed, "i", S32),
    kind!(b'I', 4, 4, Unsigned, "I", U32),
    kind!(b'l', LONG, LONG, Signed, "q", S64),
    kind!(b'L', LONG, LONG, Unsigned, "Q", U64),
    kind!(b'q', 8, 8, Signed, "q", S64),
    kind!(b'Q', 8, 8, Unsigned, "Q", U64),
    kind!(b'f', 4, 4, Float, "f", F32),
    kind!(b'd', 8, 8, Float, "d", F64),
    kind!(b'g', 16, 16, LongDouble, "g", LongDouble),
    kind!(b'?', 1, 1, Bool, "?", U8),
    kind!(b'u', WCHAR, WCHAR, WChar, "u", S32),
    kind!(b'z', PTR, PTR, Pointer, "z", Pointer),
    kind!(b'Z', PTR, PTR, Pointer, "Z", Pointer),
    kind!(b'P', PTR, PTR, Pointer, "P", Pointer),
    kind!(b'O', PTR, PTR, Pointer, "O", Pointer),
    kind!(b'v', 2, 2, VariantBool, "v", S16),
    // The complex types (ctypes 3.14+: `_type_` "F", "D", "G"; 3.15 spells them "Zf",
    // "Zd", "Zg", the struct module's format codes, used here for PEP 3118).
    kind!(b'F', 8, 4, Complex, "Zf", ComplexF32),
    kind!(b'D', 16, 8, Complex, "Zd", ComplexF64),
    kind!(b'G', 32, 16, Complex, "Zg", ComplexLongDouble),
    // CPython 3.14 checks `_type_` against its whole field-descriptor table, which also
    // has the string-in-a-buffer codes of character arrays: "s" and "U" simple types hold
    // a string inline in a pointer-sized buffer there (the metaclass accepts them from 3.14).
    kind!(b's', PTR, PTR, InlineBytes, "s", Pointer),
    kind!(b'U', PTR, PTR, InlineWide, "U", Pointer),
];

/// The codes accepted as `_type_`, in CPython's order (used in its error message).
pub const SIMPLE_TYPE_CHARS: &str = "cbBhHiIlLdfuzZqQPXOv?g";

/// The complex kinds' codes (`float`, `double`, `long double`), accepted from 3.14 on.
pub const COMPLEX_CODES: &[u8] = b"FDG";

/// The inline-string codes, accepted from 3.14 on (not listed in its error message).
pub const INLINE_STRING_CODES: &[u8] = b"sU";

impl SimpleKind {
    /// Looks a code up in the table.
    pub fn from_code(code: u8) -> Option<&'static SimpleKind> {
        SIMPLE_KINDS.iter().find(|k| k.code == code)
    }

    /// The libffi type used to pass or return a value of this kind. The pointer is to one of
    /// libffi's static type descriptors and is valid for the whole process.
    pub fn ffi_type(&self) -> *mut ffi_type {
        scalar_ffi_type(self.ffi)
    }

    /// True for integer-like kinds that may be bit-field members.
    pub fn is_integer(&self) -> bool {
        matches!(
            self.class,
            ValueClass::Signed | ValueClass::Unsigned | ValueClass::Bool | ValueClass::Char | ValueClass::WChar
        )
    }
}

fn scalar_ffi_type(kind: FfiScalar) -> *mut ffi_type {
    use libffi::low::types;
    // Taking the address of libffi's static descriptors creates no reference and reads
    // nothing, so it needs no unsafe; the statics live for the whole process.
    {
        match kind {
            FfiScalar::S8 => addr_of_mut!(types::sint8),
            FfiScalar::U8 => addr_of_mut!(types::uint8),
            FfiScalar::S16 => addr_of_mut!(types::sint16),
            FfiScalar::U16 => addr_of_mut!(types::uint16),
            FfiScalar::S32 => addr_of_mut!(types::sint32),
            FfiScalar::U32 => addr_of_mut!(types::uint32),
            FfiScalar::S64 => addr_of_mut!(types::sint64),
            FfiScalar::U64 => addr_of_mut!(types::uint64),
            FfiScalar::F32 => addr_of_mut!(types::float),
            FfiScalar::F64 => addr_of_mut!(types::double),
            FfiScalar::LongDouble => addr_of_mut!(types::longdouble),
            FfiScalar::Pointer => addr_of_mut!(types::pointer),
            FfiScalar::ComplexF32 => addr_of_mut!(types::complex_float),
            FfiScalar::ComplexF64 => addr_of_mut!(types::complex_double),
            FfiScalar::ComplexLongDouble => addr_of_mut!(types::complex_longdouble),
        }
    }
}

/// libffi's `void` type, for functions whose result is ignored.
pub fn ffi_void() -> *mut ffi_type {
    addr_of_mut!(libffi::low::types::void)
}

/// libffi's pointer type.
pub fn ffi_pointer() -> *mut ffi_type {
    scalar_ffi_type(FfiScalar::Pointer)
}

/// libffi's `int`.
pub fn ffi_sint() -> *mut ffi_type {
    scalar_ffi_type(FfiScalar::S32)
}

/// Converts an `f64` to the x87 80-bit extended format stored in the low 10 bytes of a
/// 16-byte `long double` (the rest is zero). Exact: every double is representable.
pub fn f64_to_x87(v: f64) -> [u8; 16] {
    let bits = v.to_bits();
    let sign = (bits >> 63) as u16;
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (e80, mant): (u16, u64) = if exp == 0x7ff {
        // Infinity or NaN: all-ones exponent, explicit integer bit set.
        (0x7fff, (1u64 << 63) | (frac << 11))
    } else if exp == 0 {
        if frac == 0 {
            (0, 0)
        } else {
            // Subnormal double: normalise (the x87 range is far wider).
            let shift = frac.leading_zeros() - 11; // bring the top bit to position 52
            let m = frac << shift;
            let e = 1 - 1023 - shift as i32 + 16383;
            (e as u16, m << 11)
        }
    } else {
        ((exp - 1023 + 16383) as u16, (1u64 << 63) | (frac << 11))
    };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&mant.to_le_bytes());
    out[8..10].copy_from_slice(&((sign << 15) | e80).to_le_bytes());
    out
}

/// Converts an x87 80-bit extended value to the nearest `f64` (ties to even), with overflow
/// to infinity and gradual underflow, as a C cast would.
pub fn x87_to_f64(bytes: &[u8; 16]) -> f64 {
    let mant = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let se = u16::from_le_bytes([bytes[8], bytes[9]]);
    let sign = if se & 0x8000 != 0 { -1.0 } else { 1.0 };
    let e = (se & 0x7fff) as i32;
    // What the FPU loads for an encoding it rejects (pseudo-infinities, pseudo-NaNs,
    // unnormals: an explicit integer bit that contradicts the exponent): the negative quiet
    // "indefinite" NaN. A C cast (and CPython's ctypes) goes through the FPU, so ferrotypes
    // gives the same (found by fuzz/python/convert_fuzz.py: a pseudo-infinity read as inf).
    const INDEFINITE: u64 = 0xfff8_0000_0000_0000;
    let integer_bit = mant >> 63 != 0;
    if e == 0x7fff {
        if !integer_bit {
            return f64::from_bits(INDEFINITE);
        }
        if mant << 1 == 0 {
            return sign * f64::INFINITY;
        }
        // A NaN keeps its sign and the top of its payload, and comes out quiet.
        let payload = (mant >> 11) & ((1u64 << 52) - 1);
        return f64::from_bits(u64::from(se >> 15) << 63 | 0x7ff << 52 | 1 << 51 | payload);
    }
    if e != 0 && !integer_bit {
        return f64::from_bits(INDEFINITE);
    }
    if mant == 0 {
        return sign * 0.0;
    }
    // value = mant * 2^(e - 16383 - 63); let the FPU-free path round via integer ops.
    let lz = mant.leading_zeros() as i32;
    let m = mant << lz; // normalised: top bit set
    let exp2 = e - 16383 - lz; // value = 1.xxx * 2^exp2
    let unbiased = exp2 + 1023;
    let (keep_bits, biased) = if unbiased >= 1 { (53, unbiased) } else { (53 + unbiased - 1, 0) };
    if unbiased >= 0x7ff {
        return sign * f64::INFINITY;
    }
    if keep_bits <= 0 {
        // Below half the smallest subnormal (or exactly it: round to even gives 0 unless above).
        if keep_bits == 0 && m > (1u64 << 63) {
            return sign * f64::from_bits(1);
        }
        return sign * 0.0;
    }
    let drop = 64 - keep_bits as u32;
    let mut kept = m >> drop;
    let rem = m & ((1u64 << drop) - 1);
    let half = 1u64 << (drop - 1);
    if rem > half || (rem == half && kept & 1 == 1) {
        kept += 1;
    }
    let bits = if biased == 0 {
        // Subnormal result (rounding may carry into the smallest normal: the bit layout
        // handles that by itself).
        kept
    } else {
        let mut b = biased as u64;
        if kept >> 53 != 0 {
            kept >>= 1;
            b += 1;
            if b >= 0x7ff {
                return sign * f64::INFINITY;
            }
        }
        (b << 52) | (kept & ((1u64 << 52) - 1))
    };
    sign * f64::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_unique_codes_and_sane_sizes() {
        for (i, k) in SIMPLE_KINDS.iter().enumerate() {
            let known = SIMPLE_TYPE_CHARS.as_bytes().contains(&k.code) || COMPLEX_CODES.contains(&k.code)
                || INLINE_STRING_CODES.contains(&k.code);
            assert!(known, "{}", k.code as char);
            assert!(k.size.is_power_of_two() && k.align <= k.size);
            assert!(SIMPLE_KINDS[i + 1..].iter().all(|o| o.code != k.code));
            // SAFETY: the pointer is to a static libffi type descriptor.
            let ffi_size = unsafe { (*k.ffi_type()).size };
            assert_eq!(ffi_size, k.size, "ffi size of {}", k.code as char);
        }
        assert!(SimpleKind::from_code(b'X').is_none());
        assert_eq!(SimpleKind::from_code(b'l').unwrap().format, "q");
    }

    #[test]
    fn long_double_round_trips_doubles() {
        for v in [0.0, -0.0, 1.0, -2.5, 1e300, -1e-300, 5e-324, f64::MAX, f64::MIN_POSITIVE, f64::INFINITY, f64::NEG_INFINITY, 0.1, 1.0 / 3.0] {
            let back = x87_to_f64(&f64_to_x87(v));
            assert_eq!(back.to_bits(), v.to_bits(), "{v}");
        }
        assert!(x87_to_f64(&f64_to_x87(f64::NAN)).is_nan());
    }

    #[test]
    fn long_double_matches_known_encoding() {
        // 1.0L is 0x3fff 8000000000000000.
        let one = f64_to_x87(1.0);
        assert_eq!(&one[..10], &[0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
        // 2^-16382 is far below the double range and rounds to zero.
        let mut tiny = [0u8; 16];
        tiny[7] = 0x80;
        let e: u16 = 1;
        tiny[8..10].copy_from_slice(&e.to_le_bytes());
        assert_eq!(x87_to_f64(&tiny), 0.0);
        // 1 + 2^-60 rounds to 1.0 (ties and below-half drop).
        let mut near_one = one;
        near_one[0] = 0x08;
        assert_eq!(x87_to_f64(&near_one), 1.0);
    }

    #[test]
    fn long_double_encodings_the_fpu_rejects_load_as_the_indefinite_nan() {
        let x87 = |mant: u64, se: u16| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&mant.to_le_bytes());
            b[8..10].copy_from_slice(&se.to_le_bytes());
            x87_to_f64(&b).to_bits()
        };
        // Pseudo-infinity, pseudo-NaN, unnormal: as `fldt` loads them.
        assert_eq!(x87(0, 0x7fff), 0xfff8_0000_0000_0000);
        assert_eq!(x87(1 << 40, 0xffff), 0xfff8_0000_0000_0000);
        assert_eq!(x87(1 << 62, 0x3fff), 0xfff8_0000_0000_0000);
        // Real infinities and NaNs: sign and payload top kept, made quiet.
        assert_eq!(x87(1 << 63, 0xffff), f64::NEG_INFINITY.to_bits());
        assert_eq!(x87(1 << 63 | 1 << 40, 0xffff), 0xfff8_0000_2000_0000);
        assert_eq!(x87(0xc000_0000_0000_0000, 0x7fff), 0x7ff8_0000_0000_0000);
    }
}

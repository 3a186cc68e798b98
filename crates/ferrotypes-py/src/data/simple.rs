//! `_SimpleCData` and the scalar converters (CPython's `cfield.c` setfunc/getfunc table).
//!
//! `get_value`/`set_value` turn C bytes of one scalar kind into a Python object and back.
//! They are shared by `.value`, structure fields, array items, pointer indexing, argument
//! conversion and result conversion. `set_value` returns the object that must be kept alive
//! while C may read the memory (the `bytes` behind a `char *`, for instance).
use super::cdata::{self, CData};
use super::stginfo::stginfo_of_instance;
use crate::checked;
use crate::interp::names::{fully_qualified_type_name, type_name};
use ferrotypes_core::simple::{f64_to_x87, x87_to_f64, SimpleKind, ValueClass};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString, PyTuple};

/// Codes whose byte-swapped twin exists (`__ctype_be__` on a little-endian machine).
pub fn swappable(code: u8) -> bool {
    b"hHiIlLqQfdFD".contains(&code)
}

/// A complex number as C's `_Complex` of the kind's size: each part stored as its real
/// type (`float`, `double`, x87 `long double`), a swapped type's parts each byte-swapped.
///
/// # Safety
/// `ptr` must be writable for `size` bytes (8, 16 or 32).
unsafe fn write_complex(size: usize, swapped: bool, ptr: *mut u8, re: f64, im: f64) {
    // SAFETY: the parts lie within the `size` bytes at `ptr` (contract).
    unsafe {
        match size {
            8 => {
                write::<4>(ptr, (re as f32).to_ne_bytes(), swapped);
                write::<4>(ptr.add(4), (im as f32).to_ne_bytes(), swapped);
            }
            16 => {
                write::<8>(ptr, re.to_ne_bytes(), swapped);
                write::<8>(ptr.add(8), im.to_ne_bytes(), swapped);
            }
            _ => {
                write::<16>(ptr, f64_to_x87(re), false);
                write::<16>(ptr.add(16), f64_to_x87(im), false);
            }
        }
    }
}

/// The parts of a C `_Complex` written by [`write_complex`].
///
/// # Safety
/// `ptr` must be readable for `size` bytes (8, 16 or 32).
unsafe fn read_complex(size: usize, swapped: bool, ptr: *const u8) -> (f64, f64) {
    // SAFETY: the parts lie within the `size` bytes at `ptr` (contract).
    unsafe {
        match size {
            8 => (f32::from_ne_bytes(read::<4>(ptr, swapped)) as f64, f32::from_ne_bytes(read::<4>(ptr.add(4), swapped)) as f64),
            16 => (f64::from_ne_bytes(read::<8>(ptr, swapped)), f64::from_ne_bytes(read::<8>(ptr.add(8), swapped))),
            _ => (x87_to_f64(&read::<16>(ptr, false)), x87_to_f64(&read::<16>(ptr.add(16), false))),
        }
    }
}

#[inline]
unsafe fn read<const N: usize>(ptr: *const u8, swapped: bool) -> [u8; N] {
    // SAFETY: the caller guarantees `ptr` is readable for N bytes (alignment not required).
    let mut b: [u8; N] = unsafe { std::ptr::read_unaligned(ptr as *const [u8; N]) };
    if swapped {
        b.reverse();
    }
    b
}

#[inline]
unsafe fn write<const N: usize>(ptr: *mut u8, mut b: [u8; N], swapped: bool) {
    if swapped {
        b.reverse();
    }
    // SAFETY: the caller guarantees `ptr` is writable for N bytes (alignment not required).
    unsafe { std::ptr::write_unaligned(ptr as *mut [u8; N], b) }
}

/// Reads an integer kind's bytes as i128 (sign- or zero-extended).
///
/// # Safety
/// `ptr` must be readable for `kind.size` bytes.
pub unsafe fn read_int(kind: &SimpleKind, swapped: bool, ptr: *const u8) -> i128 {
    let signed = matches!(kind.class, ValueClass::Signed | ValueClass::Char | ValueClass::WChar | ValueClass::VariantBool);
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match (kind.size, signed) {
            (1, true) => i8::from_ne_bytes(read::<1>(ptr, swapped)) as i128,
            (1, false) => u8::from_ne_bytes(read::<1>(ptr, swapped)) as i128,
            (2, true) => i16::from_ne_bytes(read::<2>(ptr, swapped)) as i128,
            (2, false) => u16::from_ne_bytes(read::<2>(ptr, swapped)) as i128,
            (4, true) => i32::from_ne_bytes(read::<4>(ptr, swapped)) as i128,
            (4, false) => u32::from_ne_bytes(read::<4>(ptr, swapped)) as i128,
            (_, true) => i64::from_ne_bytes(read::<8>(ptr, swapped)) as i128,
            (_, false) => u64::from_ne_bytes(read::<8>(ptr, swapped)) as i128,
        }
    }
}

/// Writes the low `kind.size` bytes of `v`.
///
/// # Safety
/// `ptr` must be writable for `kind.size` bytes.
pub unsafe fn write_int(kind: &SimpleKind, swapped: bool, ptr: *mut u8, v: u64) {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        match kind.size {
            1 => write::<1>(ptr, (v as u8).to_ne_bytes(), swapped),
            2 => write::<2>(ptr, (v as u16).to_ne_bytes(), swapped),
            4 => write::<4>(ptr, (v as u32).to_ne_bytes(), swapped),
            _ => write::<8>(ptr, v.to_ne_bytes(), swapped),
        }
    }
}

// --- Raw accessors: the getfunc/setfunc pair of one native scalar kind ------------------
//
// For the hand-written slots (a field's `tp_descr_get`/`tp_descr_set`): one function per
// C type, on raw pointers, no `PyResult` and no `Py<T>` (see `interp::raw_slot`). They
// give the same results as `get_value`/`set_value` for the values they take.

/// Reads the member at the pointer into a new object; NULL with an exception set if the
/// object cannot be made. The accessors are `extern "C"` (none can unwind: they call only
/// the C API and cannot panic), so that the descriptor slots, C functions themselves, call
/// them in tail position, without an abort guard around the call.
pub type RawGet = unsafe extern "C" fn(*const u8) -> *mut ffi::PyObject;
/// Stores an object into the member at the pointer: 0 done, -1 with an exception set, or
/// [`RAW_DECLINED`] when the value is not one this setter takes (not an exact `int`, or
/// for floating kinds an exact `int` or `float`): the caller then takes the general path.
pub type RawSet = unsafe extern "C" fn(*mut u8, *mut ffi::PyObject) -> std::ffi::c_int;
pub const RAW_DECLINED: std::ffi::c_int = 1;

macro_rules! raw_int_accessors {
    ($get:ident, $set:ident, $t:ty, $from:ident, $wide:ty) => {
        /// # Safety
        /// The pointer is readable for the type's size; the GIL is held.
        unsafe extern "C" fn $get(p: *const u8) -> *mut ffi::PyObject {
            // SAFETY: contract; unaligned reads serve packed structures.
            unsafe { ffi::$from(std::ptr::read_unaligned(p as *const $t) as $wide) }
        }
        /// # Safety
        /// The pointer is writable for the type's size; `v` is live; the GIL is held.
        unsafe extern "C" fn $set(p: *mut u8, v: *mut ffi::PyObject) -> std::ffi::c_int {
            // SAFETY: `v` is live (contract); an exact int masks without calling Python code
            // and without failing; the write is within the member (contract).
            unsafe {
                if ffi::PyLong_CheckExact(v) == 0 {
                    return RAW_DECLINED;
                }
                let x = match crate::interp::long_layout::compact_value(v) {
                    Some(small) => small as u64,
                    None => {
                        let x = ffi::PyLong_AsUnsignedLongLongMask(v);
                        if x == u64::MAX && !ffi::PyErr_Occurred().is_null() {
                            return -1;
                        }
                        x
                    }
                };
                std::ptr::write_unaligned(p as *mut $t, x as $t);
            }
            0
        }
    };
}

raw_int_accessors!(get_i8, set_i8, i8, PyLong_FromLong, std::ffi::c_long);
raw_int_accessors!(get_u8, set_u8, u8, PyLong_FromLong, std::ffi::c_long);
raw_int_accessors!(get_i16, set_i16, i16, PyLong_FromLong, std::ffi::c_long);
raw_int_accessors!(get_u16, set_u16, u16, PyLong_FromLong, std::ffi::c_long);
raw_int_accessors!(get_i32, set_i32, i32, PyLong_FromLong, std::ffi::c_long);
raw_int_accessors!(get_u32, set_u32, u32, PyLong_FromUnsignedLong, std::ffi::c_ulong);
raw_int_accessors!(get_i64, set_i64, i64, PyLong_FromLongLong, std::ffi::c_longlong);
raw_int_accessors!(get_u64, set_u64, u64, PyLong_FromUnsignedLongLong, std::ffi::c_ulonglong);

/// A float or int as a double: exact floats read directly, exact ints converted
/// (OverflowError for huge ones); anything else is declined (`None`).
///
/// # Safety
/// `v` is live; the GIL is held.
#[inline]
unsafe fn raw_double(v: *mut ffi::PyObject) -> Option<f64> {
    // SAFETY: `v` is live (contract); exact types' conversions run no Python code.
    unsafe {
        if ffi::PyFloat_CheckExact(v) != 0 {
            Some(ffi::PyFloat_AS_DOUBLE(v))
        } else if ffi::PyLong_CheckExact(v) != 0 {
            Some(ffi::PyLong_AsDouble(v))
        } else {
            None
        }
    }
}

/// # Safety
/// `p` is readable for 8 bytes; the GIL is held.
unsafe extern "C" fn get_f64(p: *const u8) -> *mut ffi::PyObject {
    // SAFETY: contract.
    unsafe { ffi::PyFloat_FromDouble(std::ptr::read_unaligned(p as *const f64)) }
}

/// # Safety
/// `p` is writable for 8 bytes; `v` is live; the GIL is held.
unsafe extern "C" fn set_f64(p: *mut u8, v: *mut ffi::PyObject) -> std::ffi::c_int {
    // SAFETY: contract (see `raw_double`).
    unsafe {
        let Some(x) = raw_double(v) else { return RAW_DECLINED };
        if x == -1.0 && !ffi::PyErr_Occurred().is_null() {
            return -1;
        }
        std::ptr::write_unaligned(p as *mut f64, x);
    }
    0
}

/// # Safety
/// `p` is readable for 4 bytes; the GIL is held.
unsafe extern "C" fn get_f32(p: *const u8) -> *mut ffi::PyObject {
    // SAFETY: contract.
    unsafe { ffi::PyFloat_FromDouble(f64::from(std::ptr::read_unaligned(p as *const f32))) }
}

/// # Safety
/// `p` is writable for 4 bytes; `v` is live; the GIL is held.
unsafe extern "C" fn set_f32(p: *mut u8, v: *mut ffi::PyObject) -> std::ffi::c_int {
    // SAFETY: contract (see `raw_double`).
    unsafe {
        let Some(x) = raw_double(v) else { return RAW_DECLINED };
        if x == -1.0 && !ffi::PyErr_Occurred().is_null() {
            return -1;
        }
        std::ptr::write_unaligned(p as *mut f32, x as f32);
    }
    0
}

/// # Safety
/// `p` is readable for 1 byte; the GIL is held.
unsafe extern "C" fn get_bool(p: *const u8) -> *mut ffi::PyObject {
    // SAFETY: contract.
    unsafe { ffi::PyBool_FromLong(std::ffi::c_long::from(*p != 0)) }
}

/// # Safety
/// `p` is writable for 1 byte; `v` is live; the GIL is held.
unsafe extern "C" fn set_bool(p: *mut u8, v: *mut ffi::PyObject) -> std::ffi::c_int {
    // SAFETY: `v` is live (contract); the truth of an exact int or bool runs no Python code.
    unsafe {
        if ffi::PyLong_CheckExact(v) == 0 && ffi::PyBool_Check(v) == 0 {
            return RAW_DECLINED;
        }
        let t = ffi::PyObject_IsTrue(v);
        if t < 0 {
            return -1;
        }
        *p = u8::from(t != 0);
    }
    0
}

/// The raw getter and setter of a scalar kind in native byte order, for the kinds whose
/// values are plain numbers (integers, `float`/`double`, `_Bool`); `None` for the others
/// and for byte-swapped members.
#[inline]
pub fn raw_accessors(kind: &SimpleKind, swapped: bool) -> Option<(RawGet, RawSet)> {
    if swapped {
        return None;
    }
    let pair: (RawGet, RawSet) = match (kind.class, kind.size) {
        (ValueClass::Signed, 1) => (get_i8, set_i8),
        (ValueClass::Unsigned, 1) => (get_u8, set_u8),
        (ValueClass::Signed, 2) => (get_i16, set_i16),
        (ValueClass::Unsigned, 2) => (get_u16, set_u16),
        (ValueClass::Signed, 4) => (get_i32, set_i32),
        (ValueClass::Unsigned, 4) => (get_u32, set_u32),
        (ValueClass::Signed, 8) => (get_i64, set_i64),
        (ValueClass::Unsigned, 8) => (get_u64, set_u64),
        (ValueClass::Float, 8) => (get_f64, set_f64),
        (ValueClass::Float, 4) => (get_f32, set_f32),
        (ValueClass::Bool, 1) => (get_bool, set_bool),
        _ => return None,
    };
    Some(pair)
}

/// An integer masked to 64 bits as `PyLong_AsUnsignedLongLongMask` does (calling
/// `__index__`, raising TypeError for floats and other non-integers).
pub fn int_mask(value: &Bound<'_, PyAny>) -> PyResult<u64> {
    // SAFETY: `value` is a valid object; the function returns (unsigned long long)-1 with an
    // exception set on failure, which we check.
    let v = unsafe { ffi::PyLong_AsUnsignedLongLongMask(value.as_ptr()) };
    if v == u64::MAX {
        if let Some(err) = PyErr::take(value.py()) {
            return Err(err);
        }
    }
    Ok(v)
}

fn float_of(value: &Bound<'_, PyAny>) -> PyResult<f64> {
    // SAFETY: `value` is a valid object; -1.0 with an exception set signals failure.
    let v = unsafe { ffi::PyFloat_AsDouble(value.as_ptr()) };
    if v == -1.0 {
        if let Some(err) = PyErr::take(value.py()) {
            return Err(err);
        }
    }
    Ok(v)
}

/// Pointer-sized integer from a Python int, masked (CPython's `PyLong_AsVoidPtr` use).
fn address_of_int(value: &Bound<'_, PyAny>) -> PyResult<usize> {
    Ok(int_mask(value)? as usize)
}

/// Builds the NUL-terminated `wchar_t` copy of a str; the returned bytes object owns it.
pub fn wchar_buffer<'py>(s: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyBytes>> {
    let units = code_points(s)?;
    let mut bytes: Vec<u8> = Vec::with_capacity((units.len() + 1) * WCHAR_SIZE);
    for u in units.iter().chain(std::iter::once(&0)) {
        bytes.extend_from_slice(&(*u as libc::wchar_t).to_ne_bytes());
    }
    Ok(PyBytes::new(s.py(), &bytes))
}

const WCHAR_SIZE: usize = std::mem::size_of::<libc::wchar_t>();

/// The code points of a str, lone surrogates included (they are valid `wchar_t` values on
/// Linux, where `wchar_t` is UTF-32; a UTF-8 view of the str would reject them).
pub fn code_points(s: &Bound<'_, PyString>) -> PyResult<Vec<u32>> {
    // SAFETY: `s` is a str; PyUnicode_AsUCS4Copy returns a PyMem buffer of len+1 code points
    // (NUL-terminated) or NULL with an exception set; we copy it out and free it.
    unsafe {
        let n = ffi::PyUnicode_GetLength(s.as_ptr());
        if n < 0 {
            return Err(PyErr::fetch(s.py()));
        }
        let buf = ffi::PyUnicode_AsUCS4Copy(s.as_ptr());
        if buf.is_null() {
            return Err(PyErr::fetch(s.py()));
        }
        let out = std::slice::from_raw_parts(buf, n as usize).to_vec();
        ffi::PyMem_Free(buf.cast());
        Ok(out)
    }
}

/// A str from `len` wide characters at `p`.
///
/// # Safety
/// `p` must be readable for `len` `wchar_t`s.
pub unsafe fn str_from_wchars(py: Python<'_>, p: *const libc::wchar_t, len: usize) -> PyResult<Py<PyAny>> {
    // SAFETY: forwarded from this function's contract; the result is a new reference or NULL
    // with an exception set.
    unsafe {
        let o = ffi::PyUnicode_FromWideChar(p, len as isize);
        Bound::from_owned_ptr_or_err(py, o).map(Bound::unbind)
    }
}

/// Stores `value` as a C scalar of `kind` at `ptr`. Returns what must be kept alive.
///
/// The byte a `c_char` is set from: one-byte bytes or bytearray, or an int in range(256).
/// Up to 3.13 every refusal says "one character bytes, bytearray or integer expected"; from
/// 3.14 the message says what was given.
fn char_byte(value: &Bound<'_, PyAny>) -> PyResult<u8> {
    let py = value.py();
    let detailed = crate::interp::version::behaves_as(py, 14);
    let expected = "one character bytes, bytearray, or an integer in range(256) expected";
    let wrong = |what: String| {
        PyTypeError::new_err(if detailed { format!("{expected}, not {what}") } else { "one character bytes, bytearray or integer expected".to_owned() })
    };
    if let Ok(b) = value.cast::<PyBytes>() {
        return match b.as_bytes() {
            [byte] => Ok(*byte),
            other => Err(wrong(format!("bytes of length {}", other.len()))),
        };
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        // SAFETY: the bytearray is only read here, with no Python code running.
        return match unsafe { b.as_bytes() } {
            [byte] => Ok(*byte),
            other => Err(wrong(format!("bytearray of length {}", other.len()))),
        };
    }
    if value.is_instance_of::<pyo3::types::PyInt>() {
        return match value.extract::<i64>() {
            Ok(v) if (0..256).contains(&v) => Ok(v as u8),
            _ if detailed => Err(PyTypeError::new_err("integer not in range(256)")),
            _ => Err(wrong(String::new())),
        };
    }
    Err(wrong(fully_qualified_type_name(value)))
}

/// # Safety
/// `ptr` must be writable for `kind.size` bytes.
pub unsafe fn set_value(
    kind: &SimpleKind,
    swapped: bool,
    ptr: *mut u8,
    value: &Bound<'_, PyAny>,
) -> PyResult<Option<Py<PyAny>>> {
    let py = value.py();
    // SAFETY (for every write below): `ptr` is writable for `kind.size` bytes per contract.
    match kind.class {
        ValueClass::Signed | ValueClass::Unsigned => {
            let v = int_mask(value)?;
            // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
            unsafe { write_int(kind, swapped, ptr, v) };
            Ok(None)
        }
        ValueClass::Bool => {
            let b = value.is_truthy()?;
            // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
            unsafe { *ptr = b as u8 };
            Ok(None)
        }
        ValueClass::VariantBool => {
            let b = value.is_truthy()?;
            // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
            unsafe { write_int(kind, swapped, ptr, if b { u64::MAX } else { 0 }) };
            Ok(None)
        }
        ValueClass::Float => {
            let v = float_of(value)?;
            match kind.size {
                // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
                4 => unsafe { write::<4>(ptr, (v as f32).to_ne_bytes(), swapped) },
                // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
                _ => unsafe { write::<8>(ptr, v.to_ne_bytes(), swapped) },
            }
            Ok(None)
        }
        ValueClass::LongDouble => {
            let v = float_of(value)?;
            // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
            unsafe { write::<16>(ptr, f64_to_x87(v), false) };
            Ok(None)
        }
        ValueClass::Char => {
            let byte = char_byte(value)?;
            // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
            unsafe { *ptr = byte };
            Ok(None)
        }
        ValueClass::Complex => {
            // What `complex(value)` would give, as CPython's PyComplex_AsCComplex: a complex
            // (subclasses too) as it is, else `__complex__`, else a real number.
            // SAFETY: `value` is a live object; an exception is set when the result is -1.
            let c = unsafe { ffi::PyComplex_AsCComplex(value.as_ptr()) };
            if c.real == -1.0 {
                if let Some(err) = PyErr::take(py) {
                    return Err(err);
                }
            }
            // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
            unsafe { write_complex(kind.size, swapped, ptr, c.real, c.imag) };
            Ok(None)
        }
        ValueClass::WChar => {
            let detailed = crate::interp::version::behaves_as(py, 14);
            let s = value.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(if detailed {
                    format!("a unicode character expected, not instance of {}", fully_qualified_type_name(value))
                } else {
                    format!("unicode string expected instead of {} instance", type_name(value))
                })
            })?;
            let units = code_points(s)?;
            let [ch] = units[..] else {
                return Err(PyTypeError::new_err(if detailed {
                    format!("a unicode character expected, not a string of length {}", s.len()?)
                } else {
                    "one character unicode string expected".to_owned()
                }));
            };
            // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
            unsafe { write_int(kind, swapped, ptr, ch as u64) };
            Ok(None)
        }
        ValueClass::InlineBytes => {
            let b = value.cast::<PyBytes>().map_err(|_| {
                PyTypeError::new_err(format!("expected bytes, {} found", type_name(value)))
            })?;
            // As CPython's: up to the first NUL, which is copied too when there is room.
            let data = b.as_bytes();
            let len = data.iter().position(|&c| c == 0).unwrap_or(data.len());
            if len > kind.size {
                return Err(PyValueError::new_err(format!("bytes too long ({len}, maximum length {})", kind.size)));
            }
            let n = if len < kind.size { len + 1 } else { len };
            let mut padded = data[..len].to_vec();
            padded.push(0);
            // SAFETY: `n <= kind.size` bytes of `ptr` are writable (this function's contract).
            unsafe { std::ptr::copy_nonoverlapping(padded.as_ptr(), ptr, n) };
            Ok(None)
        }
        ValueClass::InlineWide => {
            let s = value.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!("unicode string expected instead of {} instance", type_name(value)))
            })?;
            let units = code_points(s)?;
            let room = kind.size / WCHAR_SIZE;
            if units.len() > room {
                return Err(PyValueError::new_err(format!("string too long ({}, maximum length {room})", units.len())));
            }
            let mut wide: Vec<u8> = Vec::with_capacity(kind.size);
            for u in units.iter().chain(std::iter::once(&0)).take(room) {
                wide.extend_from_slice(&(*u as libc::wchar_t).to_ne_bytes());
            }
            // SAFETY: `wide.len() <= kind.size` bytes of `ptr` are writable (this function's
            // contract).
            unsafe { std::ptr::copy_nonoverlapping(wide.as_ptr(), ptr, wide.len()) };
            Ok(None)
        }
        ValueClass::Pointer => match kind.code {
            b'z' => {
                if value.is_none() {
                    // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
                    unsafe { write_ptr(ptr, 0) };
                    Ok(None)
                } else if let Ok(b) = value.cast::<PyBytes>() {
                    // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
                    unsafe { write_ptr(ptr, b.as_bytes().as_ptr() as usize) };
                    Ok(Some(value.clone().unbind()))
                } else if value.is_instance_of::<pyo3::types::PyInt>() {
                    // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
                    unsafe { write_ptr(ptr, address_of_int(value)?) };
                    Ok(None)
                } else {
                    Err(PyTypeError::new_err(format!(
                        "bytes or integer address expected instead of {} instance",
                        type_name(value)
                    )))
                }
            }
            b'Z' => {
                if value.is_none() {
                    // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
                    unsafe { write_ptr(ptr, 0) };
                    Ok(None)
                } else if value.is_instance_of::<pyo3::types::PyInt>() {
                    // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
                    unsafe { write_ptr(ptr, address_of_int(value)?) };
                    Ok(None)
                } else if let Ok(s) = value.cast::<PyString>() {
                    let buf = wchar_buffer(s)?;
                    // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
                    unsafe { write_ptr(ptr, buf.as_bytes().as_ptr() as usize) };
                    Ok(Some(buf.into_any().unbind()))
                } else {
                    Err(PyTypeError::new_err(format!(
                        "unicode string or integer address expected instead of {} instance",
                        type_name(value)
                    )))
                }
            }
            b'P' => {
                if value.is_none() {
                    // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
                    unsafe { write_ptr(ptr, 0) };
                } else if value.is_instance_of::<pyo3::types::PyInt>() {
                    // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
                    unsafe { write_ptr(ptr, address_of_int(value)?) };
                } else {
                    return Err(PyTypeError::new_err("cannot be converted to pointer"));
                }
                Ok(None)
            }
            _ => {
                // 'O': the object itself; `_objects` keeps it alive.
                // SAFETY: `ptr` is writable for `kind.size` bytes (this function's contract).
                unsafe { write_ptr(ptr, value.as_ptr() as usize) };
                let _ = py;
                Ok(Some(value.clone().unbind()))
            }
        },
    }
}

/// # Safety
/// `ptr` must be writable for a pointer.
pub unsafe fn write_ptr(ptr: *mut u8, v: usize) {
    // SAFETY: per contract.
    unsafe { std::ptr::write_unaligned(ptr as *mut usize, v) }
}

/// # Safety
/// `ptr` must be readable for a pointer.
pub unsafe fn read_ptr(ptr: *const u8) -> usize {
    // SAFETY: per contract.
    unsafe { std::ptr::read_unaligned(ptr as *const usize) }
}

/// Reads the C scalar of `kind` at `ptr` as a Python object.
///
/// # Safety
/// `ptr` must be readable for `kind.size` bytes; for `z`/`Z` kinds the stored pointer must be
/// NULL or point to a NUL-terminated string; for `O` it must be NULL or a live object.
pub unsafe fn get_value(py: Python<'_>, kind: &SimpleKind, swapped: bool, ptr: *const u8) -> PyResult<Py<PyAny>> {
    // SAFETY: every read below is of `ptr` per this function's contract.
    unsafe {
        Ok(match kind.class {
            // Through 64-bit integers (PyLong_FromLongLong and friends), not i128: faster,
            // and 3.11's _PyLong_FromByteArray reads uninitialised digits (valgrind noise).
            ValueClass::Signed => (read_int(kind, swapped, ptr) as i64).into_pyobject(py)?.into_any().unbind(),
            ValueClass::Unsigned => (read_int(kind, swapped, ptr) as u64).into_pyobject(py)?.into_any().unbind(),
            ValueClass::Bool => (*ptr != 0).into_pyobject(py)?.to_owned().into_any().unbind(),
            ValueClass::VariantBool => (read_int(kind, swapped, ptr) != 0).into_pyobject(py)?.to_owned().into_any().unbind(),
            ValueClass::Float => match kind.size {
                4 => (f32::from_ne_bytes(read::<4>(ptr, swapped)) as f64).into_pyobject(py)?.into_any().unbind(),
                _ => f64::from_ne_bytes(read::<8>(ptr, swapped)).into_pyobject(py)?.into_any().unbind(),
            },
            ValueClass::LongDouble => x87_to_f64(&read::<16>(ptr, false)).into_pyobject(py)?.into_any().unbind(),
            ValueClass::Complex => {
                let (re, im) = read_complex(kind.size, swapped, ptr);
                Bound::from_owned_ptr_or_err(py, ffi::PyComplex_FromDoubles(re, im))?.unbind()
            }
            ValueClass::Char => PyBytes::new(py, &[*ptr]).into_any().unbind(),
            ValueClass::InlineBytes => {
                let all = std::slice::from_raw_parts(ptr, kind.size);
                let len = all.iter().position(|&c| c == 0).unwrap_or(kind.size);
                PyBytes::new(py, &all[..len]).into_any().unbind()
            }
            ValueClass::InlineWide => {
                let room = kind.size / WCHAR_SIZE;
                let w = ptr as *const libc::wchar_t;
                let len = (0..room).find(|&i| std::ptr::read_unaligned(w.add(i)) == 0).unwrap_or(room);
                let units: Vec<libc::wchar_t> = (0..len).map(|i| std::ptr::read_unaligned(w.add(i))).collect();
                str_from_wchars(py, units.as_ptr(), len)?
            }
            ValueClass::WChar => {
                let c = read_int(kind, swapped, ptr) as libc::wchar_t;
                str_from_wchars(py, &c, 1)?
            }
            ValueClass::Pointer => {
                let p = read_ptr(ptr);
                match kind.code {
                    b'z' if p == 0 => py.None(),
                    b'z' => {
                        let n = if checked::enabled() { checked::string_len(p, 1)? } else { ferrotypes_core::memory::strlen(p as *const u8) };
                        PyBytes::new(py, std::slice::from_raw_parts(p as *const u8, n)).into_any().unbind()
                    }
                    b'Z' if p == 0 => py.None(),
                    b'Z' => {
                        let w = p as *const libc::wchar_t;
                        let n = if checked::enabled() { checked::string_len(p, WCHAR_SIZE)? } else { ferrotypes_core::memory::wcslen(w) };
                        str_from_wchars(py, w, n)?
                    }
                    b'P' if p == 0 => py.None(),
                    b'P' => p.into_pyobject(py)?.into_any().unbind(),
                    _ => {
                        if p == 0 {
                            return Err(PyValueError::new_err("PyObject is NULL"));
                        }
                        Bound::from_borrowed_ptr(py, p as *mut ffi::PyObject).unbind()
                    }
                }
            }
        })
    }
}

/// The `_SimpleCData` root: instances hold one scalar.
#[pyclass(extends = CData, subclass, frozen, module = "_ctypes", name = "_SimpleCData")]
pub struct SimpleCData;

/// The scalar kind of a simple instance (from its type's storage info).
pub fn simple_kind_of(obj: &Bound<'_, PyAny>) -> PyResult<(&'static SimpleKind, bool)> {
    stginfo_of_instance(obj)
        .and_then(|i| i.get().simple_kind())
        .ok_or_else(|| PyTypeError::new_err("abstract class"))
}

impl SimpleCData {
    /// Creates the Rust side of an instance of `cls` (no value set).
    pub fn initializer(cls: &Bound<'_, pyo3::types::PyType>) -> PyResult<PyClassInitializer<SimpleCData>> {
        let cdata = CData::for_new_instance(cls, |i| match i.simple_kind() {
            Some(_) => Ok(()),
            None => Err(PyTypeError::new_err("abstract class")),
        })?;
        Ok(PyClassInitializer::from(cdata).add_subclass(SimpleCData))
    }
}

/// Sets the value of a simple instance, recording what must stay alive.
pub fn set_simple_value(slf: &Bound<'_, CData>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let (kind, swapped) = simple_kind_of(slf.as_any())?;
    // SAFETY: the instance's memory holds at least one value of its kind.
    let keep = unsafe { set_value(kind, swapped, slf.get().ptr(), value)? };
    cdata::keep_ref(slf, 0, keep)
}

/// Reads the value of a simple instance.
pub fn get_simple_value(slf: &Bound<'_, CData>) -> PyResult<Py<PyAny>> {
    let (kind, swapped) = simple_kind_of(slf.as_any())?;
    // SAFETY: the instance's memory holds one value of its kind, stored by `set_value` or
    // by C code that owns the pointer semantics.
    unsafe { get_value(slf.py(), kind, swapped, slf.get().ptr()) }
}

/// True when `cls` derives from a simple type other than directly from `_SimpleCData`
/// (CPython's `_ctypes_simple_instance` negated): such results stay instances.
pub fn is_simple_subclass(cls: &Bound<'_, PyAny>) -> bool {
    let Ok(t) = cls.cast::<pyo3::types::PyType>() else { return false };
    // SAFETY: reading tp_base of a live type object.
    let base = unsafe { (*t.as_type_ptr()).tp_base };
    let root = super::roots::simple_root(cls.py());
    !base.is_null() && base != root
}

#[pymethods]
impl SimpleCData {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn __new__(
        cls: &Bound<'_, pyo3::types::PyType>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<PyClassInitializer<SimpleCData>> {
        SimpleCData::initializer(cls)
    }

    #[pyo3(signature = (*args, **_kwargs))]
    fn __init__(slf: &Bound<'_, Self>, args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>) -> PyResult<()> {
        match args.len() {
            0 => Ok(()),
            1 => set_simple_value(slf.as_super(), &args.get_item(0)?),
            n => Err(PyTypeError::new_err(format!("__init__ expected at most 1 argument, got {n}"))),
        }
    }

    /// current value
    #[getter]
    fn get_value(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        get_simple_value(slf.as_super())
    }

    #[setter]
    fn set_value(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        set_simple_value(slf.as_super(), value)
    }

    #[deleter]
    fn delete_value(_slf: &Bound<'_, Self>) -> PyResult<()> {
        Err(PyTypeError::new_err("can't delete attribute"))
    }

    fn __bool__(slf: &Bound<'_, Self>) -> bool {
        // SAFETY: reading the instance's own bytes.
        unsafe { slf.as_super().get().bytes() }.iter().any(|&b| b != 0)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let ty = slf.get_type();
        if is_simple_subclass(ty.as_any()) {
            return Ok(format!("<{} object at {:#x}>", ty.name()?, slf.as_ptr() as usize));
        }
        let v = get_simple_value(slf.as_super())?;
        Ok(format!("{}({})", ty.name()?, v.bind(slf.py()).repr()?))
    }

    fn __ctypes_from_outparam__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        if is_simple_subclass(slf.get_type().as_any()) {
            return Ok(slf.clone().into_any().unbind());
        }
        get_simple_value(slf.as_super())
    }
}

/// Whether `_type_` code `code` has a byte-swapped twin (from 3.14 also the one-byte
/// integers and `_Bool`, whose twins read and write the same bytes).
pub fn simple_code_swappable(py: Python<'_>, code: &str) -> bool {
    code.bytes().next().is_some_and(|c| swappable(c) || (crate::interp::version::behaves_as(py, 14) && b"bB?".contains(&c)))
}

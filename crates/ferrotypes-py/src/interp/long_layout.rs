//! Reading a small exact `int` in place: the value of an `int` that fits one digit, without
//! a call into the interpreter (`PyLong_AsUnsignedLongLongMask` is about 30 instructions
//! with the call, this is about 6). Cython reads it the same way.
//!
//! The layout is CPython's, per version:
//! * up to 3.11, `PyVarObject` with the signed digit count in `ob_size`, then the digits;
//! * from 3.12, `lv_tag` after the object header (the sign in its low two bits, the digit
//!   count from bit 3), then the digits: what 3.12's public `PyUnstable_Long_IsCompact`
//!   and `PyUnstable_Long_CompactValue` read (inline functions pyo3-ffi does not bind).
//!
//! Both assume 30-bit digits in 32-bit words, the default of every 64-bit build. [`verify`]
//! checks that on the running interpreter once, at import: ints made by
//! `PyLong_FromLongLong` from a set of values around the digit boundary must read back as
//! those values (and the two-digit ones as not compact); if anything differs,
//! [`compact_value`] always answers `None` and callers take the API path.
use pyo3::ffi;
use std::sync::atomic::{AtomicBool, Ordering};

static LAYOUT_VERIFIED: AtomicBool = AtomicBool::new(false);

/// The value of the exact `int` `obj` if it fits in one digit; `None` for larger values,
/// or when the layout was not verified on this interpreter.
///
/// # Safety
/// `obj` is a live exact `int` (`PyLong_CheckExact`); the GIL is held.
#[inline(always)]
pub unsafe fn compact_value(obj: *mut ffi::PyObject) -> Option<i64> {
    if !LAYOUT_VERIFIED.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: `obj` is an exact int (contract), so it has this version's integer layout, and
    // every int holds at least one digit word (CPython allocates one even for zero).
    unsafe { read_compact(obj) }
}

/// The value of the exact `int` `obj` as an index (`Py_ssize_t`): read in place when it fits
/// one digit, else through `PyLong_AsSsize_t`; `None` (no exception set) when it does not
/// fit, for the caller's general path to raise the right error.
///
/// # Safety
/// As [`compact_value`].
#[inline(always)]
pub unsafe fn exact_index(obj: *mut ffi::PyObject) -> Option<isize> {
    // SAFETY: forwarded from this function's contract.
    if let Some(v) = unsafe { compact_value(obj) } {
        return Some(v as isize);
    }
    // SAFETY: the GIL is held and `obj` is a live int (contract); an overflow's exception
    // is cleared here, so none is left set when `None` is returned.
    unsafe { index_slow(obj) }
}

/// [`exact_index`] for an `int` of more than one digit (or an unverified layout).
///
/// # Safety
/// As [`compact_value`].
#[cold]
#[inline(never)]
unsafe fn index_slow(obj: *mut ffi::PyObject) -> Option<isize> {
    // SAFETY: as the contract says.
    unsafe {
        let i = ffi::PyLong_AsSsize_t(obj);
        if i == -1 && !ffi::PyErr_Occurred().is_null() {
            ffi::PyErr_Clear();
            return None;
        }
        Some(i)
    }
}

/// # Safety
/// As [`compact_value`].
#[inline(always)]
unsafe fn read_compact(obj: *mut ffi::PyObject) -> Option<i64> {
    #[cfg(not(Py_3_12))]
    // SAFETY: contract of `compact_value`: a `PyVarObject` header, then the first digit.
    unsafe {
        let size = (*(obj as *mut ffi::PyVarObject)).ob_size;
        if !(-1..=1).contains(&size) {
            return None;
        }
        let digit = *((obj as *const u8).add(std::mem::size_of::<ffi::PyVarObject>()) as *const u32);
        Some(size as i64 * digit as i64)
    }
    #[cfg(Py_3_12)]
    // SAFETY: contract of `compact_value`: an object header, `lv_tag`, then the first digit.
    unsafe {
        let at = (obj as *const u8).add(std::mem::size_of::<ffi::PyObject>());
        let tag = *(at as *const usize);
        if tag >= (2 << 3) {
            return None;
        }
        let digit = *(at.add(std::mem::size_of::<usize>()) as *const u32);
        Some((1 - (tag & 3) as i64) * digit as i64)
    }
}

/// Checks the layout on ints the interpreter made, once (at import, with the GIL held);
/// enables [`compact_value`] only if every probe reads back right.
pub fn verify(_py: pyo3::Python<'_>) {
    const PROBES: [i64; 12] = [0, 1, -1, 5, -7, 255, 1 << 20, -(1 << 29), (1 << 30) - 1, -((1 << 30) - 1), 1 << 30, 1 << 45];
    let mut ok = true;
    for v in PROBES {
        // SAFETY: the GIL is held (the token); each object is created, read and released here.
        unsafe {
            let obj = ffi::PyLong_FromLongLong(v);
            if obj.is_null() {
                ffi::PyErr_Clear();
                return;
            }
            let read = read_compact(obj);
            let fits = v.unsigned_abs() < (1 << 30);
            ok &= match read {
                Some(r) => fits && r == v,
                None => !fits,
            };
            ffi::Py_DECREF(obj);
        }
    }
    LAYOUT_VERIFIED.store(ok, Ordering::Relaxed);
}

/// Whether the in-place read is in use on this interpreter (`_rs.int_layout_verified()`,
/// for the tests).
#[pyo3::pyfunction]
pub fn int_layout_verified() -> bool {
    LAYOUT_VERIFIED.load(Ordering::Relaxed)
}

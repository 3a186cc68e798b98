//! Checked mode's memory probes: ranges are probed before ctypes reads or writes them.
use ferrotypes_core::guard;
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;

fn not_readable(addr: usize) -> PyErr {
    PyValueError::new_err(format!("address {addr:#018x} is not readable"))
}

fn not_writable(addr: usize) -> PyErr {
    PyValueError::new_err(format!("address {addr:#018x} is not writable"))
}

/// `ValueError` unless all of `[addr, addr + len)` can be read.
#[cold]
#[inline(never)]
pub fn check_readable(addr: usize, len: usize) -> PyResult<()> {
    guard::readable(addr, len).map_err(not_readable)
}

/// `ValueError` unless all of `[addr, addr + len)` can be written.
#[cold]
#[inline(never)]
pub fn check_writable(addr: usize, len: usize) -> PyResult<()> {
    guard::writable(addr, len).map_err(not_writable)
}

/// Length of the NUL-terminated string of `unit`-byte characters at `addr` (1: `char`,
/// else `wchar_t`), probing each page before reading it.
#[cold]
#[inline(never)]
pub fn string_len(addr: usize, unit: usize) -> PyResult<usize> {
    if unit == 1 { guard::strlen(addr) } else { guard::wcslen(addr) }.map_err(not_readable)
}

/// Checked `string_at`: a new bytes object, or NULL with `ValueError` set.
///
/// # Safety
/// Called with the GIL held (from the PYFUNCTYPE entry point).
#[cold]
#[inline(never)]
pub unsafe fn string_at(ptr: *const u8, size: i32) -> *mut ffi::PyObject {
    let len = if size < 0 { guard::strlen(ptr as usize) } else { guard::readable(ptr as usize, size as usize).map(|()| size as usize) };
    // SAFETY: GIL held (contract); the probe vouched for `len` bytes at `ptr`.
    unsafe {
        match len {
            Ok(n) => ffi::PyBytes_FromStringAndSize(ptr.cast(), n as isize),
            Err(bad) => raise(not_readable(bad)),
        }
    }
}

/// Checked `wstring_at`: a new str, or NULL with `ValueError` set.
///
/// # Safety
/// As [`string_at`].
#[cold]
#[inline(never)]
pub unsafe fn wstring_at(ptr: *const libc::wchar_t, size: i32) -> *mut ffi::PyObject {
    let unit = std::mem::size_of::<libc::wchar_t>();
    let len = if size < 0 { guard::wcslen(ptr as usize) } else { guard::readable(ptr as usize, size as usize * unit).map(|()| size as usize) };
    // SAFETY: GIL held (contract); the probe vouched for `len` code units at `ptr`.
    unsafe {
        match len {
            Ok(n) => ffi::PyUnicode_FromWideChar(ptr, n as isize),
            Err(bad) => raise(not_readable(bad)),
        }
    }
}

/// Sets `err` as the current exception and returns NULL.
///
/// # Safety
/// GIL held.
unsafe fn raise(err: PyErr) -> *mut ffi::PyObject {
    // SAFETY: GIL held (contract).
    err.restore(unsafe { Python::assume_attached() });
    std::ptr::null_mut()
}

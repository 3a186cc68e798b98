//! The C functions whose addresses `_ctypes` exports (`_string_at_addr`,
//! `_wstring_at_addr`, `_cast_addr`, from 3.14 `_memoryview_at_addr`) and
//! `ctypes/__init__.py` wraps with PYFUNCTYPE: `string_at`, `wstring_at`, `cast` and
//! `memoryview_at`. They are entered with the GIL held.
use super::cdata::{keeped_objects_pub, CData};
use super::simple::write_ptr;
use super::stginfo::{stginfo_of_type, Kind};
use crate::checked;
use crate::interp::audit;
use crate::interp::names::{class_name, type_name};
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use pyo3::sync::PyOnceLock;
use std::ffi::{c_int, c_void};

/// `string_at(ptr, size)`: bytes at an address (size -1: up to the NUL).
pub unsafe extern "C" fn string_at_impl(ptr: *const u8, size: c_int) -> *mut ffi::PyObject {
    // SAFETY: GIL held (PYFUNCTYPE).
    if unsafe { audit::string_at(false, ptr.cast(), size) } < 0 {
        return std::ptr::null_mut();
    }
    if checked::enabled() {
        // SAFETY: GIL held (PYFUNCTYPE).
        return unsafe { checked::string_at(ptr, size) };
    }
    // SAFETY: called through a PYFUNCTYPE prototype, so with the GIL held; the caller vouches
    // for the address (this is the raw-memory API).
    unsafe {
        if size == -1 {
            ffi::PyBytes_FromString(ptr.cast())
        } else {
            ffi::PyBytes_FromStringAndSize(ptr.cast(), size as isize)
        }
    }
}

/// `wstring_at(ptr, size)`.
pub unsafe extern "C" fn wstring_at_impl(ptr: *const libc::wchar_t, size: c_int) -> *mut ffi::PyObject {
    // SAFETY: GIL held (PYFUNCTYPE).
    if unsafe { audit::string_at(true, ptr.cast(), size) } < 0 {
        return std::ptr::null_mut();
    }
    if checked::enabled() {
        // SAFETY: GIL held (PYFUNCTYPE).
        return unsafe { checked::wstring_at(ptr, size) };
    }
    // SAFETY: as `string_at_impl`.
    unsafe {
        let n = if size == -1 { ferrotypes_core::memory::wcslen(ptr) as isize } else { size as isize };
        ffi::PyUnicode_FromWideChar(ptr, n)
    }
}

/// `memoryview_at(ptr, size, readonly)` (3.14+): a memoryview of `size` bytes at `ptr`,
/// read-only when `readonly` is non-zero. The prototype's `c_ssize_t` wraps an overflowing
/// size around, so a negative size is refused here.
pub unsafe extern "C" fn memoryview_at_impl(ptr: *mut c_void, size: isize, readonly: c_int) -> *mut ffi::PyObject {
    // SAFETY: GIL held (PYFUNCTYPE).
    if unsafe { audit::memoryview_at(ptr, size, readonly) } < 0 {
        return std::ptr::null_mut();
    }
    if size < 0 {
        // SAFETY: called through a PYFUNCTYPE prototype, so with the GIL held.
        let py = unsafe { Python::assume_attached() };
        pyo3::exceptions::PyValueError::new_err(format!(
            "memoryview_at: size is negative (or overflowed): {size}"
        ))
        .restore(py);
        return std::ptr::null_mut();
    }
    let flags = if readonly != 0 { ffi::PyBUF_READ } else { ffi::PyBUF_WRITE };
    // SAFETY: GIL held (PYFUNCTYPE); the caller vouches for `size` bytes at `ptr`, as with
    // every raw-memory function; the view does not own or free the memory.
    unsafe { ffi::PyMemoryView_FromMemory(ptr.cast(), size, flags) }
}

/// `cast(ptr, src, ctype)`: a new `ctype` instance holding `ptr`, keeping `src` alive.
pub unsafe extern "C" fn cast_impl(ptr: *mut c_void, src: *mut ffi::PyObject, ctype: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: called through a PYFUNCTYPE prototype with the GIL held and live objects.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: `src` and `ctype` are live borrowed references for the duration of the call.
    let (src, ctype) = unsafe { (Bound::from_borrowed_ptr(py, src), Bound::from_borrowed_ptr(py, ctype)) };
    match cast_rust(py, ptr as usize, &src, &ctype) {
        Ok(o) => o.into_ptr(),
        Err(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
    }
}

fn cast_rust(py: Python<'_>, ptr: usize, src: &Bound<'_, PyAny>, ctype: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let ok = stginfo_of_type(ctype).is_some_and(|i| match i.get().kind {
        Kind::Pointer | Kind::FuncPtr => true,
        Kind::Simple { kind, .. } => b"sPzUZXO".contains(&kind.code),
        _ => false,
    });
    if !ok {
        let name = if ctype.cast::<PyType>().is_ok() { class_name(ctype) } else { type_name(ctype) };
        return Err(PyTypeError::new_err(format!("cast() argument 2 must be a pointer type, not {name}")));
    }
    let result = ctype.call0()?;
    let rc = result.cast::<CData>()?;
    if let Ok(s) = src.cast::<CData>() {
        keeped_objects_pub(s)?;
        if s.get().objects(py)?.is_some_and(|o| o.is_none(py)) {
            s.get().set_objects(Some(PyDict::new(py).into_any().unbind()));
        }
        let objs = s.get().objects(py)?;
        rc.get().set_objects(objs.as_ref().map(|o| o.clone_ref(py)));
        if let Some(o) = objs {
            if let Ok(d) = o.bind(py).cast::<PyDict>() {
                d.set_item(src.as_ptr() as usize, src)?;
            }
        }
    }
    // SAFETY: the result is a pointer-sized ctypes instance (checked above).
    unsafe { write_ptr(rc.get().ptr(), ptr) };
    Ok(result.unbind())
}

/// The PYFUNCTYPE wrappers of `string_at_impl`/`wstring_at_impl` (`ctypes/__init__.py`'s
/// `_string_at`/`_wstring_at`): they convert every argument `string_at` and `wstring_at`
/// take other than plain ints, with ctypes' own rules and `ArgumentError`s.
static STRING_AT_FALLBACKS: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();

/// Remembers the PYFUNCTYPE wrappers the direct `string_at`/`wstring_at` fall back to.
#[pyfunction]
pub fn set_string_at_fallbacks(py: Python<'_>, string_at: Py<PyAny>, wstring_at: Py<PyAny>) -> PyResult<()> {
    STRING_AT_FALLBACKS
        .set(py, (string_at, wstring_at))
        .map_err(|_| pyo3::exceptions::PyRuntimeError::new_err("string_at fallbacks are already set"))
}

/// The `size` argument of `string_at`/`wstring_at`: the default, or what was passed (an
/// explicit `None` included, which ctypes' `c_int` refuses).
pub enum SizeArg<'py> {
    Default,
    Given(Bound<'py, PyAny>),
}

impl<'py> FromPyObject<'_, 'py> for SizeArg<'py> {
    type Error = PyErr;
    fn extract(obj: pyo3::Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        Ok(SizeArg::Given(obj.to_owned()))
    }
}

/// The `(address, size)` of a call whose arguments are both plain ints in range (what
/// `c_void_p` and `c_int` would accept without masking); `None` for anything else, which
/// the PYFUNCTYPE path converts.
fn plain_int_args(ptr: &Bound<'_, PyAny>, size: &SizeArg<'_>) -> Option<(usize, c_int)> {
    use pyo3::types::PyInt;
    if !ptr.is_exact_instance_of::<PyInt>() {
        return None;
    }
    let addr: usize = ptr.extract().ok()?;
    let size: c_int = match size {
        SizeArg::Default => -1,
        SizeArg::Given(s) if s.is_exact_instance_of::<PyInt>() => s.extract().ok()?,
        SizeArg::Given(_) => return None,
    };
    Some((addr, size))
}

fn fallback_call(py: Python<'_>, wide: bool, ptr: &Bound<'_, PyAny>, size: SizeArg<'_>) -> PyResult<Py<PyAny>> {
    let (narrow_fn, wide_fn) = STRING_AT_FALLBACKS
        .get(py)
        .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("string_at is not set up"))?;
    let f = if wide { wide_fn } else { narrow_fn };
    let size = match size {
        SizeArg::Given(s) => s,
        SizeArg::Default => (-1i32).into_pyobject(py)?.into_any(),
    };
    Ok(f.bind(py).call1((ptr, size))?.unbind())
}
/// The `ctypes.call_function` event of a direct `string_at`/`wstring_at` call: the one
/// the PYFUNCTYPE wrapper's call would raise, with the entry point's address and the
/// arguments as the wrapper gets them (`size` -1 when not given).
fn audit_entry_call(py: Python<'_>, entry: usize, ptr: &Bound<'_, PyAny>, size: &SizeArg<'_>) -> PyResult<()> {
    let default;
    let size = match size {
        SizeArg::Given(s) => s,
        SizeArg::Default => {
            default = (-1i32).into_pyobject(py)?.into_any();
            &default
        }
    };
    // SAFETY: the GIL is held.
    if unsafe { audit::call_function(entry, || audit::tuple_of(&[ptr.clone(), size.clone()])) } < 0 {
        return Err(PyErr::fetch(py));
    }
    Ok(())
}

/// Turns an entry point's new reference or NULL (with an exception set) into a result.
fn owned_or_err(py: Python<'_>, obj: *mut ffi::PyObject) -> PyResult<Py<PyAny>> {
    // SAFETY: `obj` is a new reference or NULL with an exception set.
    Ok(unsafe { Bound::from_owned_ptr_or_err(py, obj)? }.unbind())
}

/// Return the bytes at address `ptr`: `size` of them, or up to a NUL.
// Plain int arguments go straight to the C entry point (checked mode included); other
// arguments take the PYFUNCTYPE path, whose conversions and errors are ctypes'.
#[pyfunction]
#[pyo3(signature = (ptr, size = SizeArg::Default), text_signature = "(ptr, size=-1)")]
pub fn string_at(py: Python<'_>, ptr: &Bound<'_, PyAny>, size: SizeArg<'_>) -> PyResult<Py<PyAny>> {
    match plain_int_args(ptr, &size) {
        Some((addr, n)) => {
            audit_entry_call(py, string_at_impl as *const c_void as usize, ptr, &size)?;
            // SAFETY: GIL held; as through PYFUNCTYPE, the caller vouches for the address.
            owned_or_err(py, unsafe { string_at_impl(addr as *const u8, n) })
        }
        None => fallback_call(py, false, ptr, size),
    }
}

/// Return the wide string at address `ptr`: `size` characters, or up to a NUL.
// As `string_at`.
#[pyfunction]
#[pyo3(signature = (ptr, size = SizeArg::Default), text_signature = "(ptr, size=-1)")]
pub fn wstring_at(py: Python<'_>, ptr: &Bound<'_, PyAny>, size: SizeArg<'_>) -> PyResult<Py<PyAny>> {
    match plain_int_args(ptr, &size) {
        Some((addr, n)) => {
            audit_entry_call(py, wstring_at_impl as *const c_void as usize, ptr, &size)?;
            // SAFETY: as `string_at`.
            owned_or_err(py, unsafe { wstring_at_impl(addr as *const libc::wchar_t, n) })
        }
        None => fallback_call(py, true, ptr, size),
    }
}

//! The version seam: every private (`_Py…`) CPython function this crate calls, declared here
//! and nowhere else, each behind one small wrapper. All three are exported by the 3.11
//! interpreter but not declared by pyo3-ffi. Porting to a newer CPython means changing this
//! file: each declaration says why it is needed and what replaces it later.
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{c_char, c_int, CStr};

unsafe extern "C" {
    /// CPython's cached MRO lookup: a borrowed reference or NULL, without setting an
    /// exception. Needed because finding a class's `StgInfo` (stored in its `__dict__`) on
    /// every instance access must cost what 3.11's `PyType_stgdict` costs; `getattr` would
    /// run the metaclass's descriptors and allocate. Still exported (privately) by 3.12–3.14;
    /// no public equivalent is released yet (`PyType_Lookup`, returning a strong reference,
    /// is proposed in gh-139847). Public fallback: walk `__mro__` through each class's dict
    /// (`PyType_GetDict`, 3.12+).
    fn _PyType_Lookup(ty: *mut ffi::PyTypeObject, name: *mut ffi::PyObject) -> *mut ffi::PyObject;
    /// The unraisable-exception reporter with a custom message ("Exception ignored " +
    /// `err_msg`). Needed so that callback errors print CPython's own messages. Removed from
    /// the exported API in 3.13; use `PyErr_FormatUnraisable` (public from 3.13).
    fn _PyErr_WriteUnraisableMsg(err_msg: *const c_char, obj: *mut ffi::PyObject);
    /// True once `Py_FinalizeEx` has started. Needed so callbacks from C threads and freed
    /// closures leave a finalizing interpreter alone. 3.13 makes it public as
    /// `Py_IsFinalizing` (and removes the underscore name).
    fn _Py_IsFinalizing() -> c_int;
}

/// `name` looked up along `ty`'s MRO with CPython's method cache (a borrowed reference, or
/// NULL when absent; never raises).
///
/// # Safety
/// `ty` is a live type object and `name` a live str; the result must be used (or a new
/// reference taken) before Python code can run and change the type.
#[inline]
pub unsafe fn type_lookup(ty: *mut ffi::PyTypeObject, name: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: forwarded from this function's contract.
    unsafe { _PyType_Lookup(ty, name) }
}

/// Reports `err` as CPython's callbacks do: `Exception ignored <msg>` with `obj`.
pub fn write_unraisable(py: Python<'_>, err: PyErr, msg: &CStr, obj: Option<&Py<PyAny>>) {
    err.restore(py);
    // SAFETY: an exception is set (just restored); `obj` is a live object or NULL.
    unsafe { _PyErr_WriteUnraisableMsg(msg.as_ptr(), obj.map_or(std::ptr::null_mut(), Py::as_ptr)) };
}

/// True when Python code can no longer run: not initialized, or finalization has started.
pub fn interpreter_unavailable() -> bool {
    // SAFETY: both only read runtime flags; callable without the GIL.
    unsafe { ffi::Py_IsInitialized() == 0 || _Py_IsFinalizing() != 0 }
}

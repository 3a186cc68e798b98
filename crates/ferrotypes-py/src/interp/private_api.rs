//! The version seam: every private (`_Py…`) or version-dependent CPython function this crate
//! calls, declared here and nowhere else, each behind one small wrapper. Which declaration a
//! build uses follows the interpreter it is built for (PyO3's `Py_3_*` cfgs, set by
//! `build.rs`); each says why it is needed and what replaces it on later versions.
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
}

unsafe extern "C" {
    /// PEP 578's event raiser: builds the hooks' argument tuple from `format` (as
    /// `Py_BuildValue`) only when a hook is installed, else returns 0 at once. Public API
    /// since 3.8, not declared by pyo3-ffi. Used only through `interp::audit`, which gives
    /// each `ctypes.*` event a typed wrapper (the variadic arguments must match the format).
    pub(super) fn PySys_Audit(event: *const c_char, format: *const c_char, ...) -> c_int;
}

#[cfg(not(Py_3_13))]
unsafe extern "C" {
    /// Up to 3.12: the unraisable-exception reporter with a custom message ("Exception
    /// ignored " + `err_msg`, then the object). Needed so that callback errors print the
    /// version's own messages. Removed from the exported API in 3.13, where the public
    /// `PyErr_FormatUnraisable` replaces it.
    fn _PyErr_WriteUnraisableMsg(err_msg: *const c_char, obj: *mut ffi::PyObject);
    /// Up to 3.12: true once `Py_FinalizeEx` has started. Needed so callbacks from C threads
    /// and freed closures leave a finalizing interpreter alone. 3.13 makes it public as
    /// `Py_IsFinalizing` (declared by pyo3-ffi) and removes the underscore name.
    fn _Py_IsFinalizing() -> c_int;
}

#[cfg(Py_3_13)]
unsafe extern "C" {
    /// From 3.13: the public unraisable reporter; the formatted text is the whole message
    /// (`"Exception ignored ... %R"`), as CPython's own ctypes callbacks report from 3.13 on.
    /// Public API, not (yet) declared by pyo3-ffi.
    fn PyErr_FormatUnraisable(format: *const c_char, ...);
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
/// Up to 3.12 the hook sees `err_msg` "Exception ignored <msg>" and `object` `obj`; from 3.13
/// (as CPython's own ctypes there) `err_msg` "Exception ignored <msg> <repr(obj)>" and no
/// object.
pub fn write_unraisable(py: Python<'_>, err: PyErr, msg: &CStr, obj: Option<&Py<PyAny>>) {
    err.restore(py);
    #[cfg(not(Py_3_13))]
    // SAFETY: an exception is set (just restored); `obj` is a live object or NULL.
    unsafe {
        _PyErr_WriteUnraisableMsg(msg.as_ptr(), obj.map_or(std::ptr::null_mut(), Py::as_ptr))
    };
    #[cfg(Py_3_13)]
    match obj {
        // SAFETY: an exception is set; the format's `%s` takes `msg` (a NUL-terminated
        // string) and `%R` takes `o`, a live object.
        Some(o) => unsafe { PyErr_FormatUnraisable(c"Exception ignored %s %R".as_ptr(), msg.as_ptr(), o.as_ptr()) },
        // SAFETY: as above, with `%s` only.
        None => unsafe { PyErr_FormatUnraisable(c"Exception ignored %s".as_ptr(), msg.as_ptr()) },
    }
}

/// True once finalization has started (`_Py_IsFinalizing` before 3.13, the public
/// `Py_IsFinalizing` from 3.13).
fn is_finalizing() -> bool {
    #[cfg(not(Py_3_13))]
    // SAFETY: reads a runtime flag; callable without the GIL.
    let finalizing = unsafe { _Py_IsFinalizing() };
    #[cfg(Py_3_13)]
    // SAFETY: reads a runtime flag; callable without the GIL.
    let finalizing = unsafe { ffi::Py_IsFinalizing() };
    finalizing != 0
}

/// True when Python code can no longer run: not initialized, or finalization has started.
pub fn interpreter_unavailable() -> bool {
    // SAFETY: only reads a runtime flag; callable without the GIL.
    unsafe { ffi::Py_IsInitialized() == 0 || is_finalizing() }
}


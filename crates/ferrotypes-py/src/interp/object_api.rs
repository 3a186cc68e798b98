//! Objects by address and by hand-counted reference: `PyObj_FromPtr`, `Py_INCREF`,
//! `Py_DECREF`, as CPython's `_ctypes` exports them (for `ctypes.pythonapi`-style code).
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;

/// `PyObj_FromPtr(address)`: the object at an address (the caller vouches for it).
#[pyfunction(name = "PyObj_FromPtr")]
pub fn pyobj_from_ptr(py: Python<'_>, address: usize) -> PyResult<Py<PyAny>> {
    if address == 0 {
        return Err(PyValueError::new_err("PyObj_FromPtr: NULL pointer"));
    }
    // SAFETY: as CPython's, this trusts the caller that `address` is a live object.
    let obj = unsafe { Bound::from_borrowed_ptr(py, address as *mut ffi::PyObject) };
    super::audit::pyobj_from_ptr(py, &obj)?;
    Ok(obj.unbind())
}

#[pyfunction(name = "Py_INCREF")]
pub fn py_incref(obj: &Bound<'_, PyAny>) -> Py<PyAny> {
    // SAFETY: adds one reference to a live object (deliberately leaked, as CPython's does).
    unsafe { ffi::Py_INCREF(obj.as_ptr()) };
    obj.clone().unbind()
}

#[pyfunction(name = "Py_DECREF")]
pub fn py_decref(obj: &Bound<'_, PyAny>) -> Py<PyAny> {
    // SAFETY: removes a reference the caller added with Py_INCREF; `obj` itself still holds one.
    unsafe { ffi::Py_DECREF(obj.as_ptr()) };
    obj.clone().unbind()
}

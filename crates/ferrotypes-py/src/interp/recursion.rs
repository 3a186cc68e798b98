//! CPython's recursion accounting around re-entrant conversions (`_as_parameter_` chains).
use pyo3::ffi;
use pyo3::prelude::*;

/// Runs `f` one level deeper in CPython's recursion accounting, so that a chain of
/// `_as_parameter_` objects pointing at themselves raises RecursionError instead of
/// overflowing the C stack.
pub fn recursion_guarded<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    // SAFETY: called with the GIL held; a non-zero result means RecursionError is set.
    if unsafe { ffi::Py_EnterRecursiveCall(c" while processing _as_parameter_".as_ptr()) } != 0 {
        return Err(PyErr::fetch(py));
    }
    let r = f();
    // SAFETY: paired with the successful Py_EnterRecursiveCall above.
    unsafe { ffi::Py_LeaveRecursiveCall() };
    r
}

//! `__module__` for types made on the fly (`T * n`, `POINTER(T)`): the caller's module.
use pyo3::prelude::*;

/// The globals of `_ctypes`' own metaclass code, so that caller lookups can skip its frames.
pub static META_GLOBALS: pyo3::sync::PyOnceLock<Py<pyo3::types::PyDict>> = pyo3::sync::PyOnceLock::new();

/// `__name__` of the Python module that called into ctypes: types created on the fly
/// (`T * n`, `POINTER(T)`) get it as `__module__`, as CPython's C code does by creating them
/// while the caller's frame is the current one.
pub fn caller_module(py: Python<'_>) -> Option<Py<PyAny>> {
    let meta = META_GLOBALS.get(py).map(|g| g.as_ptr());
    let sys = py.import("sys").ok()?;
    for depth in 0..4 {
        let frame = sys.call_method1(pyo3::intern!(sys.py(), "_getframe"), (depth,)).ok()?;
        let globals = frame.getattr(pyo3::intern!(frame.py(), "f_globals")).ok()?;
        if Some(globals.as_ptr()) == meta {
            continue;
        }
        return globals.get_item("__name__").ok().map(Bound::unbind);
    }
    None
}

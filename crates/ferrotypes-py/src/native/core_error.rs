//! The single conversion point from `ferrotypes_core` errors to Python exceptions.
use ferrotypes_core::CoreError;
use pyo3::exceptions::{PyAttributeError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

pub fn core_err(e: CoreError) -> PyErr {
    match e {
        CoreError::Load(m) => PyOSError::new_err(m),
        CoreError::Symbol(m) => PyAttributeError::new_err(m),
        CoreError::Ffi(m) => PyRuntimeError::new_err(m),
        CoreError::Layout(m) => PyValueError::new_err(m),
    }
}

//! Callbacks: C calling into Python through libffi closures. (Filled in by the callbacks
//! work; until then creating one raises a clear error.)
use crate::stginfo::StgInfo;
use pyo3::exceptions::PyNotImplementedError;
use pyo3::prelude::*;
use std::sync::Arc;

/// Builds the C-callable code pointer for `callable` with the signature in `info`, and the
/// object that owns the closure (freed when the function object dies).
pub fn make_thunk(_py: Python<'_>, _callable: &Bound<'_, PyAny>, _info: &StgInfo) -> PyResult<(usize, Arc<dyn Send + Sync>)> {
    Err(PyNotImplementedError::new_err("callbacks are not implemented yet"))
}

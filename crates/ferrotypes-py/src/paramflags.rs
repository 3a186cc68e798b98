//! `paramflags`: prototypes instantiated from a library with input/output parameter flags.
//! (Filled in with the callbacks and prototypes work; until then a clear error.)
use crate::convert::ArgConv;
use pyo3::exceptions::PyNotImplementedError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// The argument list built from positional/keyword arguments and defaults, and where the
/// output parameters are.
pub struct BuiltArgs<'py> {
    pub args: Vec<Bound<'py, PyAny>>,
    pub outputs: Vec<usize>,
}

pub fn validate(_cls: &Bound<'_, PyAny>, _paramflags: &Bound<'_, PyTuple>) -> PyResult<()> {
    Ok(())
}

pub fn build_callargs<'py>(
    _func: &Bound<'py, PyAny>,
    _paramflags: &Bound<'py, PyAny>,
    _converters: Option<&[ArgConv]>,
    _args: &[Bound<'py, PyAny>],
    _kwargs: Option<&Bound<'py, PyTuple>>,
) -> PyResult<BuiltArgs<'py>> {
    Err(PyNotImplementedError::new_err("paramflags are not implemented yet"))
}

pub fn build_result(_py: Python<'_>, result: Py<PyAny>, _built: &BuiltArgs<'_>) -> PyResult<Py<PyAny>> {
    Ok(result)
}

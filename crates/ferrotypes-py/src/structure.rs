//! `Structure` and `Union`: aggregates laid out by `ferrotypes_core::layout`.
//! (The layout engine and fields land with the structures work; until then a class
//! without `_fields_` works and `_fields_` raises a clear error.)
use crate::cdata::{self, CData};
use crate::stginfo::{Kind, StgInfo};
use crate::util;
use ferrotypes_core::ffi_type::FfiType;
use pyo3::exceptions::{PyNotImplementedError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};

#[pyclass(extends = CData, subclass, frozen, module = "_ctypes", name = "Structure")]
pub struct Structure;

#[pyclass(extends = CData, subclass, frozen, module = "_ctypes", name = "Union")]
pub struct Union;

fn new_cdata(cls: &Bound<'_, PyType>) -> PyResult<CData> {
    match cdata::take_pending() {
        Some(init) => CData::from_raw_init(init),
        None => {
            let info = util::stginfo_of_type(cls.as_any()).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
            info.get().mark_final();
            CData::owned(info.get().size, info.get().length)
        }
    }
}

#[pymethods]
impl Structure {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn __new__(cls: &Bound<'_, PyType>, _args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<PyClassInitializer<Structure>> {
        Ok(PyClassInitializer::from(new_cdata(cls)?).add_subclass(Structure))
    }
}

#[pymethods]
impl Union {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn __new__(cls: &Bound<'_, PyType>, _args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<PyClassInitializer<Union>> {
        Ok(PyClassInitializer::from(new_cdata(cls)?).add_subclass(Union))
    }
}

/// Called by the metaclass for every new Structure/Union subclass.
#[pyfunction]
pub fn aggregate_init(cls: &Bound<'_, PyType>, is_union: bool, namespace: &Bound<'_, PyAny>) -> PyResult<()> {
    let kind = if is_union { Kind::Union } else { Kind::Struct };
    let info = StgInfo::new(0, 1, 0, kind, FfiType::aggregate(0, 1, vec![]), "B");
    cls.as_any().setattr_builtin(util::STGINFO_KEY, Bound::new(cls.py(), info)?)?;
    if let Some(fields) = namespace.get_item("_fields_").ok() {
        aggregate_set_fields(cls, &fields, is_union)?;
    }
    Ok(())
}

/// Called by the metaclass when `_fields_` is assigned.
#[pyfunction]
pub fn aggregate_set_fields(_cls: &Bound<'_, PyType>, _fields: &Bound<'_, PyAny>, _is_union: bool) -> PyResult<()> {
    Err(PyNotImplementedError::new_err("structure fields are not implemented yet"))
}

trait SetAttrBuiltin {
    fn setattr_builtin(&self, name: &str, value: Bound<'_, StgInfo>) -> PyResult<()>;
}

impl SetAttrBuiltin for Bound<'_, PyAny> {
    /// `type.__setattr__(cls, name, value)`, bypassing the metaclass's own `__setattr__`.
    fn setattr_builtin(&self, name: &str, value: Bound<'_, StgInfo>) -> PyResult<()> {
        let py = self.py();
        py.get_type::<PyType>().call_method1("__setattr__", (self, name, value))?;
        Ok(())
    }
}

//! How messages name objects and classes, as CPython's C code does (`tp_name`, `__name__`).
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// `type(obj).__name__` for messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    // CPython's messages use tp_name: the bare name for classes defined in Python, the dotted
    // name for static types (`decimal.Decimal`).
    // SAFETY: every type has a NUL-terminated tp_name that lives as long as the type, which
    // `obj` keeps alive while we copy it.
    unsafe { std::ffi::CStr::from_ptr((*ffi::Py_TYPE(obj.as_ptr())).tp_name) }.to_string_lossy().into_owned()
}

/// `cls.__name__` for a type object.
pub fn class_name(cls: &Bound<'_, PyAny>) -> String {
    cls.getattr(pyo3::intern!(cls.py(), "__name__"))
        .ok()
        .and_then(|n| n.cast_into::<PyString>().ok().map(|s| s.to_string()))
        .unwrap_or_else(|| "?".into())
}

/// `type(obj)`'s fully qualified name, as CPython's `%T` format spells it: `module.qualname`,
/// or only the qualified name for builtins and `__main__`.
pub fn fully_qualified_type_name(obj: &Bound<'_, PyAny>) -> String {
    let py = obj.py();
    let ty = obj.get_type();
    let qualname = ty
        .getattr(pyo3::intern!(py, "__qualname__"))
        .ok()
        .and_then(|n| n.cast_into::<PyString>().ok().map(|s| s.to_string()))
        .unwrap_or_else(|| type_name(obj));
    match ty.getattr(pyo3::intern!(py, "__module__")).ok().and_then(|m| m.cast_into::<PyString>().ok()) {
        Some(module) => {
            let module = module.to_string();
            if module == "builtins" || module == "__main__" {
                qualname
            } else {
                format!("{module}.{qualname}")
            }
        }
        None => qualname,
    }
}

//! Shared libraries: `dlopen`/`dlclose`/`dlsym`, and finding a symbol through a library
//! object's `_handle` (`in_dll`, and function pointers made from `(name, dll)`).
use super::core_error::core_err;
use crate::interp::audit;
use pyo3::exceptions::{PyAttributeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use std::ffi::{c_void, CString};

/// `dlopen(name, mode=RTLD_NOW|RTLD_LOCAL)` → handle.
#[pyfunction]
#[pyo3(signature = (name = None, mode = libc::RTLD_NOW | libc::RTLD_LOCAL))]
pub fn dlopen(py: Python<'_>, name: Option<&Bound<'_, PyAny>>, mode: i32) -> PyResult<usize> {
    let path = match name {
        Some(n) if !n.is_none() => {
            let os = n.py().import("os")?.call_method1(pyo3::intern!(n.py(), "fsencode"), (n,))?;
            let b = os.cast::<PyBytes>()?.as_bytes().to_vec();
            Some(CString::new(b).map_err(|_| PyValueError::new_err("embedded null byte"))?)
        }
        _ => None,
    };
    // After the name is converted (a name that is no path raises first, as in CPython).
    match name {
        Some(n) => audit::dlopen(py, n)?,
        None => audit::dlopen(py, &py.None().into_bound(py))?,
    }
    ferrotypes_core::loader::open(path.as_deref(), mode | libc::RTLD_NOW).map(|h| h as usize).map_err(core_err)
}

/// `dlclose(handle)`.
#[pyfunction]
pub fn dlclose(handle: usize) -> PyResult<()> {
    ferrotypes_core::loader::close(handle as *mut c_void).map_err(core_err)
}

/// From 3.14 a symbol that resolves to NULL without a loader error (a GNU indirect function
/// may return NULL) counts as missing (gh-126554); before, its address 0 was returned.
fn null_is_missing(py: Python<'_>) -> bool {
    crate::interp::version::behaves_as(py, 14)
}

/// `dlsym(handle, name)` → address.
#[pyfunction]
pub fn dlsym(py: Python<'_>, handle: usize, name: &str) -> PyResult<usize> {
    audit::dlsym_handle(py, &handle.into_pyobject(py)?.into_any(), PyString::new(py, name).as_any())?;
    let addr = ferrotypes_core::loader::symbol(handle as *mut c_void, name)
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
    if addr.is_null() && null_is_missing(py) {
        return Err(pyo3::exceptions::PyOSError::new_err(format!("symbol '{name}' not found")));
    }
    Ok(addr as usize)
}

/// `dllist()` (3.14+): the file names of the shared objects loaded into the process, the
/// main program's as `''`.
#[pyfunction]
pub fn dllist(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyAny>>> {
    let fsdecode = py.import("os")?.getattr(pyo3::intern!(py, "fsdecode"))?;
    ferrotypes_core::loader::loaded_objects()
        .into_iter()
        .map(|name| fsdecode.call1((PyBytes::new(py, &name),)))
        .collect()
}

/// Resolves `(name_or_ordinal, dll)` to an address via `dll._handle`.
pub fn resolve_in_dll(spec: &Bound<'_, PyTuple>) -> PyResult<usize> {
    let py = spec.py();
    let name = spec.get_item(0)?;
    let dll = spec.get_item(1)?;
    let handle = dll.getattr(pyo3::intern!(py, "_handle"))?;
    let handle: usize = handle
        .extract::<isize>()
        .map(|v| v as usize)
        .or_else(|_| handle.extract::<usize>())
        .map_err(|_| PyTypeError::new_err("the _handle attribute of the second argument must be an integer"))?;
    // Ordinals exist on Windows only; elsewhere an int is just not a name (CPython's _get_name).
    let name: String = if let Ok(b) = name.cast::<pyo3::types::PyBytes>() {
        String::from_utf8(b.as_bytes().to_vec()).map_err(|_| PyAttributeError::new_err("function name is not valid UTF-8"))?
    } else if let Ok(s) = name.cast::<PyString>() {
        s.to_str()?.to_owned()
    } else {
        return Err(PyTypeError::new_err("function name must be string, bytes object or integer"));
    };
    // As CPython's: the name as the C string it looks up (a str, also for a bytes name).
    audit::dlsym(py, &dll, PyString::new(py, &name).as_any())?;
    ferrotypes_core::loader::symbol(handle as *mut c_void, &name).map_err(|e| PyAttributeError::new_err(e.to_string()))
        .and_then(|p| if p.is_null() { Err(PyAttributeError::new_err(format!("function '{name}' not found"))) } else { Ok(p as usize) })
}

/// `_ctypes.dlsym`-style lookup used by `in_dll`.
pub fn symbol_address(dll: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<usize> {
    let handle = dll.getattr(pyo3::intern!(dll.py(), "_handle"))?.extract::<isize>()? as usize;
    let name = name.to_str()?;
    let addr = ferrotypes_core::loader::symbol(handle as *mut c_void, name).map_err(|e| PyValueError::new_err(e.to_string()))?;
    if addr.is_null() && null_is_missing(dll.py()) {
        return Err(PyValueError::new_err(format!("symbol '{name}' not found")));
    }
    Ok(addr as usize)
}

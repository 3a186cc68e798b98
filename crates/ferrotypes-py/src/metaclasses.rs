//! The metaclasses: `python/ferrotypes/_ctypes_meta.py` (`PyCSimpleType`, `PyCStructType`,
//! `UnionType`, `PyCArrayType`, `PyCPointerType`, `PyCFuncPtrType`), loaded from beside the
//! extension at import, given CPython's C-level names, and made the metaclasses of the
//! PyO3-built root classes. Part of the module table's layer (with `lib.rs`): it runs
//! during set-up and may use every room.
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyType};
use std::ffi::c_void;

/// The metaclasses by name, with the C-level name each gets.
pub const NAMES: [(&str, &std::ffi::CStr); 6] = [
    ("PyCSimpleType", c"_ctypes.PyCSimpleType"),
    ("PyCStructType", c"_ctypes.PyCStructType"),
    ("UnionType", c"_ctypes.UnionType"),
    ("PyCArrayType", c"_ctypes.PyCArrayType"),
    ("PyCPointerType", c"_ctypes.PyCPointerType"),
    ("PyCFuncPtrType", c"_ctypes.PyCFuncPtrType"),
];

/// The directory this extension was loaded from (the `ferrotypes` package directory, in
/// both modes), found from the address of one of our own functions.
fn extension_dir() -> PyResult<std::path::PathBuf> {
    // SAFETY: an all-zero Dl_info is a valid out-parameter for dladdr.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only inspects the loader's tables for the given code address.
    let found = unsafe { libc::dladdr(extension_dir as *const c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return Err(pyo3::exceptions::PyImportError::new_err("cannot locate the _ctypes extension file"));
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
    let path = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = std::path::PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path.to_bytes()));
    Ok(path.parent().map(std::path::Path::to_path_buf).unwrap_or_default())
}

/// Loads `_ctypes_meta.py` (the metaclasses) from beside the extension, through the normal
/// source loader so its bytecode is cached, with `_rs` injected before it runs.
pub fn load<'py>(py: Python<'py>, rs: &Bound<'py, PyModule>) -> PyResult<Bound<'py, PyDict>> {
    let path = extension_dir()?.join("_ctypes_meta.py");
    if let Some(code) = fresh_cached_code(py, &path) {
        // The fast way in: the bytecode importlib cached for this very source, run in a new
        // module (importlib's finder and loader machinery costs a quarter of a millisecond).
        let module = PyModule::new(py, "_ctypes_meta")?;
        module.setattr("__file__", path.to_string_lossy().as_ref())?;
        module.setattr("_rs", rs)?;
        let dict = module.dict();
        py.import("builtins")?.getattr("exec")?.call1((code, &dict))?;
        return Ok(dict);
    }
    let module = crate::interp::import_machinery::exec_source_file(py, "_ctypes_meta", &path, |module| {
        module.setattr("_rs", rs)
    })?;
    Ok(module.getattr("__dict__")?.cast_into::<PyDict>()?)
}

/// The code object in `__pycache__` for the source at `path`, if the cache is a
/// timestamp-checked one written for this source's current mtime and size by this
/// interpreter's bytecode version (the checks importlib makes); else `None`.
fn fresh_cached_code<'py>(py: Python<'py>, path: &std::path::Path) -> Option<Bound<'py, PyAny>> {
    use std::os::unix::fs::MetadataExt;
    let tag: String = py.import("sys").ok()?.getattr("implementation").ok()?.getattr("cache_tag").ok()?.extract().ok()?;
    let stem = path.file_stem()?.to_str()?;
    let cached = path.parent()?.join("__pycache__").join(format!("{stem}.{tag}.pyc"));
    let data = std::fs::read(cached).ok()?;
    let source = std::fs::metadata(path).ok()?;
    let magic = crate::interp::import_machinery::bytecode_magic(py).ok()?;
    let word = |at: usize| data.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let fresh = data.get(..4) == Some(&magic[..])
        && word(4) == Some(0)
        && word(8) == Some(source.mtime() as u32)
        && word(12) == Some(source.size() as u32);
    if !fresh {
        return None;
    }
    let body = pyo3::types::PyBytes::new(py, &data[16..]);
    py.import("marshal").ok()?.call_method1("loads", (body,)).ok()
}

/// Makes `meta` the metaclass of the PyO3-built root class `cls` (what CPython does for its
/// static root types with `Py_SET_TYPE`). Both are heap types of `type`'s exact layout.
pub fn adopt(cls: &Bound<'_, PyType>, meta: &Bound<'_, PyAny>) {
    // SAFETY: `meta` is a Python subclass of `type` with no extra slots, so it describes the
    // same C layout as the class's current type (`type`); the class keeps a strong reference
    // to its new metaclass, and the old one (`type`, immortal static) needs no release.
    unsafe {
        ffi::Py_INCREF(meta.as_ptr());
        (*cls.as_ptr()).ob_type = meta.as_ptr().cast();
    }
}

/// Gives a metaclass the C-level name of CPython's static type (`_ctypes.PyCSimpleType`):
/// C-level messages name types by tp_name (`type.__name__`/repr come from the heap type's
/// own name and module and are unchanged).
pub fn set_c_name(meta: &Bound<'_, PyAny>, full: &'static std::ffi::CStr) {
    let tp: *mut ffi::PyTypeObject = meta.as_ptr().cast();
    // SAFETY: a live heap type; the new name is a static string that outlives it, and
    // CPython never frees a heap type's tp_name separately (its ht_name owns the buffer).
    unsafe { (*tp).tp_name = full.as_ptr() };
}

/// Adds `flags` (`Py_TPFLAGS_IMMUTABLETYPE`, `Py_TPFLAGS_DISALLOW_INSTANTIATION`) to a type
/// object made at set-up. CPython's own `_ctypes` types have them (its static types are
/// immutable; from 3.12 on the versions' suites check `__flags__`); PyO3 and class
/// statements make mutable heap types.
pub fn add_type_flags(ty: &Bound<'_, PyAny>, flags: std::ffi::c_ulong) {
    let tp: *mut ffi::PyTypeObject = ty.as_ptr().cast();
    // SAFETY: `ty` is a live, ready type object owned by this module; only flag bits that
    // CPython reads on later attribute assignment (`type.__setattr__`) and instantiation
    // checks are added, none that change its layout or its readiness.
    unsafe {
        (*tp).tp_flags |= flags;
        ffi::PyType_Modified(tp);
    }
}

/// Stores `name = value` in a type's own dict at set-up, also for a type that is already
/// immutable (PyO3 makes its classes so): what CPython's C code does to its types' dicts
/// before handing them out.
pub fn set_type_dict_item(ty: &Bound<'_, PyType>, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let tp = ty.as_type_ptr();
    // SAFETY: reading tp_dict of a live, ready heap type; the dict is borrowed from it.
    let dict = unsafe { (*tp).tp_dict };
    if dict.is_null() {
        return Err(pyo3::exceptions::PySystemError::new_err("type has no dict"));
    }
    // SAFETY: `dict` is the type's live namespace dict (see above).
    let dict = unsafe { Bound::from_borrowed_ptr(ty.py(), dict) }.cast_into::<PyDict>()?;
    dict.set_item(name, value)?;
    // SAFETY: `tp` is a live type whose dict just changed: its attribute caches must go.
    unsafe { ffi::PyType_Modified(tp) };
    Ok(())
}

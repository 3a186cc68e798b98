//! The Python code that called into ctypes: its module names the types made on the fly
//! (`T * n`, `POINTER(T)`), and its frame is where set-up warnings point.
use pyo3::prelude::*;

/// `__name__` of the Python module that called into ctypes: types created on the fly
/// (`T * n`, `POINTER(T)`) get it as `__module__`, as CPython's C code does by creating them
/// while the caller's frame is the current one. (The metaclasses are C types: no frame of
/// ours stands between.)
pub fn caller_module(py: Python<'_>) -> Option<Py<PyAny>> {
    // SAFETY: with the GIL held, PyEval_GetGlobals returns the current frame's globals as a
    // borrowed reference (NULL without a Python frame), valid while that frame runs; an
    // owned reference is taken at once.
    let globals = unsafe { pyo3::ffi::PyEval_GetGlobals() };
    if globals.is_null() {
        return None;
    }
    // SAFETY: a live borrowed dict (above).
    let globals = unsafe { Bound::from_borrowed_ptr(py, globals) }.cast_into::<pyo3::types::PyDict>().ok()?;
    globals.get_item(pyo3::intern!(py, "__name__")).ok().flatten().map(Bound::unbind)
}

/// The `stacklevel` that makes a warning raised from C point at the first frame outside
/// the `ferrotypes` package (whose `_endian.py` metaclasses create classes on the user's
/// behalf), as `warnings.warn` counts: 1 is the innermost Python frame.
pub fn stacklevel_outside(py: Python<'_>, package_dir: &str) -> PyResult<i32> {
    let prefix = format!("{}/", package_dir.trim_end_matches('/'));
    let sys = py.import("sys")?;
    let mut frame = match sys.call_method1(pyo3::intern!(py, "_getframe"), (0,)) {
        Ok(f) => f,
        Err(_) => return Ok(1), // no Python frame at all
    };
    let mut level = 1;
    loop {
        let file: String = frame.getattr(pyo3::intern!(py, "f_code"))?.getattr(pyo3::intern!(py, "co_filename"))?.extract()?;
        if !file.starts_with(&prefix) {
            return Ok(level);
        }
        let back = frame.getattr(pyo3::intern!(py, "f_back"))?;
        if back.is_none() {
            return Ok(level);
        }
        frame = back;
        level += 1;
    }
}

/// The directory this extension was loaded from (the `ferrotypes` package directory, in
/// both modes), found from the address of one of our own functions. (Elsewhere than on
/// Unix: not looked up; warnings then point at the innermost Python frame.)
#[cfg(not(unix))]
pub fn package_dir() -> Option<std::path::PathBuf> {
    None
}

/// The directory this extension was loaded from (the `ferrotypes` package directory, in
/// both modes), found from the address of one of our own functions.
#[cfg(unix)]
pub fn package_dir() -> Option<std::path::PathBuf> {
    // SAFETY: an all-zero Dl_info is a valid out-parameter for dladdr.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only inspects the loader's tables for the given code address.
    let found = unsafe { libc::dladdr(package_dir as *const std::ffi::c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
    let path = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = std::path::PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path.to_bytes()));
    path.parent().map(std::path::Path::to_path_buf)
}

/// 3.14's warning for `_pack_` without `_layout_` (opted in to with `FERROTYPES_BEHAVIOR`
/// before 3.14), at the first frame outside ferrotypes.
pub fn warn_implicit_ms(cls: &Bound<'_, pyo3::types::PyType>, is_struct: bool) -> PyResult<()> {
    let py = cls.py();
    let dir = package_dir().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
    let level = if dir.is_empty() { 1 } else { stacklevel_outside(py, &dir)? };
    let what = if is_struct { "Structure" } else { "Union" };
    let message = format!(
        "Due to '_pack_', the '{}' {what} will use memory layout compatible with MSVC (Windows). \
         If this is intended, set _layout_ to 'ms'. The implicit default is deprecated and slated \
         to become an error in Python 3.19.",
        cls.name()?
    );
    let message = std::ffi::CString::new(message).map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    let category = py.get_type::<pyo3::exceptions::PyDeprecationWarning>();
    PyErr::warn(py, &category, &message, level)
}

//! The interpreter's own import machinery, reached without importing the `importlib`
//! package: the frozen `_frozen_importlib` and `_frozen_importlib_external` modules every
//! CPython 3.11–3.15 loads at start-up (they are `importlib._bootstrap` and
//! `importlib._bootstrap_external`). `import importlib.util` would pull in `contextlib`,
//! `collections`, `functools` and `warnings` — most of `import ferrotypes`' time on a bare
//! interpreter — for the one constant and two functions used here.
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A module the interpreter loaded at start-up, from `sys.modules` (no import statement
/// runs; an embedded interpreter that lacks it falls back to a real import).
fn startup_module<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let modules = py.import("sys")?.getattr("modules")?;
    match modules.cast::<PyDict>().ok().and_then(|m| m.get_item(name).ok().flatten()) {
        Some(module) => Ok(module),
        None => Ok(py.import(name)?.into_any()),
    }
}

/// The bytecode magic number of the running interpreter (`importlib.util.MAGIC_NUMBER`):
/// the first four bytes of every `.pyc` it writes.
pub fn bytecode_magic(py: Python<'_>) -> PyResult<Vec<u8>> {
    startup_module(py, "_frozen_importlib_external")?.getattr("MAGIC_NUMBER")?.extract()
}

/// Imports the source file at `path` as a new module named `name` through the source
/// loader (so its bytecode is cached), after `prepare` has seen the empty module (to inject
/// names the source expects). The module is not entered in `sys.modules`.
pub fn exec_source_file<'py>(
    py: Python<'py>,
    name: &str,
    path: &std::path::Path,
    prepare: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<Bound<'py, PyAny>> {
    let external = startup_module(py, "_frozen_importlib_external")?;
    // A `str`, not the `PathBuf` itself: PyO3 turns a path into a `pathlib.Path`, and
    // importing `pathlib` costs more than the rest of `import ferrotypes`.
    let location = path.to_string_lossy();
    let spec = external.call_method1("spec_from_file_location", (name, location.as_ref()))?;
    if spec.is_none() {
        return Err(pyo3::exceptions::PyImportError::new_err(format!("{} is missing", path.display())));
    }
    let module = startup_module(py, "_frozen_importlib")?.call_method1("module_from_spec", (&spec,))?;
    prepare(&module)?;
    spec.getattr("loader")?.call_method1("exec_module", (&module,))?;
    Ok(module)
}

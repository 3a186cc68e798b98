//! The running interpreter's version, for behaviour that differs between CPython versions
//! (messages, exports, what the stdlib `ctypes` of that version expects). C API differences
//! are chosen at compile time instead (PyO3's `Py_3_*` cfgs, `private_api.rs`); this is for
//! what each version's own test suite observes.
use pyo3::prelude::*;
use std::sync::OnceLock;

static RUNNING: OnceLock<(u8, u8)> = OnceLock::new();

/// `(major, minor)` of the interpreter this extension runs in (`sys.version_info[:2]`, read
/// once).
pub fn running(py: Python<'_>) -> (u8, u8) {
    *RUNNING.get_or_init(|| {
        let v = py.version_info();
        (v.major, v.minor)
    })
}

/// True when the running interpreter is CPython 3.`minor` or newer.
#[inline]
pub fn at_least(py: Python<'_>, minor: u8) -> bool {
    running(py) >= (3, minor)
}

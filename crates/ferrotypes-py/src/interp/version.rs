//! The running interpreter's version, for behaviour that follows it at run time (each
//! CPython version's own ctypes test suite is the spec for that version). Differences in the
//! C API are chosen at compile time instead (PyO3's `Py_3_*` cfgs).
use pyo3::prelude::*;
use std::sync::OnceLock;

static MINOR: OnceLock<u8> = OnceLock::new();

/// The running interpreter's minor version (`11` for 3.11, ...), read once.
pub fn minor(py: Python<'_>) -> u8 {
    *MINOR.get_or_init(|| py.version_info().minor)
}

/// True when the running interpreter is CPython 3.`m` or newer.
#[inline]
pub fn at_least(py: Python<'_>, m: u8) -> bool {
    minor(py) >= m
}

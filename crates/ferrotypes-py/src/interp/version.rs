//! The running interpreter's version, for behaviour that differs between CPython versions
//! (messages, exports, what the stdlib `ctypes` of that version expects). C API differences
//! are chosen at compile time instead (PyO3's `Py_3_*` cfgs, `private_api.rs`); this is for
//! what each version's own test suite observes.
//!
//! Two questions, kept apart:
//!
//! * [`at_least`]: is the *interpreter* this new? For what the interpreter itself decides:
//!   which names its stdlib `ctypes` imports from `_ctypes`, how class bodies reach a
//!   metaclass, which private API exists.
//! * [`behaves_as`]: should ctypes *behave* like this version? For what a newer CPython
//!   changed in ctypes itself (a message's wording, a deprecation warning, a stricter check,
//!   a buffer format). Each interpreter keeps its own version's behaviour unless the process
//!   opts in to a newer one with `FERROTYPES_BEHAVIOR=3.N` (or `newest`), read once when the
//!   extension is imported (docs/guide/newest.md).
use pyo3::prelude::*;
use std::sync::OnceLock;

static RUNNING: OnceLock<(u8, u8)> = OnceLock::new();
static BEHAVIOR: OnceLock<(u8, u8)> = OnceLock::new();

/// The newest CPython version whose ctypes behaviour ferrotypes knows.
pub const NEWEST: (u8, u8) = (3, 15);

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

/// What `FERROTYPES_BEHAVIOR` asks for: `3.N` or `newest`; `Err` with the reason for
/// anything else (an unknown version, or one older than the interpreter).
pub fn parse_behavior(value: &str, running: (u8, u8)) -> Result<(u8, u8), String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(running);
    }
    let asked = if value == "newest" {
        NEWEST
    } else {
        let parsed = value
            .split_once('.')
            .and_then(|(major, minor)| Some((major.parse::<u8>().ok()?, minor.parse::<u8>().ok()?)));
        match parsed {
            Some(v) if v.0 == 3 && v <= NEWEST => v,
            _ => return Err(format!("FERROTYPES_BEHAVIOR must be 'newest' or a version from 3.11 to 3.{}, not {value:?}", NEWEST.1)),
        }
    };
    Ok(asked.max(running))
}

/// The ctypes behaviour the process runs with: the running version's, or the newer one
/// `FERROTYPES_BEHAVIOR` names. Fixed by [`init_behavior`] at import.
pub fn behavior(py: Python<'_>) -> (u8, u8) {
    *BEHAVIOR.get_or_init(|| running(py))
}

/// Reads `FERROTYPES_BEHAVIOR` once, when the extension is imported.
pub fn init_behavior(py: Python<'_>) -> PyResult<(u8, u8)> {
    let running = running(py);
    let wanted = match std::env::var("FERROTYPES_BEHAVIOR") {
        Ok(value) => parse_behavior(&value, running).map_err(pyo3::exceptions::PyValueError::new_err)?,
        Err(_) => running,
    };
    Ok(*BEHAVIOR.get_or_init(|| wanted))
}

/// True when ctypes should behave as CPython 3.`minor` or newer (see the module notes).
#[inline]
pub fn behaves_as(py: Python<'_>, minor: u8) -> bool {
    behavior(py) >= (3, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behavior_values() {
        assert_eq!(parse_behavior("", (3, 12)), Ok((3, 12)));
        assert_eq!(parse_behavior("newest", (3, 11)), Ok(NEWEST));
        assert_eq!(parse_behavior("3.13", (3, 11)), Ok((3, 13)));
        // Never older than the interpreter: its own behaviour is the floor.
        assert_eq!(parse_behavior("3.11", (3, 14)), Ok((3, 14)));
        assert!(parse_behavior("3.16", (3, 11)).is_err());
        assert!(parse_behavior("4.0", (3, 11)).is_err());
        assert!(parse_behavior("yes", (3, 11)).is_err());
    }
}

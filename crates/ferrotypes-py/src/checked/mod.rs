//! Checked mode: ctypes' usual crashes become Python exceptions (`docs/guide/checked.md`).
//!
//! A process-wide counter switches it on (`FERROTYPES_CHECKED=1` at import, or
//! `ferrotypes.checked()`); every hook in the hot files is one `if checked::enabled()`, a
//! single relaxed atomic load, so the default mode pays nothing else. What it adds
//! (`memory.rs`, `call_guard.rs`, `callback_checks.rs`):
//! 1. Memory entry points (`string_at`, `wstring_at`, `from_address`/`in_dll`, pointer
//!    `.contents` and indexing, and `memmove`/`memset`/`memcpy` called through ferrotypes)
//!    probe the range first ([`ferrotypes_core::guard`]) and raise
//!    `ValueError("address 0x… is not readable")`.
//! 2. Foreign calls run inside a `sigsetjmp` guard: SIGSEGV/SIGBUS in the callee becomes
//!    `OSError("access violation reading 0x…")` ([`guarded_call`]).
//! 3. Calls without `argtypes`/`restype` warn once per function (`SignatureWarning`) when a
//!    float or a pointer-sized integer is passed, or a result does not fit in a C int.
//! 4. A callback collected in checked mode keeps its closure, redirected to a report through
//!    `sys.unraisablehook` ([`retire_callback`]); in the default mode a callback that was
//!    passed to C warns (`ResourceWarning`) when collected.
//!
//! This room sits low so that the data, callback and call rooms can call its hooks: it
//! knows no ctypes type. Where a check needs one (a pointer's target size, a function
//! object's thunk), the caller looks it up and passes plain values.
//!
//! May use: `interp`, `native`, PyO3, `ferrotypes_core`.
use ferrotypes_core::guard;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

mod call_guard;
mod callback_checks;
mod memory;

pub use call_guard::{before_call, guarded_call, report, SignatureWarning};
pub use callback_checks::{report_dead_call, retire_callback, CallbackChecks};
pub use memory::{check_readable, check_writable, string_at, string_len, wstring_at};

/// How many `checked()` scopes (plus the environment variable) are active, process-wide.
static DEPTH: AtomicUsize = AtomicUsize::new(0);

/// Whether checked mode is on: the only cost every hook pays in the default mode. Every
/// function a hook calls is `#[cold]` and never inlined, so the hooks leave the code layout
/// and inlining decisions of the hot paths as they were.
#[inline(always)]
pub fn enabled() -> bool {
    DEPTH.load(Ordering::Relaxed) != 0
}

/// Enters one checked scope (installing the fault handlers on the way in).
#[pyfunction]
fn _checked_enter() -> PyResult<()> {
    guard::install_fault_handlers().map_err(|e| PyOSError::new_err(format!("cannot install the checked-mode fault handlers: {e}")))?;
    DEPTH.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Leaves one checked scope.
#[pyfunction]
fn _checked_exit() {
    let _ = DEPTH.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| d.checked_sub(1));
}

/// Whether checked mode is on.
#[pyfunction]
fn _is_checked() -> bool {
    enabled()
}

/// The memory probe in use ("fault", "vm" or "maps"); `force` chooses one (see
/// `ferrotypes_core::guard::force_probe`), for measurements.
#[pyfunction]
#[pyo3(signature = (force = None))]
fn _checked_probe(force: Option<&str>) -> PyResult<&'static str> {
    if let Some(name) = force {
        if !guard::force_probe(name) {
            return Err(PyValueError::new_err(format!("unknown or unusable probe {name:?}")));
        }
    }
    Ok(guard::probe_name())
}

/// Adds checked mode's functions to `_ctypes` and honours `FERROTYPES_CHECKED=1` (and
/// `FERROTYPES_CHECKED_PROBE`).
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_checked_enter, m)?)?;
    m.add_function(wrap_pyfunction!(_checked_exit, m)?)?;
    m.add_function(wrap_pyfunction!(_is_checked, m)?)?;
    m.add_function(wrap_pyfunction!(_checked_probe, m)?)?;
    // Defined here so that core mode (this extension under the stdlib `ctypes`) has it too;
    // the package exports it as `ferrotypes.SignatureWarning`.
    m.add("_SignatureWarning", m.py().get_type::<SignatureWarning>())?;
    if std::env::var_os("FERROTYPES_CHECKED").is_some_and(|v| v == "1") {
        _checked_enter()?;
    }
    // Which memory probe to use (fault, vm, maps): for tests and odd sandboxes.
    if let Ok(name) = std::env::var("FERROTYPES_CHECKED_PROBE") {
        if !name.is_empty() {
            _checked_probe(Some(&name))?;
        }
    }
    Ok(())
}

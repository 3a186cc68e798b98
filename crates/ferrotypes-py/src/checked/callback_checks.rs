//! Checked mode's side of callbacks: where each was made, whether it was passed to C, and
//! what happens when its owner is collected while C may still call it.
use super::enabled;
use crate::interp::names::class_name;
use crate::interp::private_api::write_unraisable;
use crate::interp::GilCell;
use pyo3::exceptions::{PyResourceWarning, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

/// Checked mode's per-callback state, part of each `PyCallback`.
pub struct CallbackChecks {
    /// `(description, traceback.StackSummary)` of where the callback was made, captured in
    /// checked mode only.
    origin: GilCell<Option<Py<PyAny>>>,
    /// Set when the owning object died in checked mode: the closure now only reports.
    dead: GilCell<Option<Py<PyAny>>>,
    /// Set when the code pointer was passed as an argument to a foreign call.
    passed_to_c: AtomicBool,
}

impl CallbackChecks {
    /// The state for a new callback: in checked mode, remembers where it was made.
    pub fn new(py: Python<'_>, callable: &Bound<'_, PyAny>, argtypes: &Bound<'_, PyAny>, restype: Option<&Bound<'_, PyAny>>) -> Self {
        let checks = CallbackChecks { origin: GilCell::new(None), dead: GilCell::new(None), passed_to_c: AtomicBool::new(false) };
        if enabled() {
            let desc = describe(callable, argtypes, restype);
            let stack = py.import("traceback").and_then(|t| t.call_method0("extract_stack")).ok();
            let origin = PyTuple::new(py, [desc.into_pyobject(py).map(|d| d.into_any()).ok(), stack]).ok();
            drop(checks.origin.replace(origin.map(|o| o.into_any().unbind())));
        }
        checks
    }

    pub fn traverse(&self, visit: &pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.origin.traverse(visit)?;
        self.dead.traverse(visit)
    }

    /// Notes that the callback's code pointer is being passed to a foreign call: collecting
    /// it later warns (`ResourceWarning`) in the default mode.
    #[inline]
    pub fn mark_passed_to_c(&self) {
        self.passed_to_c.store(true, Ordering::Relaxed);
    }
}

/// "'name' CFUNCTYPE(restype, argtypes...)" for messages.
fn describe(callable: &Bound<'_, PyAny>, argtypes: &Bound<'_, PyAny>, restype: Option<&Bound<'_, PyAny>>) -> String {
    let py = callable.py();
    let name = callable
        .getattr_opt(pyo3::intern!(py, "__qualname__"))
        .ok()
        .flatten()
        .and_then(|n| n.extract::<String>().ok())
        .unwrap_or_else(|| callable.repr().map(|r| r.to_string()).unwrap_or_default());
    let type_name = |t: &Bound<'_, PyAny>| if t.is_none() { "None".to_string() } else { class_name(t) };
    let mut parts = vec![restype.map_or("None".into(), type_name)];
    if let Ok(tuple) = argtypes.cast::<PyTuple>() {
        parts.extend(tuple.iter().map(|t| type_name(&t)));
    }
    format!("'{name}' CFUNCTYPE({})", parts.join(", "))
}

/// Called when a callback's owner is freed, before its closure is, with the callback's
/// checks and its Python side (callable, argtypes, restype). Returns true when the closure
/// must be kept (leaked): checked mode, or a callback made in checked mode. The callable
/// and prototype are then dropped and the callback reports any later call instead of
/// running. Otherwise warns if the callback was passed to C.
pub fn retire_callback(
    checks: &CallbackChecks,
    callable: &GilCell<Option<Py<PyAny>>>,
    converters: &GilCell<Option<Py<PyAny>>>,
    restype: &GilCell<Option<Py<PyAny>>>,
) -> bool {
    let retire = enabled() || checks.origin.is_some();
    if !retire && !checks.passed_to_c.load(Ordering::Relaxed) {
        return false;
    }
    // Objects are freed with the GIL held; this only re-enters it.
    Python::attach(|py| {
        let current = callable.get_ref(py);
        let desc = || match (&current, converters.get_ref(py)) {
            (Some(c), Some(a)) => describe(c.bind(py), a.bind(py), restype.get_ref(py).as_ref().map(|r| r.bind(py))),
            _ => "<collected>".into(),
        };
        if !retire {
            let msg = CString::new(format!(
                "ctypes callback {} was passed to C and is being garbage collected; C code that kept its \
                 address must not call it any more (FERROTYPES_CHECKED=1 reports such calls)",
                desc()
            ))
            .unwrap_or_default();
            if let Err(e) = PyErr::warn(py, &py.get_type::<PyResourceWarning>(), &msg, 1) {
                write_unraisable(py, e, c"while collecting a ctypes callback", None);
            }
            return false;
        }
        let origin = checks.origin.get_ref(py);
        let dead = match origin {
            Some(o) => o,
            None => match PyTuple::new(py, [desc().into_pyobject(py).map(|d| d.into_any().unbind()).ok(), None]) {
                Ok(t) => t.into_any().unbind(),
                Err(_) => py.None(),
            },
        };
        drop(checks.dead.replace(Some(dead)));
        drop(callable.replace(None));
        drop(converters.replace(None));
        drop(restype.replace(None));
        true
    })
}

/// Reports a call into a callback whose owner was collected (checked mode): through
/// `sys.unraisablehook`, with where it was created. The result stays zero.
#[cold]
#[inline(never)]
pub fn report_dead_call(py: Python<'_>, checks: &CallbackChecks) {
    let Some(dead) = checks.dead.get_ref(py) else { return };
    let dead = dead.bind(py);
    let desc: String = dead.get_item(0).and_then(|d| d.extract()).unwrap_or_else(|_| "<unknown>".into());
    let mut msg = format!("ctypes callback {desc} called after it was garbage collected");
    // The creation site goes in the message: 3.11's default unraisablehook prints no notes.
    if let Ok(stack) = dead.get_item(1) {
        if !stack.is_none() {
            let text: PyResult<String> = (|| {
                let lines = stack.call_method0("format")?;
                pyo3::types::PyString::new(py, "").call_method1("join", (lines,))?.extract::<String>()
            })();
            if let Ok(t) = text {
                msg.push_str("\nThe callback was created at (most recent call last):\n");
                msg.push_str(t.trim_end());
            }
        }
    }
    let err = PyRuntimeError::new_err(msg);
    // Worded as the running version's own callback reports ("while" from 3.14).
    let msg = if crate::interp::version::behaves_as(py, 14) {
        c"while calling ctypes callback function"
    } else {
        c"on calling ctypes callback function"
    };
    write_unraisable(py, err, msg, None);
}

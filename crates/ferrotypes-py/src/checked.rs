//! Checked mode: ctypes' usual crashes become Python exceptions (`docs/guide/checked.md`).
//!
//! A process-wide counter switches it on (`FERROTYPES_CHECKED=1` at import, or
//! `ferrotypes.checked()`); every hook in the hot files is one `if checked::enabled()`, a
//! single relaxed atomic load, so the default mode pays nothing else. What it adds:
//! 1. Memory entry points (`string_at`, `wstring_at`, `from_address`/`in_dll`, pointer
//!    `.contents` and indexing, and `memmove`/`memset`/`memcpy` called through ferrotypes)
//!    probe the range first ([`ferrotypes_core::guard`]) and raise
//!    `ValueError("address 0x… is not readable")`.
//! 2. Foreign calls run inside a `sigsetjmp` guard: SIGSEGV/SIGBUS in the callee becomes
//!    `OSError("access violation reading 0x…")` ([`guarded_ffi_call`]).
//! 3. Calls without `argtypes`/`restype` warn once per function (`SignatureWarning`) when a
//!    float or a pointer-sized integer is passed, or a result does not fit in a C int.
//! 4. A callback collected in checked mode keeps its closure, redirected to a report through
//!    `sys.unraisablehook` ([`retire_callback`]); in the default mode a callback that was
//!    passed to C warns (`ResourceWarning`) when collected.
use crate::callback::{CThunkObject, PyCallback};
use crate::util::{self, GilCell};
use ferrotypes_core::call::CallInterface;
use ferrotypes_core::ffi_type::FfiType;
use ferrotypes_core::guard;
use pyo3::exceptions::{PyOSError, PyResourceWarning, PyRuntimeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt, PyTuple};
use std::cell::Cell;
use std::collections::HashSet;
use std::ffi::{c_void, CString};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

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

// --- memory ------------------------------------------------------------------------------

fn not_readable(addr: usize) -> PyErr {
    PyValueError::new_err(format!("address {addr:#018x} is not readable"))
}

fn not_writable(addr: usize) -> PyErr {
    PyValueError::new_err(format!("address {addr:#018x} is not writable"))
}

/// `ValueError` unless all of `[addr, addr + len)` can be read.
#[cold]
#[inline(never)]
pub fn check_readable(addr: usize, len: usize) -> PyResult<()> {
    guard::readable(addr, len).map_err(not_readable)
}

/// `ValueError` unless all of `[addr, addr + len)` can be written.
#[cold]
#[inline(never)]
pub fn check_writable(addr: usize, len: usize) -> PyResult<()> {
    guard::writable(addr, len).map_err(not_writable)
}

/// Checks that an instance of ctypes type `cls` at `addr` can be read (or written).
#[cold]
#[inline(never)]
pub fn check_instance(cls: &Bound<'_, PyAny>, addr: usize, write: bool) -> PyResult<()> {
    let size = util::stginfo_of_type(cls).map_or(0, |i| i.get().size);
    if write {
        check_writable(addr, size)
    } else {
        check_readable(addr, size)
    }
}

/// Length of the NUL-terminated string of `unit`-byte characters at `addr` (1: `char`,
/// else `wchar_t`), probing each page before reading it.
#[cold]
#[inline(never)]
pub fn string_len(addr: usize, unit: usize) -> PyResult<usize> {
    if unit == 1 { guard::strlen(addr) } else { guard::wcslen(addr) }.map_err(not_readable)
}

/// Checked `string_at`: a new bytes object, or NULL with `ValueError` set.
///
/// # Safety
/// Called with the GIL held (from the PYFUNCTYPE entry point).
#[cold]
#[inline(never)]
pub unsafe fn string_at(ptr: *const u8, size: i32) -> *mut ffi::PyObject {
    let len = if size < 0 { guard::strlen(ptr as usize) } else { guard::readable(ptr as usize, size as usize).map(|()| size as usize) };
    // SAFETY: GIL held (contract); the probe vouched for `len` bytes at `ptr`.
    unsafe {
        match len {
            Ok(n) => ffi::PyBytes_FromStringAndSize(ptr.cast(), n as isize),
            Err(bad) => raise(not_readable(bad)),
        }
    }
}

/// Checked `wstring_at`: a new str, or NULL with `ValueError` set.
///
/// # Safety
/// As [`string_at`].
#[cold]
#[inline(never)]
pub unsafe fn wstring_at(ptr: *const libc::wchar_t, size: i32) -> *mut ffi::PyObject {
    let unit = std::mem::size_of::<libc::wchar_t>();
    let len = if size < 0 { guard::wcslen(ptr as usize) } else { guard::readable(ptr as usize, size as usize * unit).map(|()| size as usize) };
    // SAFETY: GIL held (contract); the probe vouched for `len` code units at `ptr`.
    unsafe {
        match len {
            Ok(n) => ffi::PyUnicode_FromWideChar(ptr, n as isize),
            Err(bad) => raise(not_readable(bad)),
        }
    }
}

/// Sets `err` as the current exception and returns NULL.
///
/// # Safety
/// GIL held.
unsafe fn raise(err: PyErr) -> *mut ffi::PyObject {
    // SAFETY: GIL held (contract).
    err.restore(unsafe { Python::assume_attached() });
    std::ptr::null_mut()
}

// --- calls ------------------------------------------------------------------------------

thread_local! {
    /// Set by [`before_call`] when the function has no `restype`: the call that follows is
    /// made with a 64-bit result so a truncated pointer can be noticed (name for the warning).
    static UNTYPED_RESULT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Functions (object address, code address) that already got their `SignatureWarning`.
static WARNED: Mutex<Option<HashSet<(usize, usize)>>> = Mutex::new(None);

/// True the first time for this function object.
fn first_warning(func_obj: usize, code: usize) -> bool {
    let mut w = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    w.get_or_insert_with(HashSet::new).insert((func_obj, code))
}

fn already_warned(func_obj: usize, code: usize) -> bool {
    let w = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    w.as_ref().is_some_and(|s| s.contains(&(func_obj, code)))
}

pyo3::create_exception!(
    ferrotypes,
    SignatureWarning,
    pyo3::exceptions::PyUserWarning,
    "A foreign call without argtypes/restype that probably truncates a value (checked mode, once per function)."
);

fn signature_warning(func: &Bound<'_, PyAny>, code: usize, detail: String) -> PyResult<()> {
    let py = func.py();
    if !first_warning(func.as_ptr() as usize, code) {
        return Ok(());
    }
    let category = py.get_type::<SignatureWarning>();
    let name = func
        .getattr_opt(pyo3::intern!(py, "__name__"))
        .ok()
        .flatten()
        .and_then(|n| n.extract::<String>().ok())
        .unwrap_or_else(|| format!("<function at {code:#x}>"));
    let msg = CString::new(format!("{name}: {detail}")).unwrap_or_default();
    PyErr::warn(py, &category, &msg, 1)
}

fn read_arg(avalue: *mut c_void, ty: *mut libffi::low::ffi_type) -> u64 {
    // SAFETY: `avalue` points to an argument of type `ty` (the call's own buffers).
    unsafe {
        match (*ty).size {
            1 => *(avalue as *const u8) as u64,
            2 => std::ptr::read_unaligned(avalue as *const u16) as u64,
            4 => std::ptr::read_unaligned(avalue as *const u32) as u64,
            _ => std::ptr::read_unaligned(avalue as *const u64),
        }
    }
}

/// Checked mode's look at a call just before it is made: arguments of `memmove`/`memcpy`/
/// `memset` are probed, and a function without `argtypes`/`restype` is examined for the
/// classic silent truncations.
#[cold]
#[inline(never)]
pub fn before_call(
    func_obj: &Bound<'_, PyAny>,
    code: usize,
    cif: &CallInterface,
    untyped_args: bool,
    untyped_result: bool,
    args: &[Bound<'_, PyAny>],
    avalues: &[*mut c_void],
) -> PyResult<()> {
    // SAFETY: the prepared cif describes `avalues` (one type per value).
    let types = unsafe {
        let c = &*cif.raw_cif();
        std::slice::from_raw_parts(c.arg_types, c.nargs as usize)
    };
    let arg = |i: usize| read_arg(avalues[i], types[i]) as usize;
    if avalues.len() == 3 && types.len() == 3 {
        if code == libc::memmove as *const () as usize || code == libc::memcpy as *const () as usize {
            check_readable(arg(1), arg(2))?;
            check_writable(arg(0), arg(2))?;
        } else if code == libc::memset as *const () as usize {
            check_writable(arg(0), arg(2))?;
        }
    }
    if untyped_args && !already_warned(func_obj.as_ptr() as usize, code) {
        for (i, a) in args.iter().enumerate() {
            let n = i + 1;
            if a.is_instance_of::<PyInt>() {
                if let Ok(v) = a.extract::<i128>() {
                    if v < i32::MIN as i128 || v > u32::MAX as i128 {
                        return signature_warning(
                            func_obj,
                            code,
                            format!(
                                "argument {n} ({v:#x}) does not fit in a C int and is truncated to 32 bits \
                                 because argtypes is not set (a pointer? set argtypes, e.g. c_void_p)"
                            ),
                        );
                    }
                }
            } else if a.is_instance_of::<PyFloat>()
                || types.get(i).is_some_and(|&t| {
                    // SAFETY: a valid libffi type descriptor.
                    matches!(unsafe { (*t).type_ }, libffi::raw::FFI_TYPE_FLOAT | libffi::raw::FFI_TYPE_DOUBLE | libffi::raw::FFI_TYPE_LONGDOUBLE)
                })
            {
                return signature_warning(
                    func_obj,
                    code,
                    format!("argument {n} is a floating-point value but argtypes is not set: the C function may expect another type; set argtypes"),
                );
            }
        }
    }
    if untyped_result && !already_warned(func_obj.as_ptr() as usize, code) {
        UNTYPED_RESULT.with(|u| u.set(Some(func_obj.as_ptr() as usize)));
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct CallArgs {
    cif: *const CallInterface,
    func: usize,
    result: *mut c_void,
    avalues: *mut *mut c_void,
}

/// What a checked call has to report once the GIL is back: a fault, or an untyped result
/// that did not fit in the C `int` it was read as.
pub enum Event {
    Fault(guard::Fault),
    Truncated { func_obj: usize, code: usize, value: u64 },
}

/// The call of `funcptr::ffi_call_with_flags` in checked mode (no GIL needed: it runs inside
/// the detached section): made inside the fault guard, and, for a function without
/// `restype`, with a 64-bit result to see whether the C `int` it is read as lost bits.
///
/// # Safety
/// As `CallInterface::call`.
#[cold]
#[inline(never)]
pub unsafe fn guarded_call(cif: &CallInterface, func: usize, result: *mut c_void, avalues: *mut *mut c_void) -> Result<(), Event> {
    // A function without restype is called with a 64-bit result (x86-64 returns both in
    // rax; the low half is what a C int result would be).
    let untyped = UNTYPED_RESULT.with(|u| u.take());
    let wide = match untyped {
        Some(_)
            if cfg!(target_arch = "x86_64")
                // SAFETY: a prepared cif; its rtype is a valid descriptor.
                && matches!(unsafe { (*(*cif.raw_cif()).rtype).type_ }, libffi::raw::FFI_TYPE_SINT32 | libffi::raw::FFI_TYPE_INT) =>
        {
            // SAFETY: the argument descriptors are the call's own, alive for the call.
            let types: Vec<FfiType> = unsafe {
                let c = &*cif.raw_cif();
                std::slice::from_raw_parts(c.arg_types, c.nargs as usize).iter().map(|&t| FfiType::Static(t)).collect()
            };
            let sint64 = ferrotypes_core::simple::SimpleKind::from_code(b'q').map(|k| FfiType::Static(k.ffi_type()));
            CallInterface::new(sint64, types, None).ok()
        }
        _ => None,
    };
    let call = CallArgs { cif: wide.as_ref().unwrap_or(cif), func, result, avalues };
    // SAFETY: forwarded from this function's contract; the body owns only pointers.
    unsafe { guard::guarded(move || (*call.cif).call(call.func as *const c_void, call.result, call.avalues)) }.map_err(Event::Fault)?;
    if let (Some(func_obj), Some(_)) = (untyped, &wide) {
        // SAFETY: the 64-bit result was written into `result` (at least 8 bytes).
        let value = unsafe { std::ptr::read_unaligned(result as *const u64) };
        let high = (value >> 32) as u32;
        let low_negative = (value as u32) & 0x8000_0000 != 0;
        // What a C int result leaves in the buffer: the low half, sign-extended.
        // SAFETY: as above.
        unsafe { std::ptr::write_unaligned(result as *mut i64, value as u32 as i32 as i64) };
        if !(high == 0 || (high == u32::MAX && low_negative)) {
            return Err(Event::Truncated { func_obj, code: func, value });
        }
    }
    Ok(())
}

/// Turns an [`Event`] into the `OSError` (fault) or the `SignatureWarning` (truncation).
#[cold]
#[inline(never)]
pub fn report(py: Python<'_>, event: Event) -> PyResult<()> {
    match event {
        Event::Fault(fault) => {
            let what = if fault.signo == libc::SIGBUS { "SIGBUS" } else { "SIGSEGV" };
            Err(PyOSError::new_err(format!(
                "access violation {} {:#018x} ({what} inside a foreign function call; its library may be left in an inconsistent state)",
                fault.access_verb(),
                fault.addr
            )))
        }
        Event::Truncated { func_obj, code, value } => {
            // SAFETY: `func_obj` is the function object being called, which its caller keeps
            // alive until the call returns (we are still inside it).
            let func_obj = unsafe { Bound::from_borrowed_ptr(py, func_obj as *mut ffi::PyObject) };
            signature_warning(
                &func_obj,
                code,
                format!(
                    "restype is not set, so the result is read as a C int, but the function returned {value:#x}, \
                     which was truncated to {}: set restype (c_void_p for a pointer)",
                    value as u32 as i32
                ),
            )
        }
    }
}

// --- callbacks ---------------------------------------------------------------------------

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
    let type_name = |t: &Bound<'_, PyAny>| if t.is_none() { "None".to_string() } else { util::class_name(t) };
    let mut parts = vec![restype.map_or("None".into(), type_name)];
    if let Ok(tuple) = argtypes.cast::<PyTuple>() {
        parts.extend(tuple.iter().map(|t| type_name(&t)));
    }
    format!("'{name}' CFUNCTYPE({})", parts.join(", "))
}

/// Notes that a function pointer object is being passed to a foreign call: if it owns a
/// callback, collecting it later warns (`ResourceWarning`) in the default mode.
#[inline(never)]
pub fn note_passed_to_c(obj: &Bound<'_, PyAny>) {
    let Ok(f) = obj.cast::<crate::funcptr::CFuncPtr>() else { return };
    // Borrowed, not cloned: this also runs on the call fast lane, where no reference may
    // be dropped (no Python code runs while the cell is read).
    // SAFETY: GIL-serialised read of the cell; the reference is used and released here.
    let Some(thunk) = (unsafe { &*f.get().thunk.as_ptr() }) else { return };
    if let Ok(t) = thunk.bind(obj.py()).cast::<CThunkObject>() {
        t.get().callback().checks.passed_to_c.store(true, Ordering::Relaxed);
    }
}

/// Called when a callback's owner is freed, before its closure is. Returns true when the
/// closure must be kept (leaked): checked mode, or a callback made in checked mode. The
/// callback then reports any later call instead of running. Otherwise warns if the callback
/// was passed to C.
pub fn retire_callback(cb: &PyCallback) -> bool {
    let checks = &cb.checks;
    let retire = enabled() || checks.origin.is_some();
    if !retire && !checks.passed_to_c.load(Ordering::Relaxed) {
        return false;
    }
    // Objects are freed with the GIL held; this only re-enters it.
    Python::attach(|py| {
        let callable = cb.callable.get_ref(py);
        let desc = || match (&callable, cb.converters.get_ref(py)) {
            (Some(c), Some(a)) => describe(c.bind(py), a.bind(py), cb.restype.get_ref(py).as_ref().map(|r| r.bind(py))),
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
                crate::callback::write_unraisable(py, e, c"while collecting a ctypes callback", None);
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
        drop(cb.callable.replace(None));
        drop(cb.converters.replace(None));
        drop(cb.restype.replace(None));
        true
    })
}

/// Reports a call into a callback whose owner was collected (checked mode): through
/// `sys.unraisablehook`, with where it was created. The result stays zero.
#[cold]
#[inline(never)]
pub fn report_dead_call(py: Python<'_>, cb: &PyCallback) {
    let Some(dead) = cb.checks.dead.get_ref(py) else { return };
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
    crate::callback::write_unraisable(py, err, c"on calling ctypes callback function", None);
}

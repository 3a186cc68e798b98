//! Interpreter shutdown with foreign threads still running.
//!
//! Up to 3.13, a thread that wants the GIL once `Py_FinalizeEx` has started is ended by
//! CPython with `pthread_exit`, a forced unwind of its whole stack. CPython's own ctypes has
//! only C frames there; ours are Rust frames, and unwinding them that way aborts the
//! process. From 3.14 CPython parks such a thread for good instead (and 3.15 adds
//! `PyThreadState_Ensure`, which refuses), so there the gate below compiles to nothing.
//! Up to 3.13 ferrotypes closes a gate of its own before finalization starts: an
//! `atexit` hook, run while the interpreter is still whole, marks the gate closed and
//! then, with the GIL released, lets every thread that is inside a callback or taking the
//! GIL back after a foreign call finish (up to [`GRACE`]). After that:
//! * a callback entering from C returns its zeroed result without touching Python, and
//! * a thread returning from a foreign call with the GIL released parks for good instead of
//!   taking the GIL back, as 3.14 does for every thread — the process is ending anyway.
//!
//! The cost, up to 3.13: two atomic read-modify-writes per callback and per call made with
//! the GIL released (about 4 ns here).
use pyo3::prelude::*;
#[cfg(not(Py_3_14))]
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(not(Py_3_14))]
use std::time::{Duration, Instant};

/// Set by the exit hook; never cleared (a process finalizes once).
#[cfg(not(Py_3_14))]
static CLOSING: AtomicBool = AtomicBool::new(false);
/// Threads inside a callback, or between a released call's return and having the GIL back.
#[cfg(not(Py_3_14))]
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// How long the exit hook waits for threads already inside. A callback still running then
/// is left to CPython's own handling of threads that outlive the interpreter.
#[cfg(not(Py_3_14))]
const GRACE: Duration = Duration::from_secs(2);

/// Held while a thread is inside (see the module comment); dropping it lets it out.
pub struct Ticket(());

#[cfg(not(Py_3_14))]
impl Drop for Ticket {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(not(Py_3_14))]
thread_local! {
    /// Callbacks this thread is inside. Only callbacks (already costly) keep it; a call's
    /// return reads it only once the gate is closed.
    static CALLBACK_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(not(Py_3_14))]
fn inside_a_callback() -> bool {
    CALLBACK_DEPTH.try_with(|d| d.get() > 0).unwrap_or(false)
}

/// Takes a ticket, unless the gate is closed and this thread is not inside a callback
/// (which the exit hook is waiting for: it may go on, deeper, and back).
#[cfg(not(Py_3_14))]
fn admit() -> Option<Ticket> {
    // Counted before the gate is read: the exit hook sets the gate before it reads the
    // count, so either this thread sees the gate closed or the hook waits for it.
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    let ticket = Ticket(());
    if CLOSING.load(Ordering::SeqCst) && !inside_a_callback() {
        drop(ticket);
        return None;
    }
    Some(ticket)
}

/// From 3.14 CPython itself keeps a late thread from unwinding: every thread is admitted.
#[cfg(Py_3_14)]
#[inline(always)]
fn admit() -> Option<Ticket> {
    Some(Ticket(()))
}

/// Held while a callback runs.
pub struct CallbackTicket {
    _inside: Ticket,
}

#[cfg(not(Py_3_14))]
impl Drop for CallbackTicket {
    fn drop(&mut self) {
        let _ = CALLBACK_DEPTH.try_with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// A callback from C may run Python code: `None` once the interpreter is going away.
pub fn enter_callback() -> Option<CallbackTicket> {
    let inside = admit()?;
    #[cfg(not(Py_3_14))]
    let _ = CALLBACK_DEPTH.try_with(|d| d.set(d.get() + 1));
    Some(CallbackTicket { _inside: inside })
}

/// Called on a thread that has just returned from a foreign call made with the GIL released,
/// before it takes the GIL back; the ticket is dropped once it has. Never returns once the
/// gate is closed: that thread parks until the process ends.
pub fn before_reattach() -> Ticket {
    match admit() {
        Some(ticket) => ticket,
        None => park_forever(),
    }
}

#[cfg_attr(Py_3_14, allow(dead_code))]
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// The `atexit` hook: closes the gate, then waits (GIL released) for the threads inside.
#[cfg(not(Py_3_14))]
#[pyfunction]
fn close_before_finalization(py: Python<'_>) {
    CLOSING.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + GRACE;
    py.detach(|| {
        while IN_FLIGHT.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
    });
}

/// Registers the exit hook (at module set-up: `atexit` runs hooks in reverse order, so the
/// program's own hooks, registered later, still run with callbacks working).
#[cfg(not(Py_3_14))]
pub fn register_exit_hook(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let hook = wrap_pyfunction!(close_before_finalization, module)?;
    py.import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}

/// From 3.14 there is nothing to register.
#[cfg(Py_3_14)]
pub fn register_exit_hook(_module: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}

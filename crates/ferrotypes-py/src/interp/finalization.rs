//! Interpreter shutdown with foreign threads still running.
//!
//! Up to 3.13, a thread that wants the GIL once `Py_FinalizeEx` has started is ended by
//! CPython with `pthread_exit`, a forced unwind of its whole stack. CPython's own ctypes has
//! only C frames there; ours are Rust frames, and unwinding them that way aborts the
//! process. From 3.14 CPython parks such a thread for good instead, but measured here
//! 3.14's own ctypes still crashes in about one run in five when daemon threads sit in
//! foreign calls and C threads call back while the interpreter finalizes (3.15 adds
//! `PyThreadState_Ensure`, which refuses). So on every version ferrotypes closes a gate of
//! its own before finalization starts: an
//! `atexit` hook, run while the interpreter is still whole, marks the gate closed and
//! then, with the GIL released, lets every thread that is inside a callback or taking the
//! GIL back after a foreign call finish (up to [`GRACE`]). After that:
//! * a callback entering from C returns its zeroed result without touching Python, and
//! * a thread returning from a foreign call with the GIL released parks for good instead of
//!   taking the GIL back, as 3.14 does for every thread — the process is ending anyway.
//!
//! The thread that closed the gate is the one that goes on to run the remaining `atexit`
//! hooks (those registered before `import ferrotypes`, which run after ours) and then
//! `Py_FinalizeEx` itself: CPython never ends that thread, so it is always let through.
//!
//! The cost: two atomic read-modify-writes per callback and per call made with the GIL
//! released. Measured against plain loads and stores on a typed `abs(-5)`, within 1 %; an
//! out-of-line call to the gate cost 2–3 %, so its fast paths are inline and only what runs
//! once the gate is closed is out of line (`docs/performance.md`, the tenth round).
use ferrotypes_core::thread_words::ThreadWords;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Set by the exit hook; never cleared (a process finalizes once).
static CLOSING: AtomicBool = AtomicBool::new(false);
/// Threads inside a callback, or between a released call's return and having the GIL back.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// How long the exit hook waits for threads already inside. A callback still running then
/// is left to CPython's own handling of threads that outlive the interpreter.
const GRACE: Duration = Duration::from_secs(2);

/// Held while a thread is inside (see the module comment); dropping it lets it out.
pub struct Ticket(());

impl Drop for Ticket {
    #[inline(always)]
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Callbacks this thread is inside: a per-thread word reached without `__tls_get_addr`
/// (`ferrotypes_core::thread_words`). Only callbacks keep it; a call's return reads it only
/// once the gate is closed.
fn callback_depth() -> &'static std::cell::Cell<usize> {
    ferrotypes_core::thread_words::callback_depth()
}

fn inside_a_callback() -> bool {
    callback_depth().get() > 0
}

std::thread_local! {
    /// Set on the thread that ran the exit hook (read only once the gate is closed).
    static CLOSED_THE_GATE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this thread closed the gate: the finalizing thread, never ended by CPython.
fn closed_the_gate() -> bool {
    CLOSED_THE_GATE.with(std::cell::Cell::get)
}

/// Takes a ticket, unless the gate is closed and this thread is not inside a callback
/// (which the exit hook is waiting for: it may go on, deeper, and back). Inline, with the
/// closed-gate case out of line: every call made with the GIL released passes here.
#[inline(always)]
fn admit() -> Option<Ticket> {
    // Counted before the gate is read: the exit hook sets the gate before it reads the
    // count, so either this thread sees the gate closed or the hook waits for it.
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    let ticket = Ticket(());
    if CLOSING.load(Ordering::SeqCst) && refused_once_closed() {
        drop(ticket);
        return None;
    }
    Some(ticket)
}

/// Whether a thread returning from a foreign call stays out once the gate is closed: every
/// thread except one inside a callback and the one that closed the gate.
#[cold]
#[inline(never)]
fn refused_once_closed() -> bool {
    !inside_a_callback() && !closed_the_gate()
}

/// Held while a callback runs (not `Send`: it is dropped on the thread that made it).
pub struct CallbackTicket {
    _inside: Ticket,
    /// This thread's callback depth, looked up once per callback.
    depth: &'static std::cell::Cell<usize>,
}

impl Drop for CallbackTicket {
    #[inline]
    fn drop(&mut self) {
        // Paired with the increment in `enter_callback` on this thread: never below 1 here.
        self.depth.set(self.depth.get().wrapping_sub(1));
    }
}

/// A callback from C may run Python code: `None` once the interpreter is going away. While
/// the gate is open the interpreter cannot be finalizing (the exit hook runs before
/// `Py_FinalizeEx` marks it so); once it is closed, a nested callback is admitted only
/// while the interpreter is still whole.
#[inline(always)]
pub fn enter_callback(words: &'static ThreadWords) -> Option<CallbackTicket> {
    // Counted before the gate is read (see `admit`).
    IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
    let inside = Ticket(());
    let depth = &words.callback_depth;
    if CLOSING.load(Ordering::SeqCst) && callback_refused_once_closed(depth.get()) {
        return None;
    }
    // Nesting depth: bounded by the thread's stack long before a word could overflow.
    depth.set(depth.get().wrapping_add(1));
    Some(CallbackTicket { _inside: inside, depth })
}

/// Whether a callback stays out once the gate is closed: a callback from outside every
/// callback (`depth` 0), except on the thread that closed the gate, and any callback once
/// the interpreter is no longer whole.
#[cold]
#[inline(never)]
fn callback_refused_once_closed(depth: usize) -> bool {
    (depth == 0 && !closed_the_gate()) || crate::interp::private_api::interpreter_unavailable()
}

/// Called on a thread that has just returned from a foreign call made with the GIL released,
/// before it takes the GIL back; the ticket is dropped once it has. Never returns once the
/// gate is closed: that thread parks until the process ends.
#[inline(always)]
pub fn before_reattach() -> Ticket {
    match admit() {
        Some(ticket) => ticket,
        None => park_forever(),
    }
}

/// Parks this thread until the process ends (also `thread_state::restore_thread`'s guard).
#[cold]
#[inline(never)]
pub(crate) fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// The `atexit` hook: closes the gate, then waits (GIL released) for the threads inside.
#[pyfunction]
fn close_before_finalization(py: Python<'_>) {
    CLOSED_THE_GATE.with(|c| c.set(true));
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
pub fn register_exit_hook(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let hook = wrap_pyfunction!(close_before_finalization, module)?;
    py.import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}


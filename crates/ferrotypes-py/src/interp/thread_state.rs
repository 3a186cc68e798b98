//! Attaching a thread that C calls back on, without `PyGILState_Ensure`, and releasing the
//! GIL around a fast-lane call without PyO3's bookkeeping.
//!
//! A callback usually arrives on a thread Python knows: the thread that released the GIL
//! for the foreign call now calling back (the C loop, `qsort`), or one that still holds it
//! (`release_gil = False`, nested callbacks). For such a thread `PyGILState_Ensure` looks
//! the thread state up, asks whether it is the current one, takes the GIL with
//! `PyEval_RestoreThread` and bumps a counter; `PyGILState_Release` repeats the look-up and
//! the check before `PyEval_SaveThread`. Here the look-up is done once and the GIL is taken
//! and dropped with the two thread-state calls directly. The counter is left alone: it is
//! at least 1 for every thread this path serves (Python's own threads, and foreign threads
//! pinned by `callbacks::foreign_threads`), so balanced `PyGILState` pairs inside the
//! callback never reach 0 and delete the state.
//!
//! What "this thread is attached" means differs between versions: up to 3.11 the current
//! thread state is one process-wide value (whichever thread holds the GIL), from 3.12 it is
//! per thread. Both answer "is *this* thread's state the current one" the same way, which
//! is the only question asked; anything else (a thread attached with another state, a
//! thread Python never saw) goes back to `PyGILState_Ensure` through PyO3.
use pyo3::ffi;

/// The thread state that is current, or NULL (no exception, no GIL needed). 3.11/3.12:
/// the private `_PyThreadState_UncheckedGet`, which pyo3-ffi's `PyThreadState_GetUnchecked`
/// shim calls; 3.13 made it public under that name.
#[inline]
fn current_thread_state() -> *mut ffi::PyThreadState {
    // SAFETY: reads the current thread state pointer; valid in any state of the thread.
    unsafe { ffi::compat::PyThreadState_GetUnchecked() }
}

/// How a callback got the GIL; dropping it gives back what was taken.
pub enum CallbackAttach {
    /// The thread already held the GIL (a call made with it held, a nested callback).
    AlreadyHeld,
    /// The GIL was taken for this callback with the thread's own state.
    Restored,
}

impl Drop for CallbackAttach {
    #[inline]
    fn drop(&mut self) {
        if let CallbackAttach::Restored = self {
            // SAFETY: this thread took the GIL with `PyEval_RestoreThread` in `attach` and
            // everything it ran since has given back whatever it took: it holds the GIL
            // with its own state, which SaveThread detaches (the state itself stays).
            unsafe {
                ffi::PyEval_SaveThread();
            }
        }
    }
}

/// Attaches this thread for a callback when Python already has a thread state for it;
/// `None` when it has none or is attached with another state (the caller then goes
/// through `PyGILState_Ensure`).
///
/// # Safety
/// The interpreter is initialized and not finalizing (the finalization gate is open or this
/// thread is inside a callback already).
#[inline]
pub unsafe fn attach_for_callback() -> Option<CallbackAttach> {
    // SAFETY: reads this thread's gilstate slot; the runtime is initialized (contract).
    let own = unsafe { ffi::PyGILState_GetThisThreadState() };
    if own.is_null() {
        return None;
    }
    let current = current_thread_state();
    if current == own {
        return Some(CallbackAttach::AlreadyHeld);
    }
    if !current.is_null() && current_is_per_thread() {
        return None;
    }
    // SAFETY: `own` is this thread's live state and not current: this thread holds no GIL
    // (3.12+: no state is current on it; 3.11: its own is not the current one, as
    // `PyGILState_Ensure` concludes too). The interpreter is not finalizing (contract), so
    // taking the GIL returns.
    unsafe { ffi::PyEval_RestoreThread(own) };
    Some(CallbackAttach::Restored)
}

/// Whether the current thread state is per thread (3.12+) rather than one global value
/// naming the GIL holder (3.11).
#[inline]
const fn current_is_per_thread() -> bool {
    cfg!(Py_3_12)
}

/// This thread's Python thread state, if Python has one for it (created by Python, or by a
/// `PyGILState_Ensure` still in force). Needs no GIL.
pub fn this_thread_has_state() -> bool {
    // SAFETY: reads this thread's gilstate slot; callable without the GIL once the runtime
    // is initialized (the only callers run after the module was imported).
    !unsafe { ffi::PyGILState_GetThisThreadState() }.is_null()
}

/// Runs `f` with the GIL released: `PyEval_SaveThread` before, `PyEval_RestoreThread`
/// after (also when `f` panics), what CPython's `Py_BEGIN/END_ALLOW_THREADS` and cffi's
/// compiled calls do. PyO3's `detach` also zeroes its thread-local attach count around `f`
/// and looks at its deferred-release queue afterwards (two `__tls_get_addr` round trips and
/// about 40 instructions a call); neither is needed here, because `f` runs no PyO3 code:
/// callbacks arriving on this thread meanwhile take the GIL with its own thread state
/// (`attach_for_callback`) or with a raw `PyGILState_Ensure` (`callbacks::thunk`), never
/// through PyO3's attach, which would trust the count left at its attached value.
///
/// # Safety
/// `f` touches no Python object and calls nothing that uses the C API or PyO3's attach;
/// the thread state that `PyEval_RestoreThread` takes back must still be usable (the
/// finalization gate's ticket, taken inside `f` before it returns, sees to that).
#[inline(always)]
pub unsafe fn released<R>(_py: pyo3::Python<'_>, f: impl FnOnce() -> R) -> R {
    struct Reattach(*mut ffi::PyThreadState);
    impl Drop for Reattach {
        #[inline(always)]
        fn drop(&mut self) {
            // SAFETY: the state `PyEval_SaveThread` returned on this thread, which holds no
            // GIL now (`released` gave it up and `f` took nothing it did not give back).
            unsafe { ffi::PyEval_RestoreThread(self.0) };
        }
    }
    // SAFETY: the GIL is held (the `Python` token); the state is taken back on drop.
    let _reattach = Reattach(unsafe { ffi::PyEval_SaveThread() });
    f()
}

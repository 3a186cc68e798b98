//! Attaching a thread that C calls back on, without `PyGILState_Ensure`, and releasing the
//! GIL around a fast-lane call without PyO3's bookkeeping.
//!
//! A callback usually arrives on a thread Python knows: the thread that released the GIL
//! for the foreign call now calling back (the C loop, `qsort`), or one that still holds it
//! (`release_gil = False`, nested callbacks). For such a thread `PyGILState_Ensure` looks
//! the thread state up, asks whether it is the current one, takes the GIL with
//! `PyEval_RestoreThread` and bumps a counter; `PyGILState_Release` repeats the look-up and
//! the check before `PyEval_SaveThread`. Here the look-up is done once and the GIL is taken
//! and dropped with the two thread-state calls directly; a thread inside a fast-lane call
//! does not even look up: the call left the state it gave up in the thread's word
//! (`ferrotypes_core::thread_words`), where the callback finds it with one load. The counter is left alone: it is
//! at least 1 for every thread this path serves (Python's own threads, and foreign threads
//! pinned by `callbacks::foreign_threads`), so balanced `PyGILState` pairs inside the
//! callback never reach 0 and delete the state.
//!
//! What "this thread is attached" means differs between versions: up to 3.11 the current
//! thread state is one process-wide value (whichever thread holds the GIL), from 3.12 it is
//! per thread. Both answer "is *this* thread's state the current one" the same way, which
//! is the only question asked; anything else (a thread attached with another state, a
//! thread Python never saw) goes back to `PyGILState_Ensure` through PyO3.
use super::finalization;
use ferrotypes_core::thread_words::{self, ThreadWords};
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
pub struct CallbackAttach {
    /// The state the GIL was taken with for this callback; null when the thread already
    /// held it (a call made with the GIL held, a nested callback).
    taken: *mut ffi::PyThreadState,
    /// Set when `taken` is the state this thread gave up for the fast-lane call it is inside
    /// ([`released`]): it goes back into the thread's word afterwards.
    restash: Option<&'static ThreadWords>,
}

impl Drop for CallbackAttach {
    #[inline]
    fn drop(&mut self) {
        if self.taken.is_null() {
            return;
        }
        // SAFETY: this thread took the GIL with `PyEval_RestoreThread(taken)` in `attach`
        // and everything it ran since has given back whatever it took: it holds the GIL with
        // that state, which SaveThread detaches (the state itself stays).
        unsafe { ffi::PyEval_SaveThread() };
        if let Some(words) = self.restash {
            // The thread is back inside the foreign call, without the GIL.
            words.released_state.set(self.taken.cast());
        }
    }
}

/// Attaches this thread for a callback when Python already has a thread state for it;
/// `None` when it has none or is attached with another state (the caller then goes
/// through `PyGILState_Ensure`). `words` are this thread's.
///
/// A thread inside a fast-lane call made with the GIL released ([`released`]) finds the
/// state it gave up in its word, one load, where `PyGILState_GetThisThreadState` looks it
/// up in a pthread key (about 25 instructions). The word is null whenever the thread holds
/// the GIL, so a callback nested inside this one (made by a call with the GIL held) does not
/// find it; if C code inside the call took the GIL itself (`PyGILState_Ensure`) and then
/// calls back, the state is already current and the look-up below sees that.
///
/// # Safety
/// The interpreter is initialized and not finalizing (the finalization gate is open or this
/// thread is inside a callback already).
#[inline]
pub unsafe fn attach_for_callback(words: &'static ThreadWords) -> Option<CallbackAttach> {
    let stashed = words.released_state.get().cast::<ffi::PyThreadState>();
    let current = current_thread_state();
    if !stashed.is_null() && current != stashed {
        words.released_state.set(std::ptr::null_mut());
        // SAFETY: the state this thread gave up in `released` and takes back only when the
        // foreign call returns, after this callback: alive, and this thread holds no GIL
        // (it is not current; 3.11: not the global current one either, which is what
        // `PyGILState_Ensure` concludes from the same test). The interpreter is not
        // finalizing (contract), so taking the GIL returns.
        unsafe { restore_thread(stashed) };
        return Some(CallbackAttach { taken: stashed, restash: Some(words) });
    }
    // SAFETY: reads this thread's gilstate slot; the runtime is initialized (contract).
    let own = unsafe { ffi::PyGILState_GetThisThreadState() };
    if own.is_null() {
        return None;
    }
    if current == own {
        return Some(CallbackAttach { taken: std::ptr::null_mut(), restash: None });
    }
    if !current.is_null() && current_is_per_thread() {
        return None;
    }
    // SAFETY: `own` is this thread's live state and not current: this thread holds no GIL
    // (3.12+: no state is current on it; 3.11: its own is not the current one, as
    // `PyGILState_Ensure` concludes too). The interpreter is not finalizing (contract), so
    // taking the GIL returns.
    unsafe { restore_thread(own) };
    Some(CallbackAttach { taken: own, restash: None })
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
/// Before the GIL is taken back, the thread passes the finalization gate
/// (`finalization::before_reattach`): it holds the gate's ticket until it has the GIL, and
/// once the interpreter is about to finalize it parks there instead. Inline, like the rest:
/// a call out of line here costs more than the gate's own work (about 2 % of a typed
/// `abs(-5)`, `benches/call_floor.py`).
///
/// # Safety
/// `f` touches no Python object and calls nothing that uses the C API or PyO3's attach.
#[inline(always)]
pub unsafe fn released<R>(_py: pyo3::Python<'_>, f: impl FnOnce() -> R) -> R {
    /// Takes the GIL back if `f` unwinds, so that the unwinding goes on with it held; on
    /// the usual return it is forgotten and the same is done inline (drop glue is a call).
    struct ReattachOnUnwind(*mut ffi::PyThreadState, &'static ThreadWords);
    impl Drop for ReattachOnUnwind {
        #[cold]
        fn drop(&mut self) {
            // SAFETY: as on the usual return below.
            unsafe { reattach(self.0, self.1) };
        }
    }
    let words = thread_words::this_thread();
    // SAFETY: the GIL is held (the `Python` token); the state is taken back after `f`.
    let state = unsafe { ffi::PyEval_SaveThread() };
    // Callbacks on this thread during `f` take the GIL back with it (`attach_for_callback`).
    words.released_state.set(state.cast());
    let unwinding = ReattachOnUnwind(state, words);
    let result = f();
    std::mem::forget(unwinding);
    // SAFETY: the state `PyEval_SaveThread` returned on this thread, which holds no GIL now
    // (`f` took nothing it did not give back).
    unsafe { reattach(state, words) };
    result
}

/// The end of [`released`]: the finalization gate (its ticket held until the GIL is back),
/// the thread's word cleared, the GIL taken back with `state`.
///
/// # Safety
/// `state` is the state this thread gave up with `PyEval_SaveThread`, and it holds no GIL.
#[inline(always)]
unsafe fn reattach(state: *mut ffi::PyThreadState, words: &'static ThreadWords) {
    let _ticket = finalization::before_reattach();
    // The thread is about to hold the GIL: its word is null again.
    words.released_state.set(std::ptr::null_mut());
    // SAFETY: per the contract; the gate let the thread through, so the interpreter is not
    // finalizing.
    unsafe { restore_thread(state) };
}

/// `PyEval_RestoreThread`, inline. Up to 3.13 CPython ends a thread that wants the GIL once
/// the interpreter is finalizing with `pthread_exit`, a forced unwind, which must not go on
/// through Rust frames; pyo3-ffi's `PyEval_RestoreThread` wraps the call in a guard that
/// parks the thread for good if that unwind starts (what 3.14 does itself). Its wrapper is a
/// function of its own, one call more on every fast-lane call and callback; this is the same
/// guard inline (the C function declared `C-unwind`, as pyo3-ffi declares it). The
/// finalization gate (`finalization.rs`) keeps threads from getting here once it is closed;
/// the guard covers a thread that passed the gate while the exit hook's wait ran out.
///
/// # Safety
/// As `PyEval_RestoreThread`: `state` is a thread state of this thread that is not current,
/// and this thread holds no GIL.
#[inline(always)]
pub unsafe fn restore_thread(state: *mut ffi::PyThreadState) {
    #[cfg(all(unix, not(Py_3_14)))]
    {
        /// Parks the thread for good if a forced unwind runs through this frame.
        struct HangThread;
        impl Drop for HangThread {
            #[cold]
            fn drop(&mut self) {
                finalization::park_forever()
            }
        }
        extern "C-unwind" {
            fn PyEval_RestoreThread(tstate: *mut ffi::PyThreadState);
        }
        let hang = HangThread;
        // SAFETY: per the contract; a forced unwind out of it stops in `hang`'s drop.
        unsafe { PyEval_RestoreThread(state) };
        std::mem::forget(hang);
    }
    #[cfg(not(all(unix, not(Py_3_14))))]
    // SAFETY: per the contract (from 3.14 CPython parks such a thread itself; elsewhere
    // pyo3-ffi's wrapper, which links the interpreter's symbol as the platform needs).
    unsafe {
        ffi::PyEval_RestoreThread(state)
    };
}

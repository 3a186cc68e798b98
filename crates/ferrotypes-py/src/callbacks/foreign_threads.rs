//! Foreign threads calling back: a thread Python did not create gets one Python thread
//! state on its first callback and keeps it until the thread exits.
use crate::interp::private_api::interpreter_unavailable;
use pyo3::ffi;
use std::cell::Cell;

thread_local! {
    /// Set on a thread that had no Python thread state when a callback first ran on it: the
    /// state created then is kept until the thread exits (see [`pin_thread_state`]).
    static PINNED: Cell<Option<PinnedThreadState>> = const { Cell::new(None) };
}

/// One extra `PyGILState_Ensure` reference held for a foreign thread's lifetime, so its
/// thread state (and everything Python caches in it) survives between callbacks.
struct PinnedThreadState;

impl Drop for PinnedThreadState {
    fn drop(&mut self) {
        // Runs at thread exit. After finalization started the interpreter owns (or has
        // already freed) the thread state: leave it alone.
        if interpreter_unavailable() {
            return;
        }
        // SAFETY: this thread holds one gilstate reference (taken in `pin_thread_state`) and
        // no GIL. Ensure takes the GIL (counter 2); releasing the pinned reference as
        // "locked" only drops the counter to 1 (no GIL hand-off in between), and releasing
        // ours drops it to 0, which deletes the thread state and releases the GIL.
        unsafe {
            let ours = ffi::PyGILState_Ensure();
            ffi::PyGILState_Release(ffi::PyGILState_STATE::PyGILState_LOCKED);
            ffi::PyGILState_Release(ours);
        }
    }
}

/// CPython creates and destroys a thread state on every callback from a thread Python did
/// not create. Instead, the first callback on such a thread creates one and keeps it (one
/// `PyGILState_Ensure` reference without the GIL) until the thread exits.
///
/// Called only while the interpreter is available (checked by the caller).
pub fn pin_thread_state() {
    // SAFETY: reads this thread's gilstate TSS slot (no GIL needed); the runtime is
    // initialized and not finalizing (caller's check), so the slot is valid.
    if !unsafe { ffi::PyGILState_GetThisThreadState() }.is_null() {
        return;
    }
    // SAFETY: no thread state exists for this thread: Ensure creates one and takes the GIL;
    // SaveThread releases the GIL but keeps the thread state (its counter stays 1).
    let _ = PINNED.try_with(|p| unsafe {
        let _ = ffi::PyGILState_Ensure();
        ffi::PyEval_SaveThread();
        // A previous pin whose thread state is gone (the interpreter deleted it) must not
        // be released again.
        std::mem::forget(p.replace(Some(PinnedThreadState)));
    });
}

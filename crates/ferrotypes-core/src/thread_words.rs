//! Per-thread counters read on hot paths, at the cost of one load where the platform allows.
//!
//! Rust's own thread-locals in a shared library (which a Python extension is) are reached
//! through `__tls_get_addr` on every access. On Unix the words live in `thread_words.c`,
//! declared in the initial-exec TLS model; elsewhere a Rust thread-local stands in (same
//! behaviour, the usual cost).
use std::cell::Cell;

#[cfg(unix)]
extern "C" {
    fn ferro_callback_depth() -> *mut usize;
}

/// This thread's "callbacks I am inside" counter. The address is fixed for the thread's
/// life and the word is never touched by another thread: keep it while on this thread.
#[cfg(unix)]
#[inline]
pub fn callback_depth() -> &'static Cell<usize> {
    // SAFETY: the C function returns the address of this thread's own initial-exec TLS
    // word, valid (and zero-initialised) for as long as the thread runs; `Cell<usize>` has
    // the layout of `usize`. The `'static` reference must stay on this thread: `Cell` is
    // not `Sync`, so safe code cannot send it to another one.
    unsafe { &*(ferro_callback_depth() as *const Cell<usize>) }
}

#[cfg(not(unix))]
#[inline]
pub fn callback_depth() -> &'static Cell<usize> {
    thread_local! {
        static DEPTH: Cell<usize> = const { Cell::new(0) };
    }
    // SAFETY: a const-initialised thread-local without destructor lives as long as its
    // thread; the reference stays on this thread (as above).
    DEPTH.with(|d| unsafe { &*(d as *const Cell<usize>) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_has_its_own_word() {
        let here = callback_depth();
        here.set(here.get() + 3);
        assert_eq!(callback_depth().get(), 3);
        let there = std::thread::spawn(|| {
            let d = callback_depth();
            d.set(d.get() + 1);
            (d.get(), d as *const Cell<usize> as usize)
        })
        .join()
        .unwrap();
        assert_eq!(there.0, 1);
        assert_ne!(there.1, here as *const Cell<usize> as usize);
        assert_eq!(callback_depth().get(), 3);
        here.set(0);
    }
}

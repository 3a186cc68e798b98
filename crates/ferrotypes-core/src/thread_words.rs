//! Per-thread words read on hot paths, at the cost of one load where the platform allows.
//!
//! Rust's own thread-locals in a shared library (which a Python extension is) are reached
//! through `__tls_get_addr` on every access. On Unix the words live in `thread_words.c`,
//! declared in the initial-exec TLS model: on x86-64 Linux their address is computed inline
//! (two instructions, `words_address`), on other Unix systems the C accessor returns it;
//! elsewhere a Rust thread-local stands in (same behaviour, the usual cost).
use std::cell::Cell;
use std::ffi::c_void;

/// One thread's words (the layout of `struct ferro_thread_words` in `thread_words.c`).
#[repr(C)]
pub struct ThreadWords {
    /// The callbacks this thread is inside.
    pub callback_depth: Cell<usize>,
    /// The thread state this thread gave up for a foreign call it is inside, while it does
    /// not hold the GIL; null otherwise. Its user keeps it so (see ferrotypes' thread_state).
    pub released_state: Cell<*mut c_void>,
}

// The C accessor: the address everywhere but x86-64 Linux, where `words_address` computes
// it inline (and the tests compare the two).
#[cfg(all(unix, any(test, not(all(target_arch = "x86_64", target_os = "linux")))))]
extern "C" {
    fn ferro_thread_words() -> *mut ThreadWords;
}

/// This thread's words. The address is fixed for the thread's life and the words are never
/// touched by another thread: keep the reference while on this thread.
#[cfg(unix)]
#[inline(always)]
pub fn this_thread() -> &'static ThreadWords {
    // SAFETY: the address of this thread's own initial-exec TLS struct, valid (and
    // zero-initialised: 0 and NULL) for as long as the thread runs, with `ThreadWords`'
    // layout (`Cell<T>` has `T`'s). The `'static` reference must stay on this thread:
    // `Cell` is not `Sync`, so safe code cannot send it to another one.
    unsafe { &*words_address() }
}

/// The address of this thread's `ferro_thread_words_tls`, computed in place: the thread
/// pointer (`fs:0` holds its own address) plus the variable's offset, which the dynamic
/// linker stores in the GOT entry of the initial-exec access (the `R_X86_64_GOTTPOFF`
/// relocation, the same two instructions the C compiler emits for such an access). A call
/// to the C function costs more than the rest of the word's use on a fast-lane call (about
/// 3 % of a typed `abs(-5)`, measured with `benches/call_floor.py`).
#[cfg(all(unix, target_arch = "x86_64", target_os = "linux"))]
#[inline(always)]
fn words_address() -> *mut ThreadWords {
    let address: *mut ThreadWords;
    // SAFETY: reads the thread pointer and a GOT entry the dynamic linker filled in at load
    // time (never written afterwards); no stack use, and the result depends only on the
    // thread, so the block is pure and may be merged or hoisted within one thread.
    unsafe {
        std::arch::asm!(
            "mov {address}, qword ptr fs:[0]",
            "add {address}, qword ptr [rip + ferro_thread_words_tls@GOTTPOFF]",
            address = out(reg) address,
            options(pure, readonly, nostack),
        );
    }
    address
}

/// Elsewhere on Unix, the C function's answer (one call).
#[cfg(all(unix, not(all(target_arch = "x86_64", target_os = "linux"))))]
#[inline(always)]
fn words_address() -> *mut ThreadWords {
    // SAFETY: the C function returns this thread's own TLS struct (see `this_thread`).
    unsafe { ferro_thread_words() }
}

#[cfg(not(unix))]
#[inline]
pub fn this_thread() -> &'static ThreadWords {
    thread_local! {
        static WORDS: ThreadWords = const {
            ThreadWords { callback_depth: Cell::new(0), released_state: Cell::new(std::ptr::null_mut()) }
        };
    }
    // SAFETY: a const-initialised thread-local without destructor lives as long as its
    // thread; the reference stays on this thread (as above).
    WORDS.with(|w| unsafe { &*(w as *const ThreadWords) })
}

/// This thread's "callbacks I am inside" counter (see [`this_thread`]).
#[inline]
pub fn callback_depth() -> &'static Cell<usize> {
    &this_thread().callback_depth
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

    #[cfg(unix)]
    #[test]
    fn the_inline_address_is_the_c_variable_on_every_thread() {
        fn pair() -> (usize, usize) {
            // SAFETY: the C function only returns the address of this thread's struct.
            (this_thread() as *const ThreadWords as usize, unsafe { ferro_thread_words() } as usize)
        }
        let here = pair();
        assert_eq!(here.0, here.1);
        let there = std::thread::spawn(pair).join().unwrap();
        assert_eq!(there.0, there.1);
        assert_ne!(here.0, there.0);
    }

    #[test]
    fn released_state_starts_null_on_every_thread() {
        let words = this_thread();
        assert!(words.released_state.get().is_null());
        words.released_state.set(words as *const ThreadWords as *mut c_void);
        let there = std::thread::spawn(|| this_thread().released_state.get().is_null()).join().unwrap();
        assert!(there);
        assert!(!this_thread().released_state.get().is_null());
        words.released_state.set(std::ptr::null_mut());
    }
}

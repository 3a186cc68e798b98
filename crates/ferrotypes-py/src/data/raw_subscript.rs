//! A raw `mp_subscript` in front of PyO3's: arrays and pointers read `x[i]` of native
//! scalars without PyO3's trampoline, and hand every other case (slices, errors, checked
//! mode, other item types) to the root's own PyO3 entry, remembered here once at module
//! set-up. One `RawSubscript` per root.

use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::ffi;

/// The root's PyO3 `mp_subscript` (0 until [`RawSubscript::remember`] ran).
pub struct RawSubscript {
    general: AtomicUsize,
}

impl RawSubscript {
    pub const fn new() -> Self {
        RawSubscript { general: AtomicUsize::new(0) }
    }

    /// Remembers `root`'s own `mp_subscript` (module set-up, once per root).
    pub fn remember(&self, root: *mut ffi::PyTypeObject) {
        // SAFETY: `root` is a live, ready root type of this module; its mapping methods
        // are only read.
        let general = unsafe { (*root).tp_as_mapping.as_ref().and_then(|m| m.mp_subscript) };
        if let Some(f) = general {
            self.general.store(f as usize, Ordering::Relaxed);
        }
    }

    /// Gives a new class the raw entry `raw` if it inherited the root's (a class defining
    /// `__getitem__` in Python keeps its own). Each class needs it set: a heap subclass
    /// takes the slot from the root's `__getitem__` wrapper, i.e. PyO3's entry.
    pub fn enable(&self, tp: *mut ffi::PyTypeObject, raw: ffi::binaryfunc) {
        let general = self.general.load(Ordering::Relaxed);
        if general == 0 {
            return;
        }
        // SAFETY: `tp` is a live heap type just created by one of our metaclasses; its
        // mapping methods live in its own heap type object, written before any other
        // thread can see the class.
        unsafe {
            if let Some(m) = (*tp).tp_as_mapping.as_mut() {
                if m.mp_subscript.map(|f| f as usize) == Some(general) {
                    m.mp_subscript = Some(raw);
                }
            }
        }
    }

    /// Hands `obj[key]` to the root's PyO3 entry.
    ///
    /// # Safety
    /// Called from a raw `mp_subscript` with the GIL held and `obj`/`key` live; the raw
    /// entry is only installed by [`RawSubscript::enable`], after `remember` stored the
    /// general entry, so it is set.
    pub unsafe fn general(&self, obj: *mut ffi::PyObject, key: *mut ffi::PyObject) -> *mut ffi::PyObject {
        let general = self.general.load(Ordering::Relaxed);
        debug_assert!(general != 0, "raw mp_subscript installed before the general one was remembered");
        // SAFETY: a non-zero value was stored from a valid `binaryfunc` by `remember`
        // (see the function's contract); the caller holds the GIL and live arguments.
        unsafe {
            let general: ffi::binaryfunc = std::mem::transmute::<usize, ffi::binaryfunc>(general);
            general(obj, key)
        }
    }
}

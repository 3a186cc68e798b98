//! A lookup cache keyed by a type's version tag (`tp_version_tag`), for per-class values
//! found by an MRO lookup (a ctypes class's storage info) on paths where the interpreter's
//! own attribute cache and PyO3's checks around it cost more than the operation
//! (`arr[i]`, class calls).
//!
//! Why it is sound: CPython gives a type a version tag no other type ever had (tags are
//! never reused: the specializing interpreter relies on it too) and resets it to 0 whenever
//! the type or a base changes (`PyType_Modified`). An entry therefore stays right for as
//! long as its tag is the type's current one; a changed or dead type's entry is never
//! matched again, and its value is never read. Up to 3.11 the tag counts only while the
//! type has `Py_TPFLAGS_VALID_VERSION_TAG`; from 3.12 a nonzero tag is valid.
use crate::interp::GilCell;
use pyo3::ffi;

const SLOTS: usize = 256;

/// Values (borrowed pointers owned by the types they belong to) by version tag.
pub struct TypeVersionCache {
    entries: [GilCell<(u32, usize)>; SLOTS],
}

impl Default for TypeVersionCache {
    fn default() -> Self {
        TypeVersionCache::new()
    }
}

impl TypeVersionCache {
    pub const fn new() -> Self {
        TypeVersionCache { entries: [const { GilCell::new((0, 0)) }; SLOTS] }
    }

    /// The type's current version tag, if it has a valid one.
    ///
    /// # Safety
    /// `tp` is a live type object; the GIL is held.
    #[inline]
    pub unsafe fn tag(tp: *mut ffi::PyTypeObject) -> Option<u32> {
        // SAFETY: reading two fields of a live type object (contract).
        let (tag, _flags) = unsafe { ((*tp).tp_version_tag, (*tp).tp_flags) };
        #[cfg(not(Py_3_12))]
        if _flags & ffi::Py_TPFLAGS_VALID_VERSION_TAG == 0 {
            return None;
        }
        (tag != 0).then_some(tag)
    }

    /// The value stored for `tp`'s current version, if any.
    ///
    /// # Safety
    /// `tp` is a live type object; the GIL is held.
    #[inline]
    pub unsafe fn get(&self, tp: *mut ffi::PyTypeObject) -> Option<*mut ffi::PyObject> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.get_word(tp) }.map(|value| value as *mut ffi::PyObject)
    }

    /// Remembers `value` for `tp`'s current version (nothing if it has none): `value` must
    /// stay alive while the type is unchanged (an object in its MRO's dicts).
    ///
    /// # Safety
    /// `tp` is a live type object; the GIL is held.
    #[inline]
    pub unsafe fn put(&self, tp: *mut ffi::PyTypeObject, value: *mut ffi::PyObject) {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.put_word(tp, value as usize) }
    }

    /// As [`TypeVersionCache::get`], for a cache whose values are not object pointers (a
    /// decision about the class, or the address of a Rust value its dicts keep alive).
    ///
    /// # Safety
    /// `tp` is a live type object; the GIL is held.
    #[inline]
    pub unsafe fn get_word(&self, tp: *mut ffi::PyTypeObject) -> Option<usize> {
        // SAFETY: forwarded from this function's contract.
        let tag = unsafe { Self::tag(tp) }?;
        let (stored, value) = self.entries[tag as usize % SLOTS].get();
        (stored == tag).then_some(value)
    }

    /// As [`TypeVersionCache::put`], for [`TypeVersionCache::get_word`]'s values: what
    /// `value` stands for must stay true while the type keeps its version.
    ///
    /// # Safety
    /// `tp` is a live type object; the GIL is held.
    #[inline]
    pub unsafe fn put_word(&self, tp: *mut ffi::PyTypeObject, value: usize) {
        // SAFETY: forwarded from this function's contract.
        if let Some(tag) = unsafe { Self::tag(tp) } {
            self.entries[tag as usize % SLOTS].set((tag, value));
        }
    }
}

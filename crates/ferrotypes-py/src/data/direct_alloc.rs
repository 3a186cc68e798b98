//! Direct allocation: instances made with the type's `tp_alloc` and their Rust value
//! written in place, as CPython's own types are made (see [`DirectLayout`]).
use pyo3::ffi;
use pyo3::prelude::*;

/// Where a frozen pyclass's Rust value sits inside its instances, for allocating them with
/// the type's `tp_alloc` and writing the value in place — what CPython's own types do —
/// instead of through PyO3's constructor path (`object.__new__`, an eagerly built instance
/// dictionary, the initializer machinery). Measured once on an instance PyO3 built and
/// checked against the types' sizes: the value must sit right after the object header with
/// nothing after it; otherwise the layout is never used and callers keep PyO3's path.
pub struct DirectLayout {
    offset: std::sync::atomic::AtomicUsize,
}

/// Where a calibrated layout keeps a `T`: right after the object header (the one offset
/// [`DirectLayout::calibrate`] accepts), as a constant for the hottest slots.
pub const fn value_offset<T>() -> usize {
    std::mem::size_of::<ffi::PyObject>().next_multiple_of(std::mem::align_of::<T>())
}

impl Default for DirectLayout {
    fn default() -> Self {
        DirectLayout::new()
    }
}

impl DirectLayout {
    pub const fn new() -> Self {
        DirectLayout { offset: std::sync::atomic::AtomicUsize::new(0) }
    }

    /// Measures the layout on `probe` and checks it against every type in `types` (types
    /// whose instances hold exactly a `T` and empty Rust parts).
    pub fn calibrate<T>(&self, probe: &Bound<'_, T>, types: &[*mut ffi::PyTypeObject])
    where
        T: pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync,
    {
        let offset = probe.get() as *const T as usize - probe.as_ptr() as usize;
        let header = value_offset::<T>();
        let end = (offset + std::mem::size_of::<T>()).next_multiple_of(std::mem::align_of::<T>());
        // SAFETY: reading the size fields of live type objects.
        let sizes_fit = types.iter().all(|&tp| unsafe { (*tp).tp_basicsize as usize <= end && (*tp).tp_itemsize == 0 });
        if offset == header && sizes_fit {
            self.offset.store(offset, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Where the value sits in an instance (0 until calibrated).
    #[inline]
    pub fn offset(&self) -> usize {
        self.offset.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether [`DirectLayout::alloc`] may be used.
    #[inline]
    pub fn ready(&self) -> bool {
        self.offset.load(std::sync::atomic::Ordering::Relaxed) != 0
    }

    /// A new instance of `subtype` holding `value`.
    ///
    /// # Safety
    /// [`DirectLayout::ready`] returned true, `T` is the type this layout was calibrated
    /// for, and `subtype` is a live type deriving from one of the calibrated types.
    pub unsafe fn alloc<'py, T>(&self, py: Python<'py>, subtype: *mut ffi::PyTypeObject, value: T) -> PyResult<Bound<'py, PyAny>> {
        let offset = self.offset.load(std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `subtype` is a live type (contract); its tp_alloc returns a zeroed object
        // of its basic size (GC-tracked if the type is a GC type) or NULL with an exception.
        let obj = unsafe {
            let alloc = (*subtype).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
            alloc(subtype, 0)
        };
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: the type derives from a calibrated one, so its instances hold the `T` at
        // `offset` (and only empty Rust parts after it). The slot is zeroed, unowned memory:
        // writing without dropping is right; the type's tp_dealloc (PyO3's) drops it like a
        // value PyO3 wrote itself.
        unsafe { std::ptr::write((obj as *mut u8).add(offset) as *mut T, value) };
        // SAFETY: `obj` is a new reference.
        Ok(unsafe { Bound::from_owned_ptr(py, obj) })
    }
}

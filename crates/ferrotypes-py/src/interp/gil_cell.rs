//! `GilCell`, the interior mutability of pyclass fields. It relies on the GIL-enabled
//! build: a free-threaded interpreter would need another design here.
use pyo3::prelude::*;
use std::cell::UnsafeCell;

/// Interior mutability for pyclass fields, serialised by the GIL.
///
/// ferrotypes is built for the GIL-enabled interpreter only (3.11), so every access happens
/// with the GIL held and no two threads touch a `GilCell` at once. The API only copies values
/// in and out (never hands out references), so re-entrant Python code run between two
/// accesses cannot invalidate anything.
pub struct GilCell<T>(UnsafeCell<T>);

// SAFETY: see the type's documentation: all access is under the GIL, one thread at a time.
unsafe impl<T> Sync for GilCell<T> {}
// SAFETY: values in a GilCell (raw pointers to memory the owning object manages, Python
// references) may be used from whichever thread holds the GIL.
unsafe impl<T> Send for GilCell<T> {}

impl<T> GilCell<T> {
    pub const fn new(v: T) -> Self {
        GilCell(UnsafeCell::new(v))
    }

    /// Replaces the value, returning the old one.
    pub fn replace(&self, v: T) -> T {
        // SAFETY: GIL-serialised access (type docs); no reference to the inside escapes.
        unsafe { std::mem::replace(&mut *self.0.get(), v) }
    }
}

impl<T> GilCell<T> {
    /// Raw pointer to the contents, for memory that C reads and writes (inline buffers).
    pub fn as_ptr(&self) -> *mut T {
        self.0.get()
    }
}

impl<T: Copy> GilCell<T> {
    pub fn get(&self) -> T {
        // SAFETY: GIL-serialised access; `T: Copy` so we only copy out.
        unsafe { *self.0.get() }
    }
    pub fn set(&self, v: T) {
        // SAFETY: GIL-serialised access; no reference to the inside escapes.
        unsafe { *self.0.get() = v }
    }
}

impl GilCell<Option<Py<PyAny>>> {
    /// A new strong reference to the stored object, if any.
    pub fn get_ref(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        // SAFETY: GIL-serialised access; the clone takes a new reference while we hold the GIL.
        unsafe { (*self.0.get()).as_ref().map(|o| o.clone_ref(py)) }
    }
    /// A new strong reference to the stored object, if any, as a `Bound`: released with a
    /// plain decref when dropped, even where PyO3 does not count this thread as attached
    /// (callbacks, see `callbacks::thunk`).
    #[inline]
    pub fn get_bound<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        // SAFETY: GIL-serialised access; the clone takes a new reference while we hold the GIL.
        unsafe { (*self.0.get()).as_ref().map(|o| o.bind(py).clone()) }
    }
    /// Whether an object is stored.
    pub fn is_some(&self) -> bool {
        // SAFETY: GIL-serialised access; only the discriminant is read.
        unsafe { (*self.0.get()).is_some() }
    }
    /// Visits the stored object for the garbage collector.
    pub fn traverse(&self, visit: &pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        // SAFETY: GC traversal runs with the GIL held and does not run Python code that could
        // mutate the cell while the reference is in use.
        if let Some(o) = unsafe { &*self.0.get() } {
            visit.call(o)?;
        }
        Ok(())
    }
}

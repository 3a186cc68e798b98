//! Small shared pieces: GIL-serialised interior mutability and the per-type info lookup.
use crate::stginfo::StgInfo;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;
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

unsafe extern "C" {
    /// CPython's cached MRO lookup (exported by the 3.11 interpreter; not in pyo3-ffi).
    /// Returns a borrowed reference or NULL, without setting an exception.
    fn _PyType_Lookup(ty: *mut ffi::PyTypeObject, name: *mut ffi::PyObject) -> *mut ffi::PyObject;
}

pub const STGINFO_KEY: &str = "_stginfo_";

/// The storage info of a ctypes type, found through the type's MRO (CPython 3.11 keeps it in
/// the type's dict too). `None` for non-ctypes types and the abstract roots.
pub fn stginfo_of_type<'py>(ty: &Bound<'py, PyAny>) -> Option<Bound<'py, StgInfo>> {
    let py = ty.py();
    // SAFETY: PyType_Check only reads the object's type flags.
    if unsafe { ffi::PyType_Check(ty.as_ptr()) } == 0 {
        return None;
    }
    let key = pyo3::intern!(py, STGINFO_KEY);
    // SAFETY: `ty` is a type object (checked above) and `key` an interned str; the result is
    // a borrowed reference that we turn into an owned one before anything else runs.
    let found = unsafe { _PyType_Lookup(ty.as_ptr().cast(), key.as_ptr()) };
    if found.is_null() {
        return None;
    }
    // SAFETY: `found` is a valid borrowed reference (see above); we take a new reference.
    let obj = unsafe { Bound::from_borrowed_ptr(py, found) };
    obj.cast_into::<StgInfo>().ok()
}

/// The storage info of an object's type.
pub fn stginfo_of_instance<'py>(obj: &Bound<'py, PyAny>) -> Option<Bound<'py, StgInfo>> {
    stginfo_of_type(obj.get_type().as_any())
}

/// `type(obj).__name__` for messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// `cls.__name__` for a type object.
pub fn class_name(cls: &Bound<'_, PyAny>) -> String {
    cls.getattr(pyo3::intern!(cls.py(), "__name__"))
        .ok()
        .and_then(|n| n.cast_into::<PyString>().ok().map(|s| s.to_string()))
        .unwrap_or_else(|| "?".into())
}

/// `repr(float(v))`.
pub fn float_repr(py: Python<'_>, v: f64) -> PyResult<String> {
    Ok(pyo3::types::PyFloat::new(py, v).repr()?.to_string())
}

/// Runs `f` one level deeper in CPython's recursion accounting, so an object whose
/// `_as_parameter_` leads back to itself raises RecursionError instead of overflowing the
/// stack (CPython guards the same places with `Py_EnterRecursiveCall`).
pub fn as_parameter_recursion<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    // SAFETY: called with the GIL held; the message is a static C string.
    if unsafe { ffi::Py_EnterRecursiveCall(c" while processing _as_parameter_".as_ptr()) } != 0 {
        return Err(PyErr::fetch(py));
    }
    let r = f();
    // SAFETY: paired with the successful Enter above, on the same thread.
    unsafe { ffi::Py_LeaveRecursiveCall() };
    r
}

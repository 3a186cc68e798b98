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

/// Where a frozen pyclass's Rust value sits inside its instances, for allocating them with
/// the type's `tp_alloc` and writing the value in place — what CPython's own types do —
/// instead of through PyO3's constructor path (`object.__new__`, an eagerly built instance
/// dictionary, the initializer machinery). Measured once on an instance PyO3 built and
/// checked against the types' sizes: the value must sit right after the object header with
/// nothing after it; otherwise the layout is never used and callers keep PyO3's path.
pub struct DirectLayout {
    offset: std::sync::atomic::AtomicUsize,
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
        let header = std::mem::size_of::<ffi::PyObject>().next_multiple_of(std::mem::align_of::<T>());
        let end = (offset + std::mem::size_of::<T>()).next_multiple_of(std::mem::align_of::<T>());
        // SAFETY: reading the size fields of live type objects.
        let sizes_fit = types.iter().all(|&tp| unsafe { (*tp).tp_basicsize as usize <= end && (*tp).tp_itemsize == 0 });
        if offset == header && sizes_fit {
            self.offset.store(offset, std::sync::atomic::Ordering::Relaxed);
        }
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

/// The positional arguments of a vectorcall, and its keyword arguments as a dict.
pub type VectorcallArgs<'py> = (smallvec::SmallVec<[Bound<'py, PyAny>; 8]>, Option<Bound<'py, pyo3::types::PyDict>>);

/// Unpacks CPython's vectorcall arguments (`nargs` positional values, then one value per
/// name in `kwnames`).
///
/// # Safety
/// `args` holds `nargs` plus `len(kwnames)` live references valid for the call; `kwnames`
/// is NULL or a tuple of str.
pub unsafe fn vectorcall_args<'py>(
    py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: usize,
    kwnames: *mut ffi::PyObject,
) -> PyResult<VectorcallArgs<'py>> {
    let nkw = if kwnames.is_null() {
        0
    } else {
        // SAFETY: a non-NULL kwnames is a tuple (contract).
        unsafe { ffi::PyTuple_GET_SIZE(kwnames) as usize }
    };
    // SAFETY: `args` holds `nargs + nkw` borrowed references valid for the call (contract).
    let mut all: smallvec::SmallVec<[Bound<'py, PyAny>; 8]> = (0..nargs + nkw).map(|i| unsafe { Bound::from_borrowed_ptr(py, *args.add(i)) }).collect();
    if nkw == 0 {
        return Ok((all, None));
    }
    let kwvalues: smallvec::SmallVec<[Bound<'py, PyAny>; 8]> = all.drain(nargs..).collect();
    // SAFETY: non-NULL and a tuple (contract).
    let names = unsafe { Bound::from_borrowed_ptr(py, kwnames) }.cast_into::<pyo3::types::PyTuple>()?;
    let kwargs = pyo3::types::PyDict::new(py);
    for (name, value) in names.iter().zip(kwvalues) {
        kwargs.set_item(name, value)?;
    }
    Ok((all, Some(kwargs)))
}

/// `name` looked up along `ty`'s MRO with CPython's method cache (a borrowed reference, or
/// NULL when absent; never raises).
///
/// # Safety
/// `ty` is a live type object and `name` a live str; the result must be used (or a new
/// reference taken) before Python code can run and change the type.
pub unsafe fn type_lookup(ty: *mut ffi::PyTypeObject, name: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: forwarded from this function's contract.
    unsafe { _PyType_Lookup(ty, name) }
}

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
    // CPython's messages use tp_name: the bare name for classes defined in Python, the dotted
    // name for static types (`decimal.Decimal`).
    // SAFETY: every type has a NUL-terminated tp_name that lives as long as the type, which
    // `obj` keeps alive while we copy it.
    unsafe { std::ffi::CStr::from_ptr((*ffi::Py_TYPE(obj.as_ptr())).tp_name) }.to_string_lossy().into_owned()
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

/// `isinstance(obj, cls)` for ctypes classes, as a plain subtype check (no
/// `__instancecheck__` call: ctypes' metaclasses do not define one). Falls back to the full
/// protocol when `cls` is not a type.
pub fn is_instance_fast(obj: &Bound<'_, PyAny>, cls: &Bound<'_, PyAny>) -> PyResult<bool> {
    // SAFETY: PyType_Check only reads the object's type flags.
    if unsafe { ffi::PyType_Check(cls.as_ptr()) } == 0 {
        return obj.is_instance(cls);
    }
    // SAFETY: `cls` is a type object (checked above); PyObject_TypeCheck only reads the MRO.
    Ok(unsafe { ffi::PyObject_TypeCheck(obj.as_ptr(), cls.as_ptr().cast()) } != 0)
}

/// The globals of `_ctypes`' own metaclass code, so that caller lookups can skip its frames.
pub static META_GLOBALS: pyo3::sync::PyOnceLock<Py<pyo3::types::PyDict>> = pyo3::sync::PyOnceLock::new();

/// `__name__` of the Python module that called into ctypes: types created on the fly
/// (`T * n`, `POINTER(T)`) get it as `__module__`, as CPython's C code does by creating them
/// while the caller's frame is the current one.
pub fn caller_module(py: Python<'_>) -> Option<Py<PyAny>> {
    let meta = META_GLOBALS.get(py).map(|g| g.as_ptr());
    let sys = py.import("sys").ok()?;
    for depth in 0..4 {
        let frame = sys.call_method1(pyo3::intern!(sys.py(), "_getframe"), (depth,)).ok()?;
        let globals = frame.getattr(pyo3::intern!(frame.py(), "f_globals")).ok()?;
        if Some(globals.as_ptr()) == meta {
            continue;
        }
        return globals.get_item("__name__").ok().map(Bound::unbind);
    }
    None
}

/// Runs `f` one level deeper in CPython's recursion accounting, so that a chain of
/// `_as_parameter_` objects pointing at themselves raises RecursionError instead of
/// overflowing the C stack.
pub fn recursion_guarded<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    // SAFETY: called with the GIL held; a non-zero result means RecursionError is set.
    if unsafe { ffi::Py_EnterRecursiveCall(c" while processing _as_parameter_".as_ptr()) } != 0 {
        return Err(PyErr::fetch(py));
    }
    let r = f();
    // SAFETY: paired with the successful Py_EnterRecursiveCall above.
    unsafe { ffi::Py_LeaveRecursiveCall() };
    r
}

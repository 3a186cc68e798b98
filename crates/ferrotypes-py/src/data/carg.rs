//! `CArgObject`: a C argument value prepared in advance — what `byref()` and the simple
//! types' `from_param` return (CPython's PyCArgObject) — and `byref()` itself.
use super::cdata::{CData, Inline};
use super::direct_alloc::DirectLayout;
use crate::interp::names::type_name;
use crate::interp::GilCell;
use ferrotypes_core::ffi_type::FfiType;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;

#[pyclass(frozen, name = "CArgObject")]
pub struct CArgObject {
    /// The type code of the value ('P' for byref, 'V' for a structure passed by value).
    pub tag: u8,
    pub value: GilCell<Inline>,
    pub ffi: FfiType,
    /// For 'V': the address of the memory passed by value.
    pub by_value_ptr: *mut u8,
    /// What must stay alive while C uses the value.
    pub obj: Option<Py<PyAny>>,
}

// SAFETY: `by_value_ptr` points into memory owned by `obj`, which this object keeps alive; it
// is only dereferenced with the GIL held.
unsafe impl Send for CArgObject {}
// SAFETY: as above; the object is immutable after construction except `value`, a GilCell.
unsafe impl Sync for CArgObject {}

/// Direct allocation of `CArgObject`s (`byref()` makes one per call).
pub static DIRECT: DirectLayout = DirectLayout::new();

/// Measures the instance layout on a throwaway `CArgObject` built by PyO3.
pub fn calibrate_direct_alloc(py: Python<'_>) -> PyResult<()> {
    let probe = Bound::new(py, CArgObject::pointer(0, None))?;
    DIRECT.calibrate(&probe, &[probe.get_type().as_type_ptr()]);
    Ok(())
}

impl CArgObject {
    /// A new Python object holding `self`.
    pub fn into_object(self, py: Python<'_>) -> PyResult<Bound<'_, CArgObject>> {
        if !DIRECT.ready() {
            return Bound::new(py, self);
        }
        use pyo3::PyTypeInfo;
        // SAFETY: the layout was calibrated for CArgObject, whose own type is the target.
        let obj = unsafe { DIRECT.alloc(py, CArgObject::type_object_raw(py), self)? };
        // SAFETY: just allocated as a CArgObject.
        Ok(unsafe { obj.cast_into_unchecked() })
    }

    pub fn new(tag: u8, value: [u8; 16], ffi: FfiType, obj: Option<Py<PyAny>>) -> Self {
        CArgObject { tag, value: GilCell::new(Inline(value)), ffi, by_value_ptr: std::ptr::null_mut(), obj }
    }

    pub fn pointer(addr: usize, obj: Option<Py<PyAny>>) -> Self {
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&addr.to_ne_bytes());
        CArgObject::new(b'P', v, FfiType::Static(ferrotypes_core::simple::ffi_pointer()), obj)
    }

    pub fn value_bytes(&self) -> [u8; 16] {
        // SAFETY: GIL-serialised read of the inline value.
        unsafe { (*self.value.as_ptr()).0 }
    }

    pub fn pointer_value(&self) -> usize {
        usize::from_ne_bytes(self.value_bytes()[..8].try_into().expect("8 bytes"))
    }
}

#[pymethods]
impl CArgObject {
    #[getter]
    fn _obj(&self, py: Python<'_>) -> Py<PyAny> {
        self.obj.as_ref().map(|o| o.clone_ref(py)).unwrap_or_else(|| py.None())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let v = self.value_bytes();
        let tag = self.tag as char;
        let shown = match self.tag {
            b'b' => format!("{}", v[0] as i8),
            b'B' => format!("{}", v[0] as i8),
            b'h' => format!("{}", i16::from_ne_bytes([v[0], v[1]])),
            b'H' => format!("{}", i16::from_ne_bytes([v[0], v[1]])),
            b'i' => format!("{}", i32::from_ne_bytes(v[..4].try_into().unwrap())),
            b'I' => format!("{}", i32::from_ne_bytes(v[..4].try_into().unwrap())),
            b'l' | b'q' => format!("{}", i64::from_ne_bytes(v[..8].try_into().unwrap())),
            b'L' | b'Q' => format!("{}", i64::from_ne_bytes(v[..8].try_into().unwrap())),
            b'd' => float_repr(py, f64::from_ne_bytes(v[..8].try_into().unwrap()))?,
            b'f' => float_repr(py, f32::from_ne_bytes(v[..4].try_into().unwrap()) as f64)?,
            b'c' => {
                let c = v[0];
                if (c.is_ascii_graphic() || c == b' ') && c != b'\'' && c != b'\\' {
                    format!("'{}'", c as char)
                } else {
                    format!("'\\x{c:02x}'")
                }
            }
            // Python's %p: "0x" before the C library's rendering, which is "(nil)" for NULL.
            b'z' | b'Z' | b'P' => match self.pointer_value() {
                0 => "0x(nil)".to_owned(),
                p => format!("{p:#x}"),
            },
            b'F' | b'D' | b'G' if crate::interp::version::behavior(py) != (3, 14) => {
                // 3.15 names the complex types by the struct module's codes (and so do
                // earlier versions, which have no complex types of their own).
                let code = (self.tag as char).to_ascii_lowercase();
                return Ok(format!("<cparam 'Z{code}' at {:#x}>", self as *const _ as usize));
            }
            _ => {
                return Ok(format!("<cparam '{tag}' at {:#x}>", self as *const _ as usize));
            }
        };
        Ok(format!("<cparam '{tag}' ({shown})>"))
    }
}

/// `byref(obj, offset=0)` for Rust callers (a stock `from_param` passing an instance by
/// reference): a light-weight pointer argument to a ctypes instance.
pub fn byref(py: Python<'_>, obj: &Bound<'_, PyAny>, offset: isize) -> PyResult<Py<CArgObject>> {
    let c = obj.cast::<CData>().map_err(|_| not_cdata_error(py, obj))?;
    let addr = (c.get().ptr() as isize).wrapping_add(offset) as usize;
    Ok(CArgObject::pointer(addr, Some(obj.clone().unbind())).into_object(py)?.unbind())
}

/// The `TypeError` for a `byref()` argument that is not a ctypes instance, worded as the
/// behaviour's version words it (3.14 made `byref` an Argument Clinic function).
fn not_cdata_error(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyErr {
    if crate::interp::version::behaves_as(py, 14) {
        // Argument Clinic names `None` itself, other objects by their type's tp_name.
        let shown = if obj.is_none() { "None".to_owned() } else { type_name(obj) };
        PyTypeError::new_err(format!("byref() argument 1 must be _ctypes._CData, not {shown}"))
    } else {
        PyTypeError::new_err(format!("byref() argument must be a ctypes instance, not '{}'", type_name(obj)))
    }
}

/// `byref`'s docstring (with 3.14's text signature, or the older one-line synopsis).
pub fn byref_doc(py: Python<'_>) -> &'static std::ffi::CStr {
    if crate::interp::version::behaves_as(py, 14) {
        c"byref($module, obj, offset=0, /)\n--\n\nReturn a pointer lookalike to a C instance, only usable as function argument."
    } else {
        c"byref(C instance[, offset=0]) -> byref-object\nReturn a pointer lookalike to a C instance, only usable\nas function argument"
    }
}

/// The `offset` argument of `byref()`: up to 3.13 any index clipped to the `Py_ssize_t` range
/// (`PyNumber_AsSsize_t` without an overflow exception), from 3.14 an index that must fit.
fn byref_offset(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<isize> {
    if crate::interp::version::behaves_as(py, 14) {
        // SAFETY: PyNumber_Index on a live object returns a new reference or NULL with an
        // exception set.
        let index = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyNumber_Index(value.as_ptr()))? };
        // SAFETY: `index` is an int; -1 with an exception set reports an overflow.
        let v = unsafe { ffi::PyLong_AsSsize_t(index.as_ptr()) };
        if v == -1 && PyErr::occurred(py) {
            return Err(PyErr::fetch(py));
        }
        return Ok(v);
    }
    // SAFETY: a live object; with a NULL exception type the result is clipped instead of
    // raising on overflow; -1 with an exception set reports a value that is no index.
    let v = unsafe { ffi::PyNumber_AsSsize_t(value.as_ptr(), std::ptr::null_mut()) };
    if v == -1 && PyErr::occurred(py) {
        return Err(PyErr::fetch(py));
    }
    Ok(v)
}

/// The `CArgObject` type, remembered at module set-up for exact type checks on the
/// fast lane (the type is final: no subclasses).
static CARG_TYPE: std::sync::atomic::AtomicPtr<ffi::PyTypeObject> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// Whether `obj` is a `CArgObject` (NULL type before set-up: never).
///
/// # Safety
/// `obj` is a live object.
#[inline]
pub unsafe fn is_carg(obj: *mut ffi::PyObject) -> bool {
    // SAFETY: reading the type of a live object (contract).
    unsafe { ffi::Py_TYPE(obj) == CARG_TYPE.load(std::sync::atomic::Ordering::Relaxed) }
}

/// The `CArgObject` inside `obj`.
///
/// # Safety
/// [`is_carg`] returned true for `obj`, which the caller keeps alive for `'a`; the GIL is held.
#[inline]
pub unsafe fn carg_of<'a>(obj: *mut ffi::PyObject) -> &'a CArgObject {
    // SAFETY: a CArgObject instance holds its value at the calibrated offset (`is_carg`
    // implies set-up ran, and `install_raw_slots` only records the type when calibrated).
    unsafe { &*((obj as *const u8).add(DIRECT.offset()) as *const CArgObject) }
}

/// Remembers the `CArgObject` type and gives it [`carg_dealloc`] (once the direct layout is
/// calibrated: `calibrate_direct_alloc` first).
pub fn install_raw_slots(py: Python<'_>) {
    if !DIRECT.ready() {
        return;
    }
    use pyo3::PyTypeInfo;
    let tp = CArgObject::type_object_raw(py);
    // SAFETY: the module's ready heap type with the calibrated layout, set up before any
    // instance of it other than the (gone) probe exists; the entry has `destructor`'s
    // signature.
    unsafe { (*tp).tp_dealloc = Some(carg_dealloc) };
    CARG_TYPE.store(tp, std::sync::atomic::Ordering::Relaxed);
}

/// `tp_dealloc` of `CArgObject`: release the referent, drop the value in place, free the
/// object and release its heap type — without PyO3's generic path.
unsafe extern "C" fn carg_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: CPython calls tp_dealloc with the GIL held on an unreferenced CArgObject,
    // whose value sits at the calibrated offset, initialised. The referent is released by
    // hand (dropping a `Py` outside PyO3's entries would only queue it) before the rest of
    // the value is dropped in place; then the memory is freed and the heap type released,
    // which its instances reference.
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        if ffi::PyType_IS_GC(tp) != 0 {
            ffi::PyObject_GC_UnTrack(obj.cast());
        }
        let value = (obj as *mut u8).add(DIRECT.offset()) as *mut CArgObject;
        if let Some(held) = (*value).obj.take() {
            ffi::Py_DECREF(held.into_ptr());
        }
        std::ptr::drop_in_place(value);
        let free = (*tp).tp_free.unwrap_or(ffi::PyObject_Free);
        free(obj.cast());
        ffi::Py_DECREF(tp.cast());
    }
}

/// The Python `byref(obj, offset=0)`: a `METH_FASTCALL | METH_KEYWORDS` C function (no
/// PyO3 trampoline or argument parser), with each version's messages for a wrong call.
///
/// # Safety
/// Called by the interpreter: `args` holds `nargs` live references, `kwnames` is NULL or
/// a tuple of names (whose values follow the positional ones); the GIL is held.
pub unsafe extern "C" fn byref_fastcall(
    _module: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: forwarded from this function's contract: the arguments are live borrowed
    // references for the call; the GIL is held.
    unsafe {
        crate::interp::descriptors::entry_result(|py| {
            let nargs = ffi::PyVectorcall_NARGS(nargsf as usize);
            if !kwnames.is_null() && ffi::PyTuple_GET_SIZE(kwnames) != 0 {
                let name = if crate::interp::version::behaves_as(py, 14) { "_ctypes.byref()" } else { "byref()" };
                return Err(PyTypeError::new_err(format!("{name} takes no keyword arguments")));
            }
            if nargs < 1 {
                return Err(PyTypeError::new_err(format!("byref expected at least 1 argument, got {nargs}")));
            }
            if nargs > 2 {
                return Err(PyTypeError::new_err(format!("byref expected at most 2 arguments, got {nargs}")));
            }
            let obj = Bound::ref_from_ptr(py, &*args);
            let newer = nargs == 2 && crate::interp::version::behaves_as(py, 14);
            // Up to 3.13 the offset is converted first; 3.14 checks the instance first.
            let cdata = crate::data::cdata::instance_of(obj.as_ptr());
            if cdata.is_none() && (nargs == 1 || newer) {
                return Err(not_cdata_error(py, obj));
            }
            let offset = if nargs == 2 { byref_offset(py, Bound::ref_from_ptr(py, &*args.add(1)))? } else { 0 };
            let Some(cdata) = cdata else { return Err(not_cdata_error(py, obj)) };
            let addr = (cdata.ptr() as isize).wrapping_add(offset) as usize;
            let made = CArgObject::pointer(addr, Some(obj.clone().unbind()));
            let tp = CARG_TYPE.load(std::sync::atomic::Ordering::Relaxed);
            if tp.is_null() {
                return Ok(made.into_object(py)?.into_any().unbind());
            }
            // SAFETY: the type is CArgObject's, remembered only when the layout is calibrated.
            Ok(DIRECT.alloc(py, tp, made)?.unbind())
        })
    }
}

/// `repr(float(v))`.
fn float_repr(py: Python<'_>, v: f64) -> PyResult<String> {
    Ok(pyo3::types::PyFloat::new(py, v).repr()?.to_string())
}

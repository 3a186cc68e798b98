//! `CArgObject`: a C argument value prepared in advance — what `byref()` and the simple
//! types' `from_param` return (CPython's PyCArgObject) — and `byref()` itself.
use super::cdata::{CData, Inline};
use super::direct_alloc::DirectLayout;
use crate::interp::names::type_name;
use crate::interp::GilCell;
use ferrotypes_core::ffi_type::FfiType;
use pyo3::exceptions::PyTypeError;
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

/// `byref(obj, offset=0)`: a light-weight pointer argument to a ctypes instance.
#[pyfunction]
#[pyo3(signature = (obj, offset = 0))]
pub fn byref(py: Python<'_>, obj: &Bound<'_, PyAny>, offset: isize) -> PyResult<Py<CArgObject>> {
    let c = obj.cast::<CData>().map_err(|_| {
        PyTypeError::new_err(format!("byref() argument must be a ctypes instance, not '{}'", type_name(obj)))
    })?;
    let addr = (c.get().ptr() as isize).wrapping_add(offset) as usize;
    Ok(CArgObject::pointer(addr, Some(obj.clone().unbind())).into_object(py)?.unbind())
}

/// `repr(float(v))`.
fn float_repr(py: Python<'_>, v: f64) -> PyResult<String> {
    Ok(pyo3::types::PyFloat::new(py, v).repr()?.to_string())
}

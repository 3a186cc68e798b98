//! The `from_param` protocol on the type side: every stock `from_param` (simple types,
//! `c_char_p`/`c_wchar_p`/`c_void_p`, pointer types, and structures, unions, arrays and
//! function pointers), the registry that tells them apart from overrides, and
//! [`ArgConv`], the converter an `argtypes` entry resolves to, stored in the function
//! type's storage info. The call side (`calls::convert`) builds and runs converters.
use super::carg::{byref, CArgObject};
use super::cdata::CData;
use super::simple;
use super::stginfo::{stginfo_of_instance, stginfo_of_type, Kind};
use crate::interp::descriptors::entry_result;
use crate::interp::names::{class_name, type_name};
use crate::interp::recursion::recursion_guarded;
use ferrotypes_core::simple::SimpleKind;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString, PyType};

/// The special `from_param` functions of `c_char_p`, `c_wchar_p` and `c_void_p`, registered
/// at set-up, so that converters can tell "not overridden" apart.
pub static STOCK_SPECIAL_FROM_PARAM: PyOnceLock<[Py<PyAny>; 3]> = PyOnceLock::new();

/// Which of the metaclasses' own `from_param` methods a bound `from_param` is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StockFromParam {
    /// `PyCSimpleType.from_param`.
    Simple,
    /// `PyCPointerType.from_param`.
    Pointer,
    /// The `from_param` of the structure/union, array and function pointer metaclasses.
    Generic,
}

/// `cls.from_param` is the stock method of `cls`'s metaclass (not overridden by the class
/// or a derived metaclass) when it is one of the C methods below, bound to `cls` itself.
pub fn stock_from_param(bound: &Bound<'_, PyAny>, cls: &Bound<'_, PyAny>) -> Option<StockFromParam> {
    let p = bound.as_ptr();
    // SAFETY: `bound` is a live object; the function pointer and `__self__` of a built-in
    // method are only read (borrowed) after the type check.
    let (func, owner) = unsafe {
        if ffi::PyCFunction_Check(p) == 0 {
            return None;
        }
        (ffi::PyCFunction_GetFunction(p)? as usize, ffi::PyCFunction_GetSelf(p))
    };
    if owner != cls.as_ptr() {
        return None;
    }
    let is = |f: ffi::PyCFunction| func == f as usize;
    if is(simple_from_param_method) {
        Some(StockFromParam::Simple)
    } else if is(pointer_from_param_method) {
        Some(StockFromParam::Pointer)
    } else if is(generic_from_param_method) {
        Some(StockFromParam::Generic)
    } else {
        None
    }
}

/// `PyCSimpleType.from_param(value)`, the metaclass method (METH_O).
pub unsafe extern "C" fn simple_from_param_method(cls: *mut ffi::PyObject, value: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the interpreter calls a METH_O method with the GIL held and live borrowed
    // `cls` (the class it is bound to) and `value`.
    unsafe { entry_result(|py| simple_from_param(py, &Bound::from_borrowed_ptr(py, cls), &Bound::from_borrowed_ptr(py, value))) }
}

/// `PyCPointerType.from_param(value)`, the metaclass method (METH_O).
pub unsafe extern "C" fn pointer_from_param_method(cls: *mut ffi::PyObject, value: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: as for `simple_from_param_method`.
    unsafe { entry_result(|py| pointer_from_param(py, &Bound::from_borrowed_ptr(py, cls), &Bound::from_borrowed_ptr(py, value))) }
}

/// `from_param(value)` of the structure/union, array and function pointer metaclasses (METH_O).
pub unsafe extern "C" fn generic_from_param_method(cls: *mut ffi::PyObject, value: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: as for `simple_from_param_method`.
    unsafe { entry_result(|py| generic_from_param(py, &Bound::from_borrowed_ptr(py, cls), &Bound::from_borrowed_ptr(py, value))) }
}

/// A converter chosen when `argtypes` is set.
pub enum ArgConv {
    /// A simple type whose `from_param` is the stock one: convert directly.
    Simple { kind: &'static SimpleKind, swapped: bool, cls: Py<PyAny> },
    /// `c_char_p`, `c_wchar_p`, `c_void_p` with their stock special `from_param`.
    Special { code: u8, cls: Py<PyAny>, from_param: Py<PyAny> },
    /// A pointer type with the stock `from_param`: the common arguments (None, `byref()` of
    /// the target type, a target instance, a pointer of this type) convert directly.
    Pointer { cls: Py<PyAny>, proto: Option<Py<PyAny>>, from_param: Py<PyAny> },
    /// A structure, union, array or function pointer type with the stock `from_param`
    /// (which returns an instance of the type unchanged): an instance converts directly.
    Instance { cls: Py<PyAny>, from_param: Py<PyAny> },
    /// Call `from_param` (bound), then convert its result by the default rules.
    Call(Py<PyAny>),
}

impl ArgConv {
    /// The `argtypes` entry this converter was made from (used when it is read back).
    pub fn clone_ref(&self, py: Python<'_>) -> ArgConv {
        match self {
            ArgConv::Simple { kind, swapped, cls } => ArgConv::Simple { kind, swapped: *swapped, cls: cls.clone_ref(py) },
            ArgConv::Special { code, cls, from_param } => {
                ArgConv::Special { code: *code, cls: cls.clone_ref(py), from_param: from_param.clone_ref(py) }
            }
            ArgConv::Pointer { cls, proto, from_param } => ArgConv::Pointer {
                cls: cls.clone_ref(py),
                proto: proto.as_ref().map(|p| p.clone_ref(py)),
                from_param: from_param.clone_ref(py),
            },
            ArgConv::Instance { cls, from_param } => {
                ArgConv::Instance { cls: cls.clone_ref(py), from_param: from_param.clone_ref(py) }
            }
            ArgConv::Call(f) => ArgConv::Call(f.clone_ref(py)),
        }
    }

    /// Visits the objects this converter holds, for the garbage collector of its owner.
    pub fn traverse(&self, visit: &pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        match self {
            ArgConv::Simple { cls, .. } => visit.call(cls),
            ArgConv::Special { cls, from_param, .. } => {
                visit.call(cls)?;
                visit.call(from_param)
            }
            ArgConv::Pointer { cls, proto, from_param } => {
                visit.call(cls)?;
                visit.call(proto)?;
                visit.call(from_param)
            }
            ArgConv::Instance { cls, from_param } => {
                visit.call(cls)?;
                visit.call(from_param)
            }
            ArgConv::Call(f) => visit.call(f),
        }
    }
}

/// Visits every object held by a list of converters.
pub fn traverse_converters(converters: &Option<Vec<ArgConv>>, visit: &pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
    for conv in converters.iter().flatten() {
        conv.traverse(visit)?;
    }
    Ok(())
}

/// `PyCSimpleType.from_param` (generic: numbers, chars, bools, py_object).
pub fn simple_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if value.is_instance(cls)? {
        return Ok(value.clone().unbind());
    }
    let info = stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let (kind, swapped) = info.get().simple_kind().ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    if kind.size > 16 {
        return wide_from_param(py, cls, value, kind);
    }
    let mut buf = [0u8; 16];
    // The argument value is native: a swapped type's byte order applies to its memory only.
    let _ = swapped;
    // SAFETY: 16 bytes hold any scalar.
    match unsafe { simple::set_value(kind, false, buf.as_mut_ptr(), value) } {
        Ok(keep) => Ok(CArgObject::new(kind.code, buf, ferrotypes_core::ffi_type::FfiType::Static(kind.ffi_type()), keep).into_object(py)?.into_any().unbind()),
        Err(err) => match value.getattr_opt(pyo3::intern!(value.py(), "_as_parameter_"))? {
            Some(inner) => recursion_guarded(py, || simple_from_param(py, cls, &inner)),
            None => Err(simple_conversion_error(py, err)),
        },
    }
}

/// The error of a simple type's `from_param` (or argument conversion) when the value could not
/// be stored and has no `_as_parameter_`: up to 3.11 "wrong type", from 3.12 the conversion's
/// own error ("'str' object cannot be interpreted as an integer", ...).
pub fn simple_conversion_error(py: Python<'_>, err: PyErr) -> PyErr {
    if crate::interp::version::behaves_as(py, 12) {
        err
    } else {
        PyTypeError::new_err("wrong type")
    }
}

/// The error of `c_char_p`/`c_wchar_p`/`c_void_p.from_param` for a value it cannot take: up to
/// 3.12 "wrong type", from 3.13 "'int' object cannot be interpreted as ctypes.c_char_p".
fn pointer_conversion_error(value: &Bound<'_, PyAny>, target: &str) -> PyErr {
    if crate::interp::version::behaves_as(value.py(), 13) {
        PyTypeError::new_err(format!("'{}' object cannot be interpreted as ctypes.{target}", type_name(value)))
    } else {
        PyTypeError::new_err("wrong type")
    }
}

/// `from_param` of a scalar wider than an argument slot (`long double _Complex`): the value
/// is made as an instance of the type and passed from that instance's memory.
fn wide_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, kind: &'static ferrotypes_core::simple::SimpleKind) -> PyResult<Py<PyAny>> {
    let made = super::roots::instantiate(cls, super::cdata::RawInit::Owned { size: kind.size, length: 0 })?;
    let cd = made.cast::<super::cdata::CData>()?;
    // SAFETY: the new instance owns `kind.size` bytes for its value.
    if unsafe { simple::set_value(kind, false, cd.get().ptr(), value) }.is_err() {
        return match value.getattr_opt(pyo3::intern!(py, "_as_parameter_"))? {
            Some(inner) => recursion_guarded(py, || simple_from_param(py, cls, &inner)),
            None => Err(PyTypeError::new_err("wrong type")),
        };
    }
    let mut arg = CArgObject::new(kind.code, [0; 16], ferrotypes_core::ffi_type::FfiType::Static(kind.ffi_type()), None);
    arg.by_value_ptr = cd.get().ptr();
    arg.obj = Some(made.clone().unbind());
    Ok(Py::new(py, arg)?.into_any())
}

fn carg_pointer(py: Python<'_>, tag: u8, addr: usize, keep: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
    let mut c = CArgObject::pointer(addr, keep);
    c.tag = tag;
    Ok(Py::new(py, c)?.into_any())
}

fn elem_code_of(obj: &Bound<'_, PyAny>) -> Option<u8> {
    let info = stginfo_of_instance(obj)?;
    let proto = info.get().proto.as_ref()?;
    stginfo_of_type(proto.bind(obj.py())).and_then(|p| p.get().simple_kind().map(|(k, _)| k.code))
}

/// `c_char_p.from_param`.
#[pyfunction]
pub fn c_char_p_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    char_pointer_from_param(py, cls, value, b'z', b'c')
}

/// `c_wchar_p.from_param`.
#[pyfunction]
pub fn c_wchar_p_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    char_pointer_from_param(py, cls, value, b'Z', b'u')
}

fn char_pointer_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, tag: u8, elem: u8) -> PyResult<Py<PyAny>> {
    if value.is_none() {
        return Ok(py.None());
    }
    if tag == b'z' {
        if let Ok(b) = value.cast::<PyBytes>() {
            return carg_pointer(py, b'z', b.as_bytes().as_ptr() as usize, Some(value.clone().unbind()));
        }
    } else if let Ok(s) = value.cast::<PyString>() {
        let buf = simple::wchar_buffer(s)?;
        return carg_pointer(py, b'Z', buf.as_bytes().as_ptr() as usize, Some(buf.into_any().unbind()));
    }
    if value.is_instance(cls)? {
        return Ok(value.clone().unbind());
    }
    if let Some(info) = stginfo_of_instance(value) {
        if matches!(info.get().kind, Kind::Array | Kind::Pointer) && elem_code_of(value) == Some(elem) {
            return Ok(value.clone().unbind());
        }
    }
    if let Ok(carg) = value.cast::<CArgObject>() {
        if let Some(o) = &carg.get().obj {
            let o = o.bind(py);
            if stginfo_of_instance(o).and_then(|i| i.get().simple_kind()).is_some_and(|(k, _)| k.code == elem) {
                return Ok(value.clone().unbind());
            }
        }
    }
    if let Some(inner) = value.getattr_opt(pyo3::intern!(value.py(), "_as_parameter_"))? {
        return recursion_guarded(py, || char_pointer_from_param(py, cls, &inner, tag, elem));
    }
    Err(pointer_conversion_error(value, if tag == b'z' { "c_char_p" } else { "c_wchar_p" }))
}

/// `c_void_p.from_param`.
#[pyfunction]
pub fn c_void_p_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if value.is_none() {
        return Ok(py.None());
    }
    if value.is_instance_of::<pyo3::types::PyInt>() {
        return carg_pointer(py, b'P', simple::int_mask(value)? as usize, None);
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return carg_pointer(py, b'z', b.as_bytes().as_ptr() as usize, Some(value.clone().unbind()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        let buf = simple::wchar_buffer(s)?;
        return carg_pointer(py, b'Z', buf.as_bytes().as_ptr() as usize, Some(buf.into_any().unbind()));
    }
    if value.is_instance(cls)? {
        return Ok(value.clone().unbind());
    }
    if let Some(info) = stginfo_of_instance(value) {
        let c = value.cast::<CData>()?;
        match info.get().kind {
            Kind::Array | Kind::Pointer => return Ok(value.clone().unbind()),
            Kind::FuncPtr => {
                // SAFETY: function pointer instances hold one pointer.
                let p = unsafe { simple::read_ptr(c.get().ptr()) };
                return carg_pointer(py, b'P', p, Some(value.clone().unbind()));
            }
            Kind::Simple { kind, .. } if matches!(kind.code, b'z' | b'Z') => {
                // SAFETY: c_char_p/c_wchar_p instances hold one pointer.
                let p = unsafe { simple::read_ptr(c.get().ptr()) };
                return carg_pointer(py, b'Z', p, Some(value.clone().unbind()));
            }
            _ => {}
        }
    }
    if let Ok(carg) = value.cast::<CArgObject>() {
        if carg.get().tag == b'P' {
            return Ok(value.clone().unbind());
        }
    }
    if let Some(inner) = value.getattr_opt(pyo3::intern!(value.py(), "_as_parameter_"))? {
        return recursion_guarded(py, || c_void_p_from_param(py, cls, &inner));
    }
    Err(pointer_conversion_error(value, "c_void_p"))
}

/// The code-specific `from_param` for direct `_SimpleCData` subclasses, if any.
pub fn special_from_param(py: Python<'_>, code: &str) -> Option<Py<PyAny>> {
    let fns = STOCK_SPECIAL_FROM_PARAM.get(py)?;
    match code {
        "z" => Some(fns[0].clone_ref(py)),
        "Z" => Some(fns[1].clone_ref(py)),
        "P" => Some(fns[2].clone_ref(py)),
        _ => None,
    }
}

/// `PyCPointerType.from_param`.
pub fn pointer_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if value.is_none() {
        return Ok(value.clone().unbind());
    }
    let info = stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    if let Some(proto) = &info.get().proto {
        if value.is_instance(proto.bind(py))? {
            return byref(py, value, 0).map(|c| c.into_any());
        }
        if let Some(vi) = stginfo_of_instance(value) {
            if matches!(vi.get().kind, Kind::Pointer | Kind::Array) {
                if let Some(vp) = &vi.get().proto {
                    if vp.bind(py).cast::<PyType>().is_ok() && vp.bind(py).cast::<PyType>()?.is_subclass(proto.bind(py))? {
                        return Ok(value.clone().unbind());
                    }
                }
            }
        }
    }
    generic_from_param(py, cls, value)
}

/// `from_param` of structure, union, array and function pointer types (CDataType_from_param).
pub fn generic_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if value.is_instance(cls)? {
        return Ok(value.clone().unbind());
    }
    if let Ok(carg) = value.cast::<CArgObject>() {
        let ob = carg.get().obj.as_ref().map(|o| o.bind(py).clone());
        if let (Some(info), Some(ob)) = (stginfo_of_type(cls), ob.as_ref()) {
            if let Some(proto) = &info.get().proto {
                if ob.is_instance(proto.bind(py))? {
                    return Ok(value.clone().unbind());
                }
            }
        }
        let obname = ob.map(|o| type_name(&o)).unwrap_or_else(|| "???".into());
        return Err(PyTypeError::new_err(format!(
            "expected {} instance instead of pointer to {}",
            class_name(cls),
            obname
        )));
    }
    if let Some(inner) = value.getattr_opt(pyo3::intern!(value.py(), "_as_parameter_"))? {
        return recursion_guarded(py, || generic_from_param(py, cls, &inner));
    }
    Err(PyTypeError::new_err(format!(
        "expected {} instance instead of {}",
        class_name(cls),
        type_name(value)
    )))
}

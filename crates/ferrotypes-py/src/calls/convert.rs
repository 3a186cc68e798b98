//! Argument conversion for foreign calls (CPython's `ConvParam` and the `from_param`
//! protocol), into fixed-size slots that libffi reads.
//!
//! With `argtypes` set, each argument goes through its type's converter. Converters are
//! chosen once, when `argtypes` is assigned: the stock `from_param` of a simple type becomes
//! a direct conversion into the slot ([`ArgConv::Simple`]); anything else is a Python call
//! followed by the default conversion of its result ([`ArgConv::Call`]).
use super::funcptr::{note_passed_to_c, CTYPES_MAX_ARGCOUNT};
use crate::data::carg::CArgObject;
use crate::data::cdata::{CData, Inline};
use crate::data::from_param::{
    simple_conversion_error, stock_from_param, ArgConv, StockFromParam, STOCK_SPECIAL_FROM_PARAM,
};
use crate::data::simple;
use crate::data::stginfo::{stginfo_of_instance, stginfo_of_type, Kind};
use crate::interp::recursion::recursion_guarded;
use ferrotypes_core::ffi_type::FfiType;
use libffi::low::ffi_type;
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt, PyString};
use smallvec::SmallVec;
use std::ffi::c_void;

pyo3::create_exception!(ctypes, ArgumentError, pyo3::exceptions::PyException);

/// One argument as libffi sees it.
pub struct ArgSlot {
    pub value: Inline,
    pub ffi: *mut ffi_type,
    /// Non-null for a structure passed by value: libffi reads the bytes here instead.
    pub by_value: *mut u8,
}

impl Default for ArgSlot {
    fn default() -> Self {
        ArgSlot { value: Inline([0; 16]), ffi: ferrotypes_core::simple::ffi_pointer(), by_value: std::ptr::null_mut() }
    }
}

impl ArgSlot {
    pub fn set_pointer(&mut self, p: usize) {
        self.value.0[..8].copy_from_slice(&p.to_ne_bytes());
        self.ffi = ferrotypes_core::simple::ffi_pointer();
    }
    pub fn avalue(&mut self) -> *mut c_void {
        if self.by_value.is_null() {
            self.value.0.as_mut_ptr().cast()
        } else {
            self.by_value.cast()
        }
    }
}

/// Objects that must stay alive until the call returns.
pub type KeepAlive = SmallVec<[Py<PyAny>; 4]>;

/// Builds the converters for an `argtypes` sequence.
/// A structure or union aligned to more than 16 bytes (`_align_ = 32`) cannot be passed by
/// value on x86-64: the psABI gives it a stack slot at its own alignment, libffi aligns its
/// outgoing arguments (and a closure's incoming ones) to 16 bytes at most, so C and libffi
/// would look for the members in different places. Refused where the prototype is made,
/// rather than passing wrong values. (Returning one is fine: the caller's buffer.)
fn refuse_overaligned_by_value(item: &Bound<'_, PyAny>, align: usize, position: usize) -> PyResult<()> {
    const LIBFFI_STACK_ALIGN: usize = 16;
    if cfg!(target_arch = "x86_64") && align > LIBFFI_STACK_ALIGN {
        let name = crate::interp::names::class_name(item);
        return Err(PyTypeError::new_err(format!(
            "item {position} in _argtypes_: {name} is aligned to {align} bytes and cannot be passed by value \
             (libffi aligns stack arguments to {LIBFFI_STACK_ALIGN} bytes at most); pass a pointer to it instead"
        )));
    }
    Ok(())
}

pub fn make_converters(argtypes: &Bound<'_, PyAny>) -> PyResult<Vec<ArgConv>> {
    let py = argtypes.py();
    let count = argtypes.len()?;
    if count > CTYPES_MAX_ARGCOUNT {
        return Err(ArgumentError::new_err(format!(
            "_argtypes_ has too many arguments ({count}), maximum is {}",
            CTYPES_MAX_ARGCOUNT
        )));
    }
    let mut out = Vec::with_capacity(count);
    for (i, item) in argtypes.try_iter()?.enumerate() {
        let item = item?;
        let from_param = item.getattr(pyo3::intern!(py, "from_param")).map_err(|_| {
            PyTypeError::new_err(format!("item {} in _argtypes_ has no from_param method", i + 1))
        })?;
        let info = stginfo_of_type(&item);
        if let Some(agg) = info.as_ref().filter(|s| matches!(s.get().kind, Kind::Struct | Kind::Union)) {
            refuse_overaligned_by_value(&item, agg.get().align, i + 1)?;
        }
        let simple = info.as_ref().and_then(|s| s.get().simple_kind());
        let kind = info.as_ref().map(|i| i.get().kind);
        // The metaclasses' own methods are C methods; a class's special or overriding
        // `from_param` is a class method with a `__func__`.
        let stock = stock_from_param(&from_param, &item);
        let func = if stock.is_none() { from_param.getattr(pyo3::intern!(py, "__func__")).ok() } else { None };
        let conv = match (stock, simple) {
            (Some(StockFromParam::Simple), Some((kind, _))) => {
                // Arguments are passed in native byte order, whatever the type's storage.
                ArgConv::Simple { kind, swapped: false, cls: item.clone().unbind() }
            }
            (None, Some((kind, _)))
                if func.as_ref().is_some_and(|f| STOCK_SPECIAL_FROM_PARAM.get(py).is_some_and(|s| s.iter().any(|g| g.is(f)))) =>
            {
                ArgConv::Special { code: kind.code, cls: item.clone().unbind(), from_param: from_param.clone().unbind() }
            }
            (Some(StockFromParam::Pointer), None) if matches!(kind, Some(Kind::Pointer)) => {
                let proto = info.as_ref().and_then(|i| i.get().proto.as_ref().map(|p| p.clone_ref(py)));
                ArgConv::Pointer { cls: item.clone().unbind(), proto, from_param: from_param.unbind() }
            }
            (Some(StockFromParam::Generic), None)
                if matches!(kind, Some(Kind::Struct | Kind::Union | Kind::Array | Kind::FuncPtr)) =>
            {
                ArgConv::Instance { cls: item.clone().unbind(), from_param: from_param.unbind() }
            }
            _ => ArgConv::Call(from_param.unbind()),
        };
        out.push(conv);
    }
    Ok(out)
}

/// Converts one argument with its converter into `slot`.
pub fn convert_with(
    conv: &ArgConv,
    arg: &Bound<'_, PyAny>,
    index: usize,
    slot: &mut ArgSlot,
    keep: &mut KeepAlive,
) -> PyResult<()> {
    let py = arg.py();
    match conv {
        ArgConv::Simple { kind, swapped, cls } => {
            // An instance of the type (or a subclass) passes its value.
            if is_instance_fast(arg, cls.bind(py))? {
                return conv_param(arg, index, slot, keep);
            }
            if kind.size > slot.value.0.len() {
                // Wider than a slot (`long double _Complex`): passed from memory that
                // `from_param` makes.
                let converted = crate::data::from_param::simple_from_param(py, cls.bind(py), arg)?;
                let converted = converted.into_bound(py);
                conv_param(&converted, index, slot, keep)?;
                keep.push(converted.unbind());
                return Ok(());
            }
            // SAFETY: the slot holds 16 bytes, enough for any scalar kind of that size or
            // less (checked above).
            match unsafe { simple::set_value(kind, *swapped, slot.value.0.as_mut_ptr(), arg) } {
                Ok(k) => {
                    slot.ffi = kind.ffi_type();
                    if let Some(k) = k {
                        keep.push(k);
                    }
                    Ok(())
                }
                Err(err) => {
                    // CPython falls back to `_as_parameter_`, else reports the failure as the
                    // running version's `from_param` does.
                    match arg.getattr_opt(pyo3::intern!(py, "_as_parameter_"))? {
                        Some(inner) => recursion_guarded(py, || {
                            let converted = cls.bind(py).call_method1(pyo3::intern!(py, "from_param"), (inner,))?;
                            conv_param(&converted, index, slot, keep)
                        }),
                        None => Err(simple_conversion_error(py, err)),
                    }
                }
            }
        }
        ArgConv::Special { code, from_param, .. } => {
            match code {
                b'z' => {
                    if let Ok(b) = arg.cast::<PyBytes>() {
                        slot.set_pointer(b.as_bytes().as_ptr() as usize);
                        return Ok(());
                    }
                }
                b'P' if arg.is_exact_instance_of::<PyInt>() => {
                    slot.set_pointer(simple::int_mask(arg)? as usize);
                    return Ok(());
                }
                b'Z' => {
                    if let Ok(s) = arg.cast::<PyString>() {
                        let buf = simple::wchar_buffer(s)?;
                        slot.set_pointer(buf.as_bytes().as_ptr() as usize);
                        keep.push(buf.into_any().unbind());
                        return Ok(());
                    }
                }
                _ => {}
            }
            if arg.is_none() {
                slot.set_pointer(0);
                return Ok(());
            }
            let converted = from_param.bind(py).call1((arg,))?;
            conv_param(&converted, index, slot, keep)?;
            keep.push(converted.unbind());
            Ok(())
        }
        ArgConv::Pointer { cls, proto, from_param } => {
            if arg.is_none() {
                slot.set_pointer(0);
                return Ok(());
            }
            if let Some(proto) = proto {
                let proto = proto.bind(py);
                if let Ok(carg) = arg.cast::<CArgObject>() {
                    // byref(x) with x an instance of the target type.
                    if let Some(o) = &carg.get().obj {
                        if is_instance_fast(o.bind(py), proto)? {
                            return conv_param(arg, index, slot, keep);
                        }
                    }
                } else if is_instance_fast(arg, cls.bind(py))? {
                    return conv_param(arg, index, slot, keep);
                } else if is_instance_fast(arg, proto)? {
                    // A target instance is passed by reference (CPython's implicit byref).
                    let cd = arg.cast::<CData>()?;
                    slot.set_pointer(cd.get().ptr() as usize);
                    keep.push(arg.clone().unbind());
                    return Ok(());
                }
            }
            let converted = from_param.bind(py).call1((arg,))?;
            conv_param(&converted, index, slot, keep)?;
            keep.push(converted.unbind());
            Ok(())
        }
        ArgConv::Instance { cls, from_param } => {
            if is_instance_fast(arg, cls.bind(py))? {
                // What the stock from_param would return: the instance itself.
                return conv_param(arg, index, slot, keep);
            }
            let converted = from_param.bind(py).call1((arg,))?;
            conv_param(&converted, index, slot, keep)?;
            keep.push(converted.unbind());
            Ok(())
        }
        ArgConv::Call(f) => {
            let converted = f.bind(py).call1((arg,))?;
            conv_param(&converted, index, slot, keep)?;
            keep.push(converted.unbind());
            Ok(())
        }
    }
}

/// The default conversion of an object into a C argument (CPython's ConvParam). `index` is
/// 1-based, for messages.
pub fn conv_param(obj: &Bound<'_, PyAny>, index: usize, slot: &mut ArgSlot, keep: &mut KeepAlive) -> PyResult<()> {
    let py = obj.py();
    if let Ok(carg) = obj.cast::<CArgObject>() {
        let c = carg.get();
        slot.value.0 = c.value_bytes();
        slot.ffi = c.ffi.as_ptr();
        slot.by_value = c.by_value_ptr;
        keep.push(obj.clone().unbind());
        return Ok(());
    }
    if let Ok(cd) = obj.cast::<CData>() {
        let info = stginfo_of_instance(obj).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
        let i = info.get();
        let c = cd.get();
        match i.kind {
            Kind::Simple { kind, .. } if kind.size > slot.value.0.len() => {
                // Wider than a slot: libffi reads the instance's own memory (kept alive below).
                slot.by_value = c.ptr();
                slot.ffi = kind.ffi_type();
            }
            Kind::Simple { kind, .. } => {
                // SAFETY: the instance holds `kind.size` bytes; the slot has room for 16.
                unsafe { std::ptr::copy_nonoverlapping(c.ptr(), slot.value.0.as_mut_ptr(), kind.size) };
                slot.ffi = kind.ffi_type();
            }
            Kind::Pointer | Kind::FuncPtr => {
                // SAFETY: pointer instances hold one pointer.
                slot.set_pointer(unsafe { simple::read_ptr(c.ptr()) });
                if matches!(i.kind, Kind::FuncPtr) {
                    note_passed_to_c(obj);
                }
            }
            Kind::Array => slot.set_pointer(c.ptr() as usize),
            Kind::Struct | Kind::Union => {
                slot.by_value = c.ptr();
                slot.ffi = i.ffi.as_ptr();
                keep.push(info.clone().into_any().unbind());
            }
        }
        keep.push(obj.clone().unbind());
        return Ok(());
    }
    if obj.is_none() {
        slot.set_pointer(0);
        return Ok(());
    }
    if obj.is_instance_of::<PyInt>() {
        // CPython: the value as unsigned long, else as long, else "int too long"; then
        // passed as a C int. Checked without raising in the common case.
        let mut overflow: std::ffi::c_int = 0;
        // SAFETY: `obj` is an int; the call reports overflow through `overflow` instead of
        // raising.
        let mut v = unsafe { pyo3::ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow) };
        if overflow > 0 {
            v = obj.extract::<u64>().map_err(|_| PyOverflowError::new_err("int too long to convert"))? as i64;
        } else if overflow < 0 {
            return Err(PyOverflowError::new_err("int too long to convert"));
        }
        slot.value.0[..4].copy_from_slice(&(v as i32).to_ne_bytes());
        slot.ffi = ferrotypes_core::simple::ffi_sint();
        return Ok(());
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        slot.set_pointer(b.as_bytes().as_ptr() as usize);
        return Ok(());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        // Like PyUnicode_AsWideCharString(obj, NULL): an embedded NUL is an error here.
        if simple::code_points(s)?.contains(&0) {
            return Err(pyo3::exceptions::PyValueError::new_err("embedded null character"));
        }
        let buf = simple::wchar_buffer(s)?;
        slot.set_pointer(buf.as_bytes().as_ptr() as usize);
        keep.push(buf.into_any().unbind());
        return Ok(());
    }
    if let Some(inner) = obj.getattr_opt(pyo3::intern!(py, "_as_parameter_"))? {
        recursion_guarded(py, || conv_param(&inner, index, slot, keep))?;
        keep.push(inner.unbind());
        return Ok(());
    }
    Err(PyTypeError::new_err(format!("Don't know how to convert parameter {index}")))
}

/// The libffi type for a result type (`None` = void; unset or not a ctypes type = int).
pub fn result_ffi_type(py: Python<'_>, restype: Option<&Py<PyAny>>) -> Option<FfiType> {
    let Some(r) = restype else { return Some(FfiType::Static(ferrotypes_core::simple::ffi_sint())) };
    let r = r.bind(py);
    if r.is_none() {
        return None;
    }
    match stginfo_of_type(r) {
        Some(info) => Some(info.get().ffi.clone()),
        None => Some(FfiType::Static(ferrotypes_core::simple::ffi_sint())),
    }
}

/// `isinstance(obj, cls)` for ctypes classes, as a plain subtype check (no
/// `__instancecheck__` call: ctypes' metaclasses do not define one). Falls back to the full
/// protocol when `cls` is not a type.
fn is_instance_fast(obj: &Bound<'_, PyAny>, cls: &Bound<'_, PyAny>) -> PyResult<bool> {
    // SAFETY: PyType_Check only reads the object's type flags.
    if unsafe { ffi::PyType_Check(cls.as_ptr()) } == 0 {
        return obj.is_instance(cls);
    }
    // SAFETY: `cls` is a type object (checked above); PyObject_TypeCheck only reads the MRO.
    Ok(unsafe { ffi::PyObject_TypeCheck(obj.as_ptr(), cls.as_ptr().cast()) } != 0)
}

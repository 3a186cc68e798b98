//! `CFuncPtr`: foreign function objects and the call path (CPython's `callproc.c`).
//!
//! How a call goes, in order:
//! 1. `funcptr_vectorcall` receives the arguments as a C array (vectorcall, no tuple).
//! 2. The argument count is checked against `argtypes` (extra arguments are allowed: cdecl).
//! 3. Each argument is converted into a stack slot: through the converter chosen when
//!    `argtypes` was set, or by the default rules (`convert::conv_param`).
//! 4. The prepared libffi interface is reused when the signature is fixed; a variadic or
//!    untyped call reuses the last interface built for the same argument types.
//! 5. The GIL is released around the call (unless `FUNCFLAG_PYTHONAPI`), and `errno` is
//!    swapped with ctypes' private copy if `FUNCFLAG_USE_ERRNO`.
//! 6. The result is converted per `restype`, then `_check_retval_`, then `errcheck`.
use super::convert::{self, ArgSlot, ArgumentError, KeepAlive};
use super::fastcall::{FastArg, FastPlan, FastRet, FastState};
use crate::callbacks::thunk::{make_thunk, CThunkObject};
use crate::checked;
use crate::data::cdata::{self, CData, RawInit};
use crate::data::from_param::{traverse_converters, ArgConv};
use crate::data::stginfo::{
    flags, stginfo_of_instance, stginfo_of_type, FuncTypeInfo, Kind, StgInfo, FUNCFLAG_CDECL, FUNCFLAG_PYTHONAPI,
    FUNCFLAG_USE_ERRNO,
};
use crate::data::{roots, simple};
use crate::interp::{audit, finalization};
use crate::interp::vectorcall::vectorcall_args;
use crate::interp::GilCell;
use crate::native::core_error::core_err;
use crate::native::errno;
use crate::native::libraries::resolve_in_dll;
use ferrotypes_core::call::CallInterface;
use ferrotypes_core::ffi_type::FfiType;
use pyo3::exceptions::{PyAttributeError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyTuple, PyType};
use smallvec::SmallVec;
use std::ffi::c_void;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;

/// Internal (never in `_flags_`): keep the GIL during the call (`release_gil = False`).
const FLAG_KEEP_GIL: i32 = 1 << 30;
pub const CTYPES_MAX_ARGCOUNT: usize = 1024;

/// The per-instance call configuration. Replaced as a whole when `argtypes`/`restype` change,
/// so a call in progress keeps a consistent snapshot.
#[derive(Default)]
pub struct CallConfig {
    pub argtypes: Option<Py<PyAny>>,
    pub converters: Option<Vec<ArgConv>>,
    /// `None`: use the type's `_restype_`; `Some(None-object)`: void.
    pub restype: Option<Py<PyAny>>,
    pub checker: Option<Py<PyAny>>,
    /// Prepared interface for calls with exactly `converters.len()` arguments.
    pub fixed_cif: Option<Arc<CallInterface>>,
    /// `argtypes` ended with the variadic marker: every call uses a variadic interface.
    pub variadic: bool,
}

/// The last interface built for an untyped or variadic call: the argument types it was
/// built for, the fixed-argument count, and the interface.
type VarCif = (SmallVec<[*mut libffi::low::ffi_type; 8]>, Option<usize>, Arc<CallInterface>);

#[pyclass(extends = CData, subclass, frozen, module = "_ctypes", name = "CFuncPtr")]
pub struct CFuncPtr {
    /// The vectorcall entry point; the type's `tp_vectorcall_offset` points here.
    vectorcall: ffi::vectorcallfunc,
    config: GilCell<Option<Arc<CallConfig>>>,
    errcheck: GilCell<Option<Py<PyAny>>>,
    paramflags: GilCell<Option<Py<PyAny>>>,
    /// Last interface built for a variadic/untyped call, with its argument types.
    var_cif: GilCell<Option<VarCif>>,
    /// For callbacks: the Python callable and the closure that C calls.
    pub callable: GilCell<Option<Py<PyAny>>>,
    pub thunk: GilCell<Option<Py<PyAny>>>,
    /// The fast-lane decision for this object's configuration (`fastcall.rs`).
    fast: GilCell<FastState>,
    /// False: the GIL stays held during the call (`release_gil`, a ferrotypes extension).
    release_gil: GilCell<bool>,
}

impl GilCell<Option<Arc<CallConfig>>> {
    fn load(&self) -> Option<Arc<CallConfig>> {
        let v = self.replace(None);
        let out = v.clone();
        drop(self.replace(v));
        out
    }
}

fn type_func_info(info: &StgInfo) -> Option<&FuncTypeInfo> {
    info.func.as_ref()
}

impl CFuncPtr {
    fn empty() -> CFuncPtr {
        CFuncPtr {
            vectorcall: funcptr_vectorcall,
            config: GilCell::new(None),
            errcheck: GilCell::new(None),
            paramflags: GilCell::new(None),
            var_cif: GilCell::new(None),
            callable: GilCell::new(None),
            thunk: GilCell::new(None),
            fast: GilCell::new(FastState::Unknown),
            release_gil: GilCell::new(true),
        }
    }

    /// The fast-lane plan, if this object's configuration has one.
    ///
    /// # Safety
    /// The reference must be dropped before any Python code can run (which could set
    /// `argtypes`, `restype`, ... and so replace the plan).
    #[inline]
    pub unsafe fn fast_plan(&self) -> Option<&FastPlan> {
        // SAFETY: GIL-serialised access; the caller keeps Python code from running while the
        // reference lives, so the cell is not written meanwhile.
        match unsafe { &*self.fast.as_ptr() } {
            FastState::On(plan) => Some(plan),
            _ => None,
        }
    }

    fn reset_fast(&self) {
        drop(self.fast.replace(FastState::Unknown));
    }

    /// Address of the `vectorcall` field relative to the object start, for the type slot.
    pub fn vectorcall_offset(obj: &Bound<'_, CFuncPtr>) -> isize {
        let field = &obj.get().vectorcall as *const _ as isize;
        field - obj.as_ptr() as isize
    }

    pub fn function_address(slf: &Bound<'_, CFuncPtr>) -> usize {
        // SAFETY: a function pointer instance's memory holds one pointer.
        unsafe { simple::read_ptr(slf.as_super().get().ptr()) }
    }
}


#[pymethods]
impl CFuncPtr {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*args, **_kwargs))]
    fn __new__(
        cls: &Bound<'_, PyType>,
        args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<CFuncPtr>> {
        let py = cls.py();
        if let Some(first) = args.iter().next() {
            // A callback needs a prototype; CPython checks this before anything else.
            let is_callback = !first.is_instance_of::<PyInt>() && !first.is_instance_of::<PyTuple>() && first.is_callable();
            let has_argtypes = stginfo_of_type(cls.as_any()).is_some_and(|i| i.get().func.as_ref().is_some_and(|f| f.argtypes.is_some()));
            if is_callback && !has_argtypes {
                return Err(PyTypeError::new_err("cannot construct instance of this class: no argtypes"));
            }
        }
        let cdata = CData::for_new_instance(cls, |_| Ok(()))?;
        let this = CFuncPtr::empty();
        let mut address: Option<usize> = None;
        if args.is_empty() {
            address = Some(0);
        } else if args.len() == 1 && args.get_item(0)?.is_instance_of::<PyInt>() {
            let a = args.get_item(0)?;
            address = Some(a.extract::<usize>().or_else(|_| a.extract::<isize>().map(|v| v as usize))?);
        } else if let Ok(spec) = args.get_item(0)?.cast::<PyTuple>() {
            if spec.len() != 2 {
                return Err(PyTypeError::new_err("illegal func_spec argument"));
            }
            address = Some(resolve_in_dll(spec)?);
            if args.len() > 1 {
                let pf = args.get_item(1)?;
                if !pf.is_none() {
                    let pf_t = pf.cast::<PyTuple>().map_err(|_| PyTypeError::new_err("paramflags must be a tuple or None"))?;
                    super::paramflags::validate(cls.as_any(), pf_t)?;
                    drop(this.paramflags.replace(Some(pf.clone().unbind())));
                }
            }
        } else if args.get_item(0)?.is_callable() {
            let callable = args.get_item(0)?;
            let info = stginfo_of_type(cls.as_any()).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
            let (code_ptr, thunk) = make_thunk(py, &callable, info.get())?;
            address = Some(code_ptr);
            drop(this.callable.replace(Some(callable.unbind())));
            // As CPython's KeepRef(self, 0, thunk): `_objects` is {'0': thunk}.
            let objects = PyDict::new(py);
            objects.set_item("0", thunk.clone_ref(py))?;
            cdata.set_objects(Some(objects.into_any().unbind()));
            drop(this.thunk.replace(Some(thunk.into_any())));
        }
        let Some(address) = address else {
            return Err(PyTypeError::new_err("argument must be callable or integer function address"));
        };
        if cdata.owns_memory() {
            // SAFETY: the new instance owns at least a pointer's worth of memory.
            unsafe { simple::write_ptr(cdata.ptr(), address) };
        }
        Ok(PyClassInitializer::from(cdata).add_subclass(this))
    }

    #[getter]
    fn get_argtypes(slf: &Bound<'_, Self>) -> Py<PyAny> {
        let py = slf.py();
        if let Some(a) = slf.get().config.load().and_then(|c| c.argtypes.as_ref().map(|a| a.clone_ref(py))) {
            return a;
        }
        stginfo_of_instance(slf.as_any())
            .and_then(|i| i.get().func.as_ref().and_then(|f| f.argtypes.as_ref().map(|a| a.clone_ref(py).into_any())))
            .unwrap_or_else(|| py.None())
    }

    #[setter]
    fn set_argtypes(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::replace_argtypes(slf, Some(value))
    }

    #[deleter]
    fn delete_argtypes(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::replace_argtypes(slf, None)
    }

    #[setter]
    fn set_restype(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::replace_restype(slf, Some(value))
    }

    #[deleter]
    fn delete_restype(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::replace_restype(slf, None)
    }

    #[setter]
    fn set_errcheck(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::replace_errcheck(slf, Some(value))
    }

    #[deleter]
    fn delete_errcheck(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::replace_errcheck(slf, None)
    }

    #[getter]
    fn get_restype(slf: &Bound<'_, Self>) -> Py<PyAny> {
        let py = slf.py();
        if let Some(r) = slf.get().config.load().and_then(|c| c.restype.as_ref().map(|r| r.clone_ref(py))) {
            return r;
        }
        stginfo_of_instance(slf.as_any())
            .and_then(|i| i.get().func.as_ref().and_then(|f| f.restype.as_ref().map(|r| r.clone_ref(py))))
            .unwrap_or_else(|| py.None())
    }

    /// Whether calls release the GIL (default True, as ctypes always does). False keeps it
    /// held, which saves the release/re-acquire for tiny functions; such a function must
    /// not block, run long, or call back into Python from another thread.
    #[getter]
    fn get_release_gil(&self) -> bool {
        self.release_gil.get()
    }

    #[setter]
    fn set_release_gil(&self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let value = value.ok_or_else(|| PyAttributeError::new_err("cannot delete release_gil"))?;
        self.release_gil.set(value.is_truthy()?);
        self.reset_fast();
        Ok(())
    }

    #[getter]
    fn get_errcheck(slf: &Bound<'_, Self>) -> Py<PyAny> {
        slf.get().errcheck.get_ref(slf.py()).unwrap_or_else(|| slf.py().None())
    }

    /// `f.__call__(...)` (and calls through a type whose vectorcall is off): the same call
    /// path as vectorcall, with the arguments unpacked from the tuple and dict.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(slf: &Bound<'_, Self>, args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let positional: SmallVec<[Bound<'_, PyAny>; 8]> = args.iter().collect();
        let keywords = match kwargs {
            Some(d) if !d.is_empty() => Some(PyTuple::new(py, [d.clone().into_any()])?),
            _ => None,
        };
        call_impl(py, slf, &positional, keywords.as_ref(), false)
    }

    fn __bool__(slf: &Bound<'_, Self>) -> bool {
        CFuncPtr::function_address(slf) != 0
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        Ok(format!("<{} object at {:#x}>", slf.get_type().name()?, slf.as_ptr() as usize))
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.errcheck.traverse(&visit)?;
        self.paramflags.traverse(&visit)?;
        self.callable.traverse(&visit)?;
        self.thunk.traverse(&visit)?;
        // The configuration is this object's alone (never shared with another function
        // object), so its references are visited exactly once.
        if let Some(cfg) = self.config.load() {
            visit.call(&cfg.argtypes)?;
            traverse_converters(&cfg.converters, &visit)?;
            visit.call(&cfg.restype)?;
            visit.call(&cfg.checker)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        drop(self.errcheck.replace(None));
        drop(self.config.replace(None));
        drop(self.callable.replace(None));
        drop(self.thunk.replace(None));
    }

}

impl CFuncPtr {
    fn replace_argtypes(slf: &Bound<'_, Self>, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let old = slf.get().config.load();
        let mut cfg = CallConfig {
            restype: old.as_ref().and_then(|c| c.restype.as_ref().map(|r| r.clone_ref(py))),
            checker: old.as_ref().and_then(|c| c.checker.as_ref().map(|r| r.clone_ref(py))),
            ..Default::default()
        };
        match value {
            Some(v) if !v.is_none() => {
                // As CPython: converters from `tuple(value)`, but the object itself is what
                // `argtypes` reads back (a list stays that list).
                let items = v
                    .try_iter()
                    .and_then(|it| it.collect::<PyResult<Vec<_>>>())
                    .map_err(|_| PyTypeError::new_err("_argtypes_ must be a sequence of types"))?;
                let (items, marked) = super::variadic::split_marker(items)?;
                let tuple = PyTuple::new(py, items)?;
                let converters = convert::make_converters(tuple.as_any())?;
                // From 3.14 new argtypes must still fit the object's paramflags.
                if crate::interp::version::behaves_as(py, 14) {
                    if let Some(pf) = slf.get().paramflags.get_ref(py) {
                        if let Ok(pf) = pf.bind(py).cast::<PyTuple>() {
                            super::paramflags::validate_against(pf, &tuple)?;
                        }
                    }
                }
                cfg.converters = Some(converters);
                cfg.variadic = marked;
                cfg.argtypes = Some(v.clone().unbind());
            }
            _ => {}
        }
        drop(slf.get().config.replace(Some(Arc::new(cfg))));
        drop(slf.get().var_cif.replace(None));
        slf.get().reset_fast();
        Ok(())
    }

    fn replace_restype(slf: &Bound<'_, Self>, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let old = slf.get().config.load();
        let mut cfg = CallConfig {
            argtypes: old.as_ref().and_then(|c| c.argtypes.as_ref().map(|a| a.clone_ref(py))),
            converters: old.as_ref().and_then(|c| c.converters.as_ref().map(|v| v.iter().map(|a| a.clone_ref(py)).collect())),
            variadic: old.as_ref().is_some_and(|c| c.variadic),
            ..Default::default()
        };
        if let Some(v) = value {
            if !v.is_none() && stginfo_of_type(v).is_none() && !v.is_callable() {
                return Err(PyTypeError::new_err("restype must be a type, a callable, or None"));
            }
            cfg.checker = if v.is_none() { None } else { v.getattr_opt(pyo3::intern!(py, "_check_retval_"))?.map(Bound::unbind) };
            cfg.restype = Some(v.clone().unbind());
        }
        drop(slf.get().config.replace(Some(Arc::new(cfg))));
        drop(slf.get().var_cif.replace(None));
        slf.get().reset_fast();
        Ok(())
    }

    fn replace_errcheck(slf: &Bound<'_, Self>, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        match value {
            // Only `del f.errcheck` removes it: None is not callable (CPython 3.11).
            Some(v) => {
                if !v.is_callable() {
                    return Err(PyTypeError::new_err("the errcheck attribute must be callable"));
                }
                drop(slf.get().errcheck.replace(Some(v.clone().unbind())));
            }
            None => drop(slf.get().errcheck.replace(None)),
        }
        slf.get().reset_fast();
        Ok(())
    }

}

/// The effective configuration: the instance's, falling back to the type's.
struct Effective<'a> {
    converters: Option<&'a [ArgConv]>,
    restype: Option<&'a Py<PyAny>>,
    checker: Option<&'a Py<PyAny>>,
    fixed_cif: Option<&'a Arc<CallInterface>>,
}

/// The fast-lane conversion of a scalar kind, if it has one.
fn scalar(kind: &ferrotypes_core::simple::SimpleKind) -> Option<FastArg> {
    use ferrotypes_core::simple::ValueClass;
    let size = kind.size as u8;
    match (kind.class, kind.size) {
        (ValueClass::Signed, _) => Some(FastArg::Int { size, signed: true }),
        (ValueClass::Unsigned, _) => Some(FastArg::Int { size, signed: false }),
        (ValueClass::Float, 4) => Some(FastArg::F32),
        (ValueClass::Float, 8) => Some(FastArg::F64),
        _ => None,
    }
}

/// Whether calls with this configuration can take the fast lane (`fastcall.rs`), and how.
fn decide_fast(py: Python<'_>, eff: &Effective<'_>, flags: i32) -> FastState {
    if eff.checker.is_some() || flags & FUNCFLAG_PYTHONAPI != 0 {
        return FastState::Off;
    }
    let ret = match eff.restype.map(|r| r.bind(py)) {
        None => FastRet::Int { size: 4, signed: true },
        Some(r) if r.is_none() => FastRet::Void,
        Some(r) => {
            let info = stginfo_of_type(r);
            if let Some(agg) = info.as_ref().and_then(|i| aggregate_by_value(i.get())) {
                let FastArg::Aggregate { size, pass, .. } = agg else { return FastState::Off };
                return finish_fast(eff, flags, FastRet::Aggregate { cls: r.as_ptr() as usize, size, pass }, py);
            }
            let kind = match info.and_then(|i| i.get().simple_kind()) {
                Some((kind, false)) if !simple::is_simple_subclass(r) => kind,
                _ => return FastState::Off,
            };
            match (kind.code, scalar(kind)) {
                (b'z', _) => FastRet::CharP,
                (b'P', _) => FastRet::VoidP,
                (_, Some(FastArg::Int { size, signed })) => FastRet::Int { size, signed },
                (_, Some(FastArg::F32)) => FastRet::F32,
                (_, Some(FastArg::F64)) => FastRet::F64,
                _ => return FastState::Off,
            }
        }
    };
    finish_fast(eff, flags, ret, py)
}

/// How a structure or union type passes by value in the fast lane, if it can: a complete
/// aggregate whose classification is known (`FastArg::Aggregate`, with `cls` 0: filled by
/// the caller).
fn aggregate_by_value(info: &StgInfo) -> Option<FastArg> {
    if !matches!(info.kind, Kind::Struct | Kind::Union) || info.align > 16 {
        return None;
    }
    let size = u16::try_from(info.size).ok().filter(|&s| s > 0)?;
    let pass = info.ffi.sysv_passing()?;
    Some(FastArg::Aggregate { cls: 0, size, align16: info.align > 8, pass })
}

/// The argument half of [`decide_fast`], once the result conversion is known.
fn finish_fast(eff: &Effective<'_>, flags: i32, ret: FastRet, py: Python<'_>) -> FastState {
    let args: Option<SmallVec<[FastArg; 8]>> = match eff.converters {
        None => None,
        Some(convs) => {
            let mut out = SmallVec::new();
            for conv in convs {
                out.push(match conv {
                    ArgConv::Simple { kind, .. } => match scalar(kind) {
                        Some(a) => a,
                        None => return FastState::Off,
                    },
                    ArgConv::Special { code: b'z', .. } => FastArg::CharP,
                    ArgConv::Special { code: b'P', .. } => FastArg::VoidP,
                    ArgConv::Pointer { cls, proto: Some(proto), .. } => {
                        FastArg::Pointer { cls: cls.as_ptr() as usize, proto: proto.as_ptr() as usize }
                    }
                    ArgConv::Instance { cls, .. } => match stginfo_of_type(cls.bind(py)).map(|i| i.get().kind) {
                        Some(Kind::FuncPtr) => FastArg::Instance { cls: cls.as_ptr() as usize, funcptr: true },
                        Some(Kind::Array) => FastArg::Instance { cls: cls.as_ptr() as usize, funcptr: false },
                        Some(Kind::Struct | Kind::Union) => {
                            match stginfo_of_type(cls.bind(py)).and_then(|i| aggregate_by_value(i.get())) {
                                Some(FastArg::Aggregate { size, align16, pass, .. }) => {
                                    FastArg::Aggregate { cls: cls.as_ptr() as usize, size, align16, pass }
                                }
                                _ => return FastState::Off,
                            }
                        }
                        _ => return FastState::Off,
                    },
                    _ => return FastState::Off,
                });
            }
            Some(out)
        }
    };
    let use_errno = flags & FUNCFLAG_USE_ERRNO != 0;
    let release_gil = flags & FLAG_KEEP_GIL == 0;
    match FastPlan::new(args.as_deref(), ret, use_errno, release_gil) {
        Some(plan) => FastState::On(Box::new(plan)),
        None => FastState::Off,
    }
}

fn arg_error(py: Python<'_>, index: usize, err: PyErr) -> PyErr {
    let ty = err.get_type(py);
    let name = ty.name().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".into());
    let msg = err.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    ArgumentError::new_err(format!("argument {index}: {name}: {msg}"))
}

/// Converts a raw result per `restype` (CPython's GetResult).
///
/// # Safety
/// `buf` must hold a result of the restype's C type, written by the call.
pub unsafe fn convert_result(
    py: Python<'_>,
    restype: Option<&Py<PyAny>>,
    checker: Option<&Py<PyAny>>,
    buf: *const u8,
) -> PyResult<Py<PyAny>> {
    let Some(restype) = restype else {
        // SAFETY: an `int` result was written (contract).
        return Ok(unsafe { std::ptr::read_unaligned(buf as *const i32) }.into_pyobject(py)?.into_any().unbind());
    };
    let rt = restype.bind(py);
    if rt.is_none() {
        return Ok(py.None());
    }
    let Some(info) = stginfo_of_type(rt) else {
        // SAFETY: as above.
        let v = unsafe { std::ptr::read_unaligned(buf as *const i32) };
        return Ok(rt.call1((v,))?.unbind());
    };
    let retval = match info.get().kind {
        Kind::Simple { kind, swapped } if !simple::is_simple_subclass(rt) => {
            if kind.code == b'O' {
                // A returned PyObject* is a new reference: take it over.
                // SAFETY: the buffer holds a pointer (contract).
                let p = unsafe { simple::read_ptr(buf) } as *mut ffi::PyObject;
                if p.is_null() {
                    return Err(PyValueError::new_err("PyObject is NULL"));
                }
                // SAFETY: a PyObject* returned by a py_object function is an owned reference.
                unsafe { Bound::from_owned_ptr(py, p) }.unbind()
            } else {
                // SAFETY: the buffer holds a value of `kind` (contract).
                unsafe { simple::get_value(py, kind, swapped, buf)? }
            }
        }
        // SAFETY: the buffer holds the restype's bytes (contract).
        _ => unsafe { roots::instantiate_copy(rt, buf)? }.unbind(),
    };
    match checker {
        Some(c) => Ok(c.bind(py).call1((retval,))?.unbind()),
        None => Ok(retval),
    }
}

/// The raw buffers of one call, moved into the GIL-released section.
struct CallBuffers {
    result: *mut c_void,
    avalues: *mut *mut c_void,
}
// SAFETY: the buffers belong to the calling thread's stack frame, which waits for the call;
// no Python object is reachable through them.
unsafe impl Send for CallBuffers {}

/// Calls a foreign function through `cif` with the GIL/errno handling of `flags`.
///
/// The GIL is released through PyO3 (`Python::detach`) rather than `PyEval_SaveThread`, so
/// PyO3 knows this thread is detached: a callback running on it during the call then
/// re-attaches properly instead of assuming the GIL is held.
///
/// # Safety
/// As [`CallInterface::call`].
pub unsafe fn ffi_call_with_flags(py: Python<'_>, cif: &CallInterface, func: usize, result: *mut c_void, avalues: *mut *mut c_void, flags: i32) -> PyResult<()> {
    let use_errno = flags & FUNCFLAG_USE_ERRNO != 0;
    let bufs = CallBuffers { result, avalues };
    let run = move || {
        // Bind the whole struct: a closure would otherwise capture its (non-Send) fields.
        let bufs = bufs;
        errno::swapped_around(use_errno, || {
            if checked::enabled() {
                // Checked mode: the call runs inside the fault guard (`checked/call_guard.rs`).
                // SAFETY: forwarded from this function's contract.
                unsafe { checked::guarded_call(cif, func, bufs.result, bufs.avalues) }
            } else {
                // SAFETY: forwarded from this function's contract.
                unsafe { cif.call(func as *const c_void, bufs.result, bufs.avalues) };
                Ok(())
            }
        })
    };
    let outcome = if flags & (FUNCFLAG_PYTHONAPI | FLAG_KEEP_GIL) != 0 {
        run()
    } else {
        // The ticket is held until the GIL is back (interp/finalization.rs).
        let (outcome, _reattached) = py.detach(|| {
            let outcome = run();
            (outcome, finalization::before_reattach())
        });
        outcome
    };
    outcome.or_else(|event| checked::report(py, event))
}

#[repr(C, align(16))]
struct ResultBuf([u8; 32]);

/// The general call path. `audited`: the fast lane already raised `ctypes.call_function`
/// for this call (and then handed it over).
fn call_impl(py: Python<'_>, slf: &Bound<'_, CFuncPtr>, args: &[Bound<'_, PyAny>], kwnames: Option<&Bound<'_, PyTuple>>, audited: bool) -> PyResult<Py<PyAny>> {
    let this = slf.get();
    let info = stginfo_of_instance(slf.as_any()).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let tinfo = type_func_info(info.get());
    let mut flags = tinfo.map_or(FUNCFLAG_CDECL, |t| t.flags);
    if !this.release_gil.get() {
        flags |= FLAG_KEEP_GIL;
    }
    let cfg = this.config.load();
    let eff = Effective {
        converters: cfg.as_ref().and_then(|c| c.converters.as_deref()).or_else(|| tinfo.and_then(|t| t.converters.as_deref())),
        restype: cfg.as_ref().and_then(|c| c.restype.as_ref()).or_else(|| tinfo.and_then(|t| t.restype.as_ref())),
        checker: cfg.as_ref().and_then(|c| if c.restype.is_some() { c.checker.as_ref() } else { None })
            .or_else(|| if cfg.as_ref().is_some_and(|c| c.restype.is_some()) { None } else { tinfo.and_then(|t| t.checker.as_ref()) }),
        fixed_cif: cfg.as_ref().and_then(|c| c.fixed_cif.as_ref()),
    };

    // Parameter flags (prototypes made from a dll with paramflags) rebuild the argument list.
    let paramflags = this.paramflags.get_ref(py);
    // SAFETY: only the discriminant is read, under the GIL.
    if matches!(unsafe { &*this.fast.as_ptr() }, FastState::Unknown) {
        let blocked = paramflags.is_some() || this.errcheck.is_some();
        drop(this.fast.replace(if blocked { FastState::Off } else { decide_fast(py, &eff, flags) }));
    }
    let built;
    let (call_args, outs): (&[Bound<'_, PyAny>], _) = match &paramflags {
        Some(pf) => {
            built = super::paramflags::build_callargs(slf.as_any(), pf.bind(py), eff.converters, args, kwnames)?;
            (&built.args[..], Some(&built))
        }
        None => (args, None),
    };

    let func = CFuncPtr::function_address(slf);
    if func == 0 {
        return Err(PyValueError::new_err("NULL pointer access"));
    }
    let nargs = call_args.len();
    let required = eff.converters.map_or(0, <[ArgConv]>::len);
    if nargs < required {
        return Err(PyTypeError::new_err(format!(
            "this function takes at least {required} argument{} ({nargs} given)",
            if required == 1 { "" } else { "s" }
        )));
    }
    // The event at CPython's moment: after the argument count is known to suffice, before
    // any argument is converted; `arguments` is what the C function gets (output parameters
    // included, with paramflags).
    // SAFETY: the GIL is held.
    if !audited && unsafe { audit::call_function(func, || audit::tuple_of(call_args)) } < 0 {
        return Err(PyErr::fetch(py));
    }
    if nargs > CTYPES_MAX_ARGCOUNT {
        return Err(ArgumentError::new_err(format!("too many arguments ({nargs}), maximum is {CTYPES_MAX_ARGCOUNT}")));
    }

    // Variadic when there are arguments past `argtypes`, or always with the marker.
    // The marker belongs to whichever argtypes apply: the function object's, else its type's.
    let marked = match cfg.as_ref().filter(|c| c.converters.is_some()) {
        Some(c) => c.variadic,
        None => eff.converters.is_some() && tinfo.is_some_and(|t| t.variadic),
    };
    let variadic = if eff.converters.is_some() && (nargs > required || marked) { Some(required) } else { None };

    let mut slots: SmallVec<[ArgSlot; 8]> = SmallVec::with_capacity(nargs);
    let mut keep: KeepAlive = SmallVec::new();
    for (i, arg) in call_args.iter().enumerate() {
        let mut slot = ArgSlot::default();
        let r = match eff.converters.and_then(|c| c.get(i)) {
            Some(conv) => convert::convert_with(conv, arg, i + 1, &mut slot, &mut keep),
            None if marked => super::variadic::convert_arg(arg, i + 1, &mut slot, &mut keep),
            None => convert::conv_param(arg, i + 1, &mut slot, &mut keep),
        };
        r.map_err(|e| arg_error(py, i + 1, e))?;
        // With the marker, C's default promotions (without it, ctypes' behavior is kept:
        // libffi refuses an unpromoted float or small integer in the variadic part).
        if marked && i >= required {
            super::variadic::promote(&mut slot);
        }
        slots.push(slot);
    }

    // The call interface: prepared once for the fixed signature, else per argument types.
    let fixed = eff.converters.is_some() && nargs == required && !marked;
    let cif: Arc<CallInterface> = match (fixed, eff.fixed_cif) {
        (true, Some(c)) => c.clone(),
        _ => {
            let key: SmallVec<[*mut libffi::low::ffi_type; 8]> = slots.iter().map(|s| s.ffi).collect();
            let cached = this.var_cif.replace(None);
            let hit = cached.as_ref().filter(|c| c.0 == key && c.1 == variadic).map(|c| c.2.clone());
            drop(this.var_cif.replace(cached));
            match hit {
                Some(c) => c,
                None => {
                    let types: Vec<FfiType> = key.iter().map(|&p| FfiType::Static(p)).collect();
                    let ret = convert::result_ffi_type(py, eff.restype);
                    let c = Arc::new(CallInterface::new(ret, types, variadic).map_err(core_err)?);
                    // Aggregate arguments' descriptors are owned by their types' StgInfo,
                    // which `keep` holds for the duration of this call; the cached interface
                    // is only reused for the same descriptor pointers.
                    drop(this.var_cif.replace(Some((key, variadic, c.clone()))));
                    if fixed {
                        store_fixed_cif(slf, &c);
                    }
                    c
                }
            }
        }
    };

    let mut avalues: SmallVec<[*mut c_void; 8]> = slots.iter_mut().map(ArgSlot::avalue).collect();
    let rsize = cif.result_size();
    let mut small = ResultBuf([0; 32]);
    let mut big: Vec<u64> = Vec::new();
    let rbuf: *mut u8 = if rsize <= 32 {
        small.0.as_mut_ptr()
    } else {
        big.resize(rsize.div_ceil(8) + 1, 0);
        big.as_mut_ptr().cast()
    };
    // SAFETY: every slot matches the type libffi was told (the slot's `ffi`), the values
    // and the memory they point to are kept alive by `args`/`keep` until after the call, and
    // the result buffer has `result_size()` bytes, 16-byte aligned (or 8 for large structs,
    // which libffi copies with memcpy).
    if checked::enabled() {
        // "No restype": none set on the function, and its type is not a full prototype.
        let untyped_result = cfg.as_ref().is_none_or(|c| c.restype.is_none()) && tinfo.is_none_or(|t| t.argtypes.is_none());
        checked::before_call(slf.as_any(), func, &cif, eff.converters.is_none(), untyped_result, call_args, &avalues)?;
    }
    // SAFETY: as above.
    unsafe { ffi_call_with_flags(py, &cif, func, rbuf.cast(), avalues.as_mut_ptr(), flags) }?;
    if flags & FUNCFLAG_PYTHONAPI != 0 {
        if let Some(e) = PyErr::take(py) {
            return Err(e);
        }
    }
    // SAFETY: the call wrote a value of the restype into `rbuf`. The converted arguments
    // stay alive until the result is built: a returned pointer may point into one of them
    // (a `wchar_t *` argument returned as is, as CPython's callproc keeps them too).
    let result = unsafe { convert_result(py, eff.restype, eff.checker, rbuf) };
    drop(keep);
    let result = result?;
    if let Some(ec) = this.errcheck.get_ref(py) {
        // The errcheck protocol: returning the arguments tuple itself means "carry on"
        // (output parameters are then collected); anything else is the call's result.
        let callargs = PyTuple::new(py, call_args)?;
        let r = ec.bind(py).call1((result.bind(py), slf, &callargs))?;
        if !r.is(&callargs) {
            return Ok(r.unbind());
        }
    }
    match outs {
        Some(b) => super::paramflags::build_result(py, result, b),
        None => Ok(result),
    }
}

fn store_fixed_cif(slf: &Bound<'_, CFuncPtr>, cif: &Arc<CallInterface>) {
    // Only instance configurations with argtypes cache a fixed interface; the type-level
    // configuration rebuilds through `var_cif` (same cost after the first call).
    if let Some(cfg) = slf.get().config.load() {
        if cfg.converters.is_some() && cfg.fixed_cif.is_none() {
            let py = slf.py();
            let new = CallConfig {
                argtypes: cfg.argtypes.as_ref().map(|a| a.clone_ref(py)),
                converters: cfg.converters.as_ref().map(|v| v.iter().map(|a| a.clone_ref(py)).collect()),
                restype: cfg.restype.as_ref().map(|a| a.clone_ref(py)),
                checker: cfg.checker.as_ref().map(|a| a.clone_ref(py)),
                fixed_cif: Some(cif.clone()),
                variadic: cfg.variadic,
            };
            drop(slf.get().config.replace(Some(Arc::new(new))));
        }
    }
}

/// The vectorcall entry point of every function pointer object. PyO3's fastcall trampoline
/// supplies the attach guard (so references dropped here are released at once), panic
/// catching and error reporting.
unsafe extern "C" fn funcptr_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // Whether the fast lane raised the call's audit event before handing the call over.
    let mut audited = false;
    // Checked mode takes the general path, where calls are guarded and examined.
    if kwnames.is_null() && !checked::enabled() {
        // SAFETY: CPython calls vectorcall functions with the GIL held.
        let py = unsafe { Python::assume_attached() };
        // SAFETY: `callable` is a live CFuncPtr instance (this entry is only installed on
        // CFuncPtr types), borrowed for the duration of the call.
        let slf = unsafe { Bound::ref_from_ptr(py, &callable).cast_unchecked::<CFuncPtr>() };
        // SAFETY: `args` holds the positional arguments as borrowed references.
        if let Some(result) = unsafe { super::fastcall::try_call(py, slf, args, ffi::PyVectorcall_NARGS(nargsf) as usize, &mut audited) } {
            return result;
        }
    }
    let entry = if audited {
        pyo3::impl_::trampoline::get_trampoline_function!(fastcall_cfunction_with_keywords, vectorcall_body::<true>)
    } else {
        pyo3::impl_::trampoline::get_trampoline_function!(fastcall_cfunction_with_keywords, vectorcall_body::<false>)
    };
    // SAFETY: CPython calls vectorcall functions with the GIL held and the arguments the
    // fastcall convention describes (nargs extracted from nargsf).
    unsafe { entry(callable, args, ffi::PyVectorcall_NARGS(nargsf), kwnames) }
}

/// The general path of a call through vectorcall. `AUDITED`: the fast lane already raised
/// `ctypes.call_function` for this call before handing it over.
///
/// # Safety
/// Called only by `funcptr_vectorcall` with CPython's vectorcall arguments.
unsafe fn vectorcall_body<const AUDITED: bool>(
    py: Python<'_>,
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    // SAFETY: `callable` is a live CFuncPtr instance (this entry is only installed on
    // CFuncPtr types).
    let slf = unsafe { Bound::from_borrowed_ptr(py, callable) }.cast_into::<CFuncPtr>().map_err(PyErr::from)?;
    // SAFETY: CPython's vectorcall arguments (this function's contract).
    let (pos, kwargs) = unsafe { vectorcall_args(py, args, nargs as usize, kwnames)? };
    // call_impl takes keywords as a one-element tuple holding the dict.
    let kwargs = kwargs.map(|d| PyTuple::new(py, [d.into_any()])).transpose()?;
    call_impl(py, &slf, &pos, kwargs.as_ref(), AUDITED).map(Py::into_ptr)
}

/// Where instances keep their vectorcall entry, measured once at module init.
static VECTORCALL_OFFSET: AtomicIsize = AtomicIsize::new(0);

/// Measures where instances keep their vectorcall entry (on a throwaway instance of the
/// root) and installs vectorcall on the root class. Called once, at module init.
pub fn setup_vectorcall(py: Python<'_>, root: &Bound<'_, PyType>) -> PyResult<()> {
    let probe = instantiate_root_probe(py, root)?;
    let offset = CFuncPtr::vectorcall_offset(&probe);
    VECTORCALL_OFFSET.store(offset, Ordering::Relaxed);
    install_vectorcall(root, offset);
    Ok(())
}

/// Installs vectorcall on a function pointer subclass (called by its metaclass).
pub fn enable_vectorcall(cls: &Bound<'_, PyType>) {
    install_vectorcall(cls, VECTORCALL_OFFSET.load(Ordering::Relaxed));
}

/// Installs the vectorcall protocol on a function pointer type (the root at module init, and
/// every subclass from its metaclass: 3.11 does not inherit the flag for mutable types).
fn install_vectorcall(cls: &Bound<'_, PyType>, offset: isize) {
    let tp = cls.as_type_ptr();
    // SAFETY: `tp` is a live heap type deriving from CFuncPtr, whose instances have the
    // vectorcall field at `offset`; adjusting slots right after creation is how CPython's own
    // types do it. tp_call is set to the generic vectorcall adapter unless a Python class
    // defines its own __call__ (then the flag stays off so __call__ is honoured).
    unsafe {
        let call = (*tp).tp_call.map(|f| f as usize);
        // The root's own `__call__` (the first type enabled is the root, at module init):
        // subclasses inherit it as their tp_call, and it is equivalent to vectorcall.
        if OWN_TP_CALL.load(Ordering::Relaxed) == 0 {
            OWN_TP_CALL.store(call.unwrap_or(0), Ordering::Relaxed);
        }
        let own = OWN_TP_CALL.load(Ordering::Relaxed);
        let generic = ffi::PyVectorcall_Call as ffi::ternaryfunc;
        if call.is_none() || call == Some(generic as usize) || call == Some(own) {
            (*tp).tp_call = Some(generic);
            (*tp).tp_vectorcall_offset = offset;
            (*tp).tp_flags |= ffi::Py_TPFLAGS_HAVE_VECTORCALL;
        }
    }
}

/// `tp_call` of the CFuncPtr root as PyO3 built it (its `__call__`), recorded once.
static OWN_TP_CALL: AtomicUsize = AtomicUsize::new(0);

/// Builds the type-level storage info of a function pointer type from its class attributes.
pub fn funcptr_type_info(cls: &Bound<'_, PyType>) -> PyResult<StgInfo> {
    let py = cls.py();
    let d = crate::data::stginfo::own_dict(cls.as_any()).ok_or_else(|| PyTypeError::new_err("class has no namespace dict"))?;
    let get = |name: &str| -> PyResult<Option<Bound<'_, PyAny>>> { d.get_item(name) };
    let size = std::mem::size_of::<usize>();
    let mut info = StgInfo::new(size, size, 1, Kind::FuncPtr, FfiType::Static(ferrotypes_core::simple::ffi_pointer()), "X{}");
    info.type_flags |= flags::ISPOINTER;
    // As CPython's make_funcptrtype_dict: the class body itself must define `_flags_`.
    let flags = get("_flags_")?
        .filter(|f| f.is_instance_of::<PyInt>())
        .and_then(|f| f.extract::<i32>().ok())
        .ok_or_else(|| PyTypeError::new_err("class must define _flags_ which must be an integer"))?;
    let mut func = FuncTypeInfo { argtypes: None, converters: None, restype: None, checker: None, flags, variadic: false };
    if let Some(a) = get("_argtypes_")? {
        if !a.is_none() {
            let items = a
                .try_iter()
                .and_then(|it| it.collect::<PyResult<Vec<_>>>())
                .map_err(|_| PyTypeError::new_err("_argtypes_ must be a sequence of types"))?;
            // A prototype may end with the variadic marker too: CFUNCTYPE(c_int, c_char_p, ...).
            let (items, marked) = super::variadic::split_marker(items)?;
            func.variadic = marked;
            let t = PyTuple::new(py, items)?;
            func.converters = Some(convert::make_converters(t.as_any())?);
            func.argtypes = Some(t.unbind());
        }
    }
    if let Some(r) = get("_restype_")? {
        if !r.is_none() && stginfo_of_type(&r).is_none() && !r.is_callable() {
            return Err(PyTypeError::new_err("_restype_ must be a type, a callable, or None"));
        }
        func.checker = if r.is_none() { None } else { r.getattr_opt(pyo3::intern!(r.py(), "_check_retval_"))?.map(Bound::unbind) };
        func.restype = Some(r.unbind());
    }
    info.func = Some(func);
    let _ = py;
    Ok(info)
}

/// `_ctypes.call_function(address, args)` / `call_cdeclfunction`: an untyped call with
/// default conversions and an int result.
#[pyfunction]
pub fn call_function(py: Python<'_>, address: usize, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
    audit::call_function_tuple(py, address, args)?;
    let mut slots: SmallVec<[ArgSlot; 8]> = SmallVec::new();
    let mut keep: KeepAlive = SmallVec::new();
    for (i, a) in args.iter().enumerate() {
        let mut s = ArgSlot::default();
        convert::conv_param(&a, i + 1, &mut s, &mut keep).map_err(|e| arg_error(py, i + 1, e))?;
        slots.push(s);
    }
    let types = slots.iter().map(|s| FfiType::Static(s.ffi)).collect();
    let cif = CallInterface::new(Some(FfiType::Static(ferrotypes_core::simple::ffi_sint())), types, None).map_err(core_err)?;
    let mut avalues: SmallVec<[*mut c_void; 8]> = slots.iter_mut().map(ArgSlot::avalue).collect();
    let mut out = ResultBuf([0; 32]);
    if address == 0 {
        return Err(PyValueError::new_err("NULL pointer access"));
    }
    // SAFETY: the caller vouches for the address (as with CPython's call_function); argument
    // slots match the interface and live across the call.
    unsafe { ffi_call_with_flags(py, &cif, address, out.0.as_mut_ptr().cast(), avalues.as_mut_ptr(), FUNCFLAG_CDECL) }?;
    drop(keep);
    Ok(i32::from_ne_bytes(out.0[..4].try_into().expect("4 bytes")).into_pyobject(py)?.into_any().unbind())
}

/// Notes that a function pointer object is being passed to a foreign call: if it owns a
/// callback, collecting it later warns (`ResourceWarning`) in the default mode.
#[inline(never)]
pub fn note_passed_to_c(obj: &Bound<'_, PyAny>) {
    let Ok(f) = obj.cast::<CFuncPtr>() else { return };
    // Borrowed, not cloned: this also runs on the call fast lane, where no reference may
    // be dropped (no Python code runs while the cell is read).
    // SAFETY: GIL-serialised read of the cell; the reference is used and released here.
    let Some(thunk) = (unsafe { &*f.get().thunk.as_ptr() }) else { return };
    if let Ok(t) = thunk.bind(obj.py()).cast::<CThunkObject>() {
        t.get().callback().checks.mark_passed_to_c();
    }
}

/// A NULL function pointer instance of the root class itself, for measuring layout.
fn instantiate_root_probe<'py>(py: Python<'py>, root: &Bound<'py, PyType>) -> PyResult<Bound<'py, CFuncPtr>> {
    // SAFETY: reading tp_new of a live type object.
    let tp_new = unsafe { (*root.as_type_ptr()).tp_new }.ok_or_else(|| PyTypeError::new_err("no tp_new"))?;
    cdata::set_pending(RawInit::Owned { size: std::mem::size_of::<usize>(), length: 1 });
    let args = PyTuple::empty(py);
    // SAFETY: calling the root's own tp_new with itself; returns a new reference or NULL.
    let obj = unsafe { tp_new(root.as_ptr().cast(), args.as_ptr(), std::ptr::null_mut()) };
    drop(cdata::take_pending());
    // SAFETY: a new reference or NULL with an exception set.
    let obj = unsafe { Bound::from_owned_ptr_or_err(py, obj) }?;
    Ok(obj.cast_into::<CFuncPtr>()?)
}

#[allow(dead_code)]
fn _assert_raw_init_used(_: RawInit) {}

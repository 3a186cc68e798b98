//! The thunk: the libffi closure behind a callback's code pointer, the object owning it
//! (`CThunkObject`), and what runs when C calls it (`PyCallback`).
use super::foreign_threads::pin_thread_state;
use crate::checked;
use crate::data::stginfo::{stginfo_of_type, Kind, StgInfo, FUNCFLAG_USE_ERRNO};
use crate::data::cdata::CData;
use crate::data::{roots, simple};
use crate::interp::finalization;
use crate::interp::private_api::{interpreter_unavailable, write_unraisable};
use crate::interp::{thread_state, GilCell};
use crate::native::core_error::core_err;
use crate::native::errno;
use ferrotypes_core::call::CallInterface;
use ferrotypes_core::closure::{Closure, ClosureHandler};
use ferrotypes_core::ffi_type::FfiType;
use ferrotypes_core::simple::SimpleKind;
use pyo3::exceptions::{PyRuntimeWarning, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use smallvec::SmallVec;
use std::ffi::CStr;
use std::mem::ManuallyDrop;
use std::sync::Arc;

/// The unraisable report's text for a callback that raised: "on calling" up to 3.13, "while
/// calling" from 3.14 (CPython reworded every "Exception ignored" message).
fn msg_calling(py: Python<'_>) -> &'static CStr {
    if crate::interp::version::behaves_as(py, 14) {
        c"while calling ctypes callback function"
    } else {
        c"on calling ctypes callback function"
    }
}

/// As `msg_calling`, for a result that could not be converted.
fn msg_converting(py: Python<'_>) -> &'static CStr {
    if crate::interp::version::behaves_as(py, 14) {
        c"while converting result of ctypes callback function"
    } else {
        c"on converting result of ctypes callback function"
    }
}

/// How one C argument becomes a Python object.
enum ArgDecoder {
    /// A direct `_SimpleCData` subclass: its Python value.
    Value { kind: &'static SimpleKind, swapped: bool },
    /// Any other ctypes type: a new instance of `converters[index]` holding a copy
    /// (`direct`: allocated directly, see `roots::allocates_directly`).
    Instance { index: usize, kind: Kind, size: usize, length: usize, direct: bool },
    /// Not a ctypes type: the call fails ("cannot build parameter"), as in CPython.
    Unsupported,
}

/// How the callable's result is stored for C.
#[derive(Clone, Copy)]
enum ResultEncoder {
    /// A simple type: the returned Python value is converted (an instance of the same
    /// simple type gives its own value).
    Simple { kind: &'static SimpleKind, swapped: bool, raw_set: Option<simple::RawSet> },
    /// A structure or union type, returned by value: the callable returns an instance of
    /// the result type, whose `size` bytes are copied.
    Copied { size: usize },
}

/// The Python side of one closure: what it calls and how it converts.
pub struct PyCallback {
    /// Cleared by the GC (`CThunkObject.__clear__`); a cleared callback does nothing.
    pub(crate) callable: GilCell<Option<Py<PyAny>>>,
    /// The `argtypes` tuple and the restype, kept for instance creation and GC traversal.
    pub(crate) converters: GilCell<Option<Py<PyAny>>>,
    pub(crate) restype: GilCell<Option<Py<PyAny>>>,
    decoders: Vec<ArgDecoder>,
    result: Option<ResultEncoder>,
    use_errno: bool,
    /// No arguments, no result, no errno swap: the callback only calls (`call_plain`).
    plain: bool,
    /// Checked mode's bookkeeping (creation site, collected-but-called reports).
    pub(crate) checks: checked::CallbackChecks,
}

/// The object owning a closure (CPython's `CThunkObject`): kept in the function object's
/// `_objects`, it frees the closure when the last reference goes.
#[pyclass(frozen, module = "_ctypes", name = "CThunkObject")]
pub struct CThunkObject {
    closure: ManuallyDrop<Closure<PyCallback>>,
}

impl Drop for CThunkObject {
    fn drop(&mut self) {
        // At interpreter shutdown every module global is freed, callbacks included, while
        // C threads may still call them (CPython survives this only by timing luck). A
        // closure freed then would make such a call jump through freed memory; leaked, the
        // call finds a finalizing interpreter and returns a zeroed result.
        if interpreter_unavailable() {
            return;
        }
        // Checked mode keeps the closure, redirected to a report (C may still call it).
        let cb = self.closure.handler();
        if checked::retire_callback(&cb.checks, &cb.callable, &cb.converters, &cb.restype) {
            return;
        }
        // SAFETY: dropped exactly once, here; nothing uses the closure after its owner dies.
        unsafe { ManuallyDrop::drop(&mut self.closure) };
    }
}

#[pymethods]
impl CThunkObject {
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        let cb = self.closure.handler();
        cb.callable.traverse(&visit)?;
        cb.converters.traverse(&visit)?;
        cb.restype.traverse(&visit)?;
        cb.checks.traverse(&visit)
    }

    fn __clear__(&self) {
        let cb = self.closure.handler();
        drop(cb.callable.replace(None));
        drop(cb.converters.replace(None));
        drop(cb.restype.replace(None));
    }
}

impl CThunkObject {
    pub fn code_ptr(&self) -> usize {
        self.closure.code_ptr() as usize
    }

    pub(crate) fn callback(&self) -> &PyCallback {
        self.closure.handler()
    }
}

/// Builds the C-callable code pointer for `callable` with the prototype in `info`, and the
/// thunk object that owns the closure (freed when the function object and everything
/// keeping it die).
pub fn make_thunk(py: Python<'_>, callable: &Bound<'_, PyAny>, info: &StgInfo) -> PyResult<(usize, Py<CThunkObject>)> {
    let func = info.func.as_ref().ok_or_else(|| PyTypeError::new_err("cannot construct instance of this class: no argtypes"))?;
    let argtypes = func
        .argtypes
        .as_ref()
        .ok_or_else(|| PyTypeError::new_err("cannot construct instance of this class: no argtypes"))?
        .bind(py);

    let restype = func.restype.as_ref().map(|r| r.bind(py).clone());
    let invalid = || PyTypeError::new_err("invalid result type for callback function");
    let (result, result_ffi) = match &restype {
        Some(r) if r.is_none() => (None, None),
        Some(r) => {
            let info = stginfo_of_type(r).ok_or_else(invalid)?;
            let info = info.get();
            match info.kind {
                Kind::Simple { kind, swapped } => {
                    let raw_set = simple::raw_accessors(kind, swapped).map(|(_, set)| set);
                    (Some(ResultEncoder::Simple { kind, swapped, raw_set }), Some(FfiType::Static(kind.ffi_type())))
                }
                // Beyond CPython (which refuses them): structures and unions by value.
                // Pointer types stay refused, as every version's own suite requires
                // (test_callbacks.test_unsupported_restype_1).
                Kind::Struct | Kind::Union => (Some(ResultEncoder::Copied { size: info.size }), Some(info.ffi.clone())),
                Kind::Pointer | Kind::Array | Kind::FuncPtr => return Err(invalid()),
            }
        }
        None => return Err(invalid()),
    };

    let mut decoders = Vec::with_capacity(argtypes.len());
    let mut arg_ffi = Vec::with_capacity(argtypes.len());
    for (index, t) in argtypes.iter().enumerate() {
        match stginfo_of_type(&t) {
            Some(i) => {
                let i = i.get();
                arg_ffi.push(i.ffi.clone());
                decoders.push(match i.kind {
                    Kind::Simple { kind, swapped } if !simple::is_simple_subclass(&t) => ArgDecoder::Value { kind, swapped },
                    kind => ArgDecoder::Instance { index, kind, size: i.size, length: i.length, direct: roots::allocates_directly(&t, kind) },
                });
            }
            // CPython passes such an argument as an int and fails when the callback runs.
            None => {
                arg_ffi.push(FfiType::Static(ferrotypes_core::simple::ffi_sint()));
                decoders.push(ArgDecoder::Unsupported);
            }
        }
    }

    let interface = CallInterface::new(result_ffi, arg_ffi, None).map_err(core_err)?;
    let checks = checked::CallbackChecks::new(py, callable, argtypes.as_any(), restype.as_ref());
    let use_errno = func.flags & FUNCFLAG_USE_ERRNO != 0;
    let plain = decoders.is_empty() && result.is_none() && !use_errno;
    let handler = PyCallback {
        callable: GilCell::new(Some(callable.clone().unbind())),
        converters: GilCell::new(Some(argtypes.clone().into_any().unbind())),
        restype: GilCell::new(restype.map(Bound::unbind)),
        decoders,
        result,
        use_errno,
        plain,
        checks,
    };
    let closure = Closure::new(Arc::new(interface), handler).map_err(core_err)?;
    let thunk = Py::new(py, CThunkObject { closure: ManuallyDrop::new(closure) })?;
    let code = thunk.get().code_ptr();
    Ok((code, thunk))
}

impl ClosureHandler for PyCallback {
    unsafe fn invoke(&self, result: *mut u8, args: &[*const u8]) {
        let words = ferrotypes_core::thread_words::this_thread();
        // Once the interpreter is about to finalize, the result stays zeroed.
        let Some(_inside) = finalization::enter_callback(words) else { return };
        // Python code run here is not the foreign function: its faults are not caught.
        let _unguarded = ferrotypes_core::guard::armed().then(ferrotypes_core::guard::suspend);
        // SAFETY: the finalization gate admitted this thread, so the interpreter is whole.
        match unsafe { thread_state::attach_for_callback(words) } {
            Some(_attached) => {
                // SAFETY: this thread holds the GIL until `_attached` drops, after the call.
                // PyO3's attach count is not raised: the body drops no `Py` (whose release
                // would then be deferred), only `Bound`s, and error reports attach through PyO3.
                let py = unsafe { Python::assume_attached() };
                // SAFETY: forwarded from the trampoline (the handler's contract).
                unsafe { self.run(py, result, args) }
            }
            // SAFETY: forwarded.
            None => unsafe { self.invoke_attaching(result, args) },
        }
    }
}

impl PyCallback {
    /// A thread without a Python thread state (or attached with another one): the
    /// interpreter's own `PyGILState_Ensure` and `PyGILState_Release`; a foreign thread
    /// keeps the state made for it (`foreign_threads.rs`), so only its first callback comes
    /// here. Raw calls, not PyO3's attach: a thread inside a fast-lane call made with the GIL
    /// released (`thread_state::released`) still has PyO3's attach count at its attached
    /// value, and PyO3 would take that for "the GIL is held" and skip taking it.
    ///
    /// # Safety
    /// As [`ClosureHandler::invoke`].
    #[cold]
    #[inline(never)]
    unsafe fn invoke_attaching(&self, result: *mut u8, args: &[*const u8]) {
        // A finalizing interpreter would terminate this thread inside PyGILState_Ensure
        // (pthread_exit unwinding through Rust frames); return the zeroed result instead.
        if interpreter_unavailable() {
            return;
        }
        if !thread_state::this_thread_has_state() {
            pin_thread_state();
        }
        /// Gives back what `PyGILState_Ensure` took, also if the call panics.
        struct Ensured(ffi::PyGILState_STATE);
        impl Drop for Ensured {
            fn drop(&mut self) {
                // SAFETY: pairs the Ensure below, on the same thread, with the GIL held.
                unsafe { ffi::PyGILState_Release(self.0) };
            }
        }
        // SAFETY: the interpreter is initialized and not finalizing (checked above, and the
        // finalization gate admitted this thread).
        let _ensured = Ensured(unsafe { ffi::PyGILState_Ensure() });
        // SAFETY: this thread holds the GIL until `_ensured` drops.
        let py = unsafe { Python::assume_attached() };
        // SAFETY: forwarded from the trampoline (the handler's contract).
        unsafe { self.run(py, result, args) }
    }

    /// The call, by the callback's shape, once the GIL is held.
    ///
    /// # Safety
    /// As [`ClosureHandler::invoke`], with the GIL held.
    #[inline(always)]
    unsafe fn run(&self, py: Python<'_>, result: *mut u8, args: &[*const u8]) {
        if self.plain {
            self.call_plain(py)
        } else {
            // SAFETY: forwarded.
            unsafe { self.call(py, result, args) }
        }
    }

    /// A callback with no arguments and no result (`CFUNCTYPE(None)`, the C loop's kind):
    /// call, report what it raised, drop what it returned. `self` is not used once the
    /// callable has run.
    #[inline(always)]
    fn call_plain(&self, py: Python<'_>) {
        // A strong reference (the callable may drop the last reference to the function
        // object, freeing this handler).
        let Some(callable) = self.callable.get_bound(py) else { return dead_call(&self.checks) };
        // SAFETY: `callable` is a live reference; no arguments; the result is a new
        // reference or NULL with an exception set.
        let ret = unsafe { ffi::PyObject_Vectorcall(callable.as_ptr(), std::ptr::null(), 0, std::ptr::null_mut()) };
        if ret.is_null() {
            return report_pending(msg_calling, &callable);
        }
        // SAFETY: a new reference the call returned; the GIL is held.
        unsafe { ffi::Py_DECREF(ret) };
    }

    /// Runs the callable and stores its result. `self` is not used once the callable has
    /// run (it may have freed this handler, see `ClosureHandler::invoke`): what is needed
    /// afterwards is copied, or held, before.
    ///
    /// # Safety
    /// As [`ClosureHandler::invoke`], with the GIL held.
    #[inline(always)]
    unsafe fn call(&self, py: Python<'_>, result: *mut u8, args: &[*const u8]) {
        // A strong reference (the callable may drop the last reference to the function
        // object, freeing this handler): copy what is needed after the call too.
        let Some(callable) = self.callable.get_bound(py) else { return dead_call(&self.checks) };
        let (result_encoder, use_errno) = (self.result, self.use_errno);
        // A result copied from an instance is checked against the result type: hold it.
        let restype = match result_encoder {
            Some(ResultEncoder::Copied { .. }) => self.restype.get_bound(py),
            _ => None,
        };
        let ret = if self.decoders.is_empty() && !use_errno {
            // The usual no-argument callback: nothing to decode or release.
            // SAFETY: `callable` is a live reference; no arguments; the result is a new
            // reference or NULL with an exception set.
            unsafe { Bound::from_owned_ptr_or_opt(py, ffi::PyObject_Vectorcall(callable.as_ptr(), std::ptr::null(), 0, std::ptr::null_mut())) }
        } else {
            // SAFETY: forwarded (argument pointers per the closure's interface).
            match unsafe { self.call_with_args(py, &callable, args, use_errno) } {
                Ok(r) => r,
                Err(e) => return report(e, msg_calling, &callable),
            }
        };
        let ret = match ret {
            Some(r) => r,
            None => return report_pending(msg_calling, &callable),
        };
        let (kind, swapped, raw_set) = match result_encoder {
            None => return,
            Some(ResultEncoder::Simple { kind, swapped, raw_set }) => (kind, swapped, raw_set),
            Some(ResultEncoder::Copied { size }) => {
                // SAFETY: libffi's result buffer holds `size` bytes (the result type's size).
                if let Err(e) = unsafe { copy_result(&ret, restype.as_ref(), size, result) } {
                    report(e, msg_converting, &callable);
                }
                return;
            }
        };
        // An instance of the result's own simple type (a subclass, say) gives its value:
        // CPython converts it as an int and leaves the C result unset (gh-148596). Plain
        // ints and floats, the usual results, are not ctypes instances: no need to look.
        if !is_exact_number(&ret) {
            if let Some(own) = same_simple_instance(&ret, kind, swapped) {
                // SAFETY: the result buffer and the instance both hold one value of `kind`.
                unsafe { std::ptr::copy_nonoverlapping(own, result, kind.size) };
                return;
            }
        } else if let Some(set) = raw_set {
            // A plain number into a native integer or floating kind: its C type's own
            // setter, as a field or `c_int(5)` takes it (nothing to keep alive).
            // SAFETY: libffi's result buffer holds one value of `kind`; `ret` is live.
            match unsafe { set(result, ret.as_ptr()) } {
                0 => return,
                simple::RAW_DECLINED => {}
                _ => {
                    // SAFETY: as above; a failed conversion must not leave partial bytes.
                    unsafe { std::ptr::write_bytes(result, 0, kind.size) };
                    return report_pending(msg_converting, &callable);
                }
            }
        }
        // SAFETY: libffi's result buffer holds a value of the result type, which is `kind`.
        match unsafe { simple::set_value(kind, swapped, result, &ret) } {
            Ok(None) => {}
            Ok(Some(keep)) => kept_result(keep, kind.code == b'O', &callable),
            Err(e) => {
                // SAFETY: as above; a failed conversion must not leave partial bytes.
                unsafe { std::ptr::write_bytes(result, 0, kind.size) };
                report(e, msg_converting, &callable);
            }
        }
    }

    /// Decodes the arguments and calls `callable` with them: `Err` when an argument could
    /// not be decoded, `Ok(None)` when the call raised (the exception is set).
    ///
    /// # Safety
    /// `args[i]` must point to a C value of the i-th argument type.
    unsafe fn call_with_args<'py>(
        &self,
        py: Python<'py>,
        callable: &Bound<'py, PyAny>,
        args: &[*const u8],
        use_errno: bool,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut arglist = OwnedArgs(SmallVec::new());
        // SAFETY: forwarded.
        unsafe { self.decode_args(py, args, &mut arglist)? };
        if use_errno {
            errno::swap_errno();
        }
        let ret = arglist.call(callable);
        if use_errno {
            errno::swap_errno();
        }
        Ok(ret)
    }

    /// # Safety
    /// `args[i]` must point to a C value of the i-th argument type.
    #[inline]
    unsafe fn decode_args(&self, py: Python<'_>, args: &[*const u8], out: &mut OwnedArgs) -> PyResult<()> {
        if self.decoders.is_empty() {
            return Ok(());
        }
        // Only instance arguments need the argtypes tuple: fetched on first use, held (a
        // class may run Python code that clears this callback) while in use.
        let mut converters: Option<Bound<'_, PyAny>> = None;
        for (decoder, &p) in self.decoders.iter().zip(args) {
            let v = match *decoder {
                // SAFETY: `p` points to a value of `kind` (contract).
                ArgDecoder::Value { kind, swapped } => unsafe { simple::get_value(py, kind, swapped, p)? }.into_ptr(),
                ArgDecoder::Instance { index, kind, size, length, direct } => {
                    if converters.is_none() {
                        converters = self.converters.get_bound(py);
                    }
                    let conv = converters.as_ref().ok_or_else(|| PyTypeError::new_err("cannot build parameter"))?;
                    let cls = conv.cast::<PyTuple>()?.get_borrowed_item(index)?;
                    // SAFETY: `p` points to a value of the type's size (contract); kind, size
                    // and length were read from this class's storage info (immutable), and
                    // `direct` was decided for this class when the thunk was made.
                    unsafe {
                        if direct {
                            roots::instantiate_copy_direct(&cls, size, length, p)?
                        } else {
                            roots::instantiate_copy_kind(&cls, kind, size, length, p)?
                        }
                    }
                    .into_ptr()
                }
                ArgDecoder::Unsupported => return Err(PyTypeError::new_err("cannot build parameter")),
            };
            out.0.push(v);
        }
        Ok(())
    }
}

/// Reports an exception from a callback (`sys.unraisablehook`), attached through PyO3:
/// whatever the report drops is released at once, not deferred.
#[cold]
#[inline(never)]
fn report(e: PyErr, msg: fn(Python<'_>) -> &'static CStr, callable: &Bound<'_, PyAny>) {
    Python::attach(|py| {
        let callable = callable.clone().unbind();
        write_unraisable(py, e, msg(py), Some(&callable));
    });
}

/// Reports the exception the callable raised (`msg_calling`) or a conversion left set
/// (its own message) in the thread state.
#[cold]
#[inline(never)]
fn report_pending(msg: fn(Python<'_>) -> &'static CStr, callable: &Bound<'_, PyAny>) {
    Python::attach(|py| {
        let e = PyErr::fetch(py);
        let callable = callable.clone().unbind();
        write_unraisable(py, e, msg(py), Some(&callable));
    });
}

/// A callback whose callable was cleared: nothing to call (checked mode reports it).
#[cold]
#[inline(never)]
fn dead_call(checks: &checked::CallbackChecks) {
    Python::attach(|py| checked::report_dead_call(py, checks));
}

/// A result whose conversion left an object the C caller relies on.
#[cold]
#[inline(never)]
fn kept_result(keep: Py<PyAny>, is_object: bool, callable: &Bound<'_, PyAny>) {
    Python::attach(|py| {
        // A returned PyObject* is a new reference owned by the C caller.
        let _ = keep.into_ptr();
        if is_object {
            return;
        }
        // The C caller sees memory owned by `keep` (the bytes of a `char *`): it must never
        // be freed. CPython leaks it with a warning; so do we.
        if let Err(e) = PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), c"memory leak in callback function.", 1) {
            let callable = callable.clone().unbind();
            write_unraisable(py, e, msg_converting(py), Some(&callable));
        }
    });
}

/// True for an exact `int` or `float` (never a ctypes instance).
#[inline]
fn is_exact_number(o: &Bound<'_, PyAny>) -> bool {
    // SAFETY: reads the type pointer of a live object.
    let t = unsafe { ffi::Py_TYPE(o.as_ptr()) };
    t == std::ptr::addr_of_mut!(ffi::PyLong_Type) || t == std::ptr::addr_of_mut!(ffi::PyFloat_Type)
}

/// The buffer of `ret` when it is a ctypes instance whose type has exactly the simple kind
/// (and byte order) of the callback's result.
fn same_simple_instance(ret: &Bound<'_, PyAny>, kind: &'static SimpleKind, swapped: bool) -> Option<*const u8> {
    let data = ret.cast::<CData>().ok()?;
    let info = stginfo_of_type(&ret.get_type())?;
    match info.get().kind {
        Kind::Simple { kind: k, swapped: s } if std::ptr::eq(k, kind) && s == swapped && data.get().size() >= kind.size => Some(data.get().ptr()),
        _ => None,
    }
}

/// Stores a structure or union returned by a callback: the bytes of an instance of the
/// result type.
///
/// # Safety
/// `result` has room for `size` bytes.
unsafe fn copy_result(ret: &Bound<'_, PyAny>, restype: Option<&Bound<'_, PyAny>>, size: usize, result: *mut u8) -> PyResult<()> {
    let restype = restype.ok_or_else(|| PyTypeError::new_err("the callback's result type is gone"))?;
    let data = match ret.cast::<CData>() {
        Ok(d) if ret.is_instance(restype)? && d.get().size() >= size => d,
        _ => {
            return Err(PyTypeError::new_err(format!(
                "expected {} instance as the callback's result, got {}",
                restype.getattr("__name__")?,
                ret.get_type().name()?
            )))
        }
    };
    // SAFETY: the instance holds at least `size` bytes (checked), `result` has room for
    // `size` (contract); distinct buffers.
    unsafe { std::ptr::copy_nonoverlapping(data.get().ptr(), result, size) };
    Ok(())
}

/// The decoded arguments of one callback invocation, as the vectorcall array wants them
/// (on the stack for the usual few): strong references, released on drop.
struct OwnedArgs(SmallVec<[*mut ffi::PyObject; 8]>);

impl OwnedArgs {
    /// Calls `callable` with these positional arguments through the vectorcall protocol,
    /// without building an argument tuple (as CPython's callbacks do from 3.11).
    /// `None` when the call raised (the exception is set).
    #[inline]
    fn call<'py>(&self, callable: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
        let args = if self.0.is_empty() { std::ptr::null() } else { self.0.as_ptr() };
        // SAFETY: `callable` and every argument are live references held for the duration
        // of the call; the result is a new reference or NULL with an exception set.
        unsafe {
            let r = ffi::PyObject_Vectorcall(callable.as_ptr(), args, self.0.len(), std::ptr::null_mut());
            Bound::from_owned_ptr_or_opt(callable.py(), r)
        }
    }
}

impl Drop for OwnedArgs {
    fn drop(&mut self) {
        for &o in &self.0 {
            // SAFETY: each pointer is a strong reference this array owns; the GIL is held
            // (the arguments live inside the attached part of a callback).
            unsafe { ffi::Py_DECREF(o) };
        }
    }
}

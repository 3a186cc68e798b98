//! PEP 578 audit events: every `ctypes.*` event `_ctypes` raises, each behind one typed
//! function, so that the arguments handed to the variadic `PySys_Audit` always match its
//! format string. A site calls its event before the action it announces; a hook that
//! raises stops the action, and its exception is the operation's.
//!
//! There is no API to ask whether a hook is installed: `PySys_Audit` itself answers that
//! (in about fifty instructions on 3.11) and builds the hooks' arguments only when one is.
//! The cost that is ours is in what we pass it, which matters for `ctypes.call_function`:
//! CPython raises it from every foreign call from 3.14 on (gh-115322), and before that
//! only from the undocumented `_ctypes.call_function`. A change in behaviour, so it
//! follows the process's behaviour version (`interp::version::behaves_as`, the running
//! interpreter's unless `FERROTYPES_BEHAVIOR` opts in to a newer one): from 3.14, every
//! call raises it ([`call_function`]); before, only `_ctypes.call_function` does
//! ([`call_function_tuple`]), as in the stock `ctypes` of that version. Its `arguments` is
//! a tuple of the Python arguments, and the fast lane has them only as a vectorcall array:
//! [`call_function`] makes that tuple only when a hook is there to see it (see there).
//!
//! Events raised by `python/ferrotypes/__init__.py` itself: `ctypes.create_string_buffer`
//! and `ctypes.create_unicode_buffer`. Windows-only events (`ctypes.set_last_error`,
//! `ctypes.get_last_error`, `ctypes.seh_exception`) have no site here yet; a Windows port
//! adds them as further functions of this module.
use super::private_api::PySys_Audit;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::ffi::{c_int, c_void, CStr};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether every foreign call raises `ctypes.call_function` (behaviour 3.14 and newer);
/// fixed once at import by [`init`].
static EVERY_CALL: AtomicBool = AtomicBool::new(false);

/// Fixes, from the process's behaviour version, whether every call raises
/// `ctypes.call_function`. Called once at module set-up, after the behaviour is known.
pub fn init(py: Python<'_>) {
    EVERY_CALL.store(super::version::behaves_as(py, 14), Ordering::Relaxed);
}

/// Whether foreign calls raise `ctypes.call_function` in this process.
#[inline(always)]
pub fn every_call() -> bool {
    EVERY_CALL.load(Ordering::Relaxed)
}

/// `PySys_Audit`'s status as a result: a hook raised (its exception is fetched).
#[inline]
fn status(py: Python<'_>, rc: c_int) -> PyResult<()> {
    if rc < 0 {
        Err(PyErr::fetch(py))
    } else {
        Ok(())
    }
}

/// An event whose one argument is `obj`. The format wraps it in a tuple, so that an `obj`
/// that is itself a tuple still arrives as one argument.
fn one_object(py: Python<'_>, event: &CStr, obj: &Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: "(O)" takes one object pointer, a live borrowed reference; the GIL is held.
    status(py, unsafe { PySys_Audit(event.as_ptr(), c"(O)".as_ptr(), obj.as_ptr()) })
}

/// `ctypes.dlopen(name)`: a library is about to be loaded; `name` as passed (`None` for the
/// main program).
pub fn dlopen(py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<()> {
    one_object(py, c"ctypes.dlopen", name)
}

/// `ctypes.dlsym(library, name)`: a symbol is about to be looked up through a library
/// object (`lib.name`, `lib[name]`, a prototype called with `(name, lib)`, `in_dll`).
pub fn dlsym(py: Python<'_>, library: &Bound<'_, PyAny>, name: &Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: "OO" takes two object pointers, live borrowed references; the GIL is held.
    status(py, unsafe { PySys_Audit(c"ctypes.dlsym".as_ptr(), c"OO".as_ptr(), library.as_ptr(), name.as_ptr()) })
}

/// `ctypes.dlsym/handle(handle, name)`: `_ctypes.dlsym(handle, name)`.
pub fn dlsym_handle(py: Python<'_>, handle: &Bound<'_, PyAny>, name: &Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: as `dlsym`.
    status(py, unsafe { PySys_Audit(c"ctypes.dlsym/handle".as_ptr(), c"OO".as_ptr(), handle.as_ptr(), name.as_ptr()) })
}

/// `ctypes.addressof(obj)`.
pub fn addressof(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<()> {
    one_object(py, c"ctypes.addressof", obj)
}

/// `ctypes.cdata(address)`: an instance is about to be made over existing memory
/// (`from_address`, `from_buffer`, `in_dll`).
pub fn cdata(py: Python<'_>, address: usize) -> PyResult<()> {
    // SAFETY: "n" takes one Py_ssize_t; the GIL is held.
    status(py, unsafe { PySys_Audit(c"ctypes.cdata".as_ptr(), c"n".as_ptr(), address as ffi::Py_ssize_t) })
}

/// `ctypes.cdata/buffer(pointer, size, offset)`: `from_buffer`/`from_buffer_copy` about to
/// use `size` bytes exported at `pointer`, from `offset`.
pub fn cdata_buffer(py: Python<'_>, pointer: *const c_void, size: isize, offset: isize) -> PyResult<()> {
    // SAFETY: "nnn" takes three Py_ssize_t; the GIL is held.
    status(py, unsafe {
        PySys_Audit(c"ctypes.cdata/buffer".as_ptr(), c"nnn".as_ptr(), pointer as ffi::Py_ssize_t, size as ffi::Py_ssize_t, offset as ffi::Py_ssize_t)
    })
}

/// `ctypes.get_errno()`.
pub fn get_errno(py: Python<'_>) -> PyResult<()> {
    // SAFETY: a NULL format: no arguments; the GIL is held.
    status(py, unsafe { PySys_Audit(c"ctypes.get_errno".as_ptr(), std::ptr::null()) })
}

/// `ctypes.set_errno(errno)`, `errno` as passed.
pub fn set_errno(py: Python<'_>, errno: &Bound<'_, PyAny>) -> PyResult<()> {
    one_object(py, c"ctypes.set_errno", errno)
}

/// `ctypes.PyObj_FromPtr(obj)`.
pub fn pyobj_from_ptr(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<()> {
    one_object(py, c"ctypes.PyObj_FromPtr", obj)
}

/// `ctypes.string_at(address, size)` / `ctypes.wstring_at(address, size)`, raised by the C
/// entry points, where a hook's exception becomes their NULL result. Returns
/// `PySys_Audit`'s status: negative with an exception set when a hook raised.
///
/// # Safety
/// The GIL is held.
pub unsafe fn string_at(wide: bool, address: *const c_void, size: c_int) -> c_int {
    let event = if wide { c"ctypes.wstring_at" } else { c"ctypes.string_at" };
    // SAFETY: "nn" takes two Py_ssize_t; the GIL is held (contract).
    unsafe { PySys_Audit(event.as_ptr(), c"nn".as_ptr(), address as ffi::Py_ssize_t, size as ffi::Py_ssize_t) }
}

/// `ctypes.memoryview_at(address, size, readonly)`, as [`string_at`].
///
/// # Safety
/// The GIL is held.
pub unsafe fn memoryview_at(address: *const c_void, size: isize, readonly: c_int) -> c_int {
    // SAFETY: "nni" takes two Py_ssize_t and an int; the GIL is held (contract).
    unsafe { PySys_Audit(c"ctypes.memoryview_at".as_ptr(), c"nni".as_ptr(), address as ffi::Py_ssize_t, size as ffi::Py_ssize_t, readonly) }
}

/// `ctypes.call_function(func_pointer, arguments)` with the arguments already in a tuple
/// (`_ctypes.call_function`).
pub fn call_function_tuple(py: Python<'_>, func: usize, arguments: &Bound<'_, PyTuple>) -> PyResult<()> {
    // SAFETY: "nO" takes a Py_ssize_t and an object pointer (a live tuple); the GIL is held.
    status(py, unsafe { PySys_Audit(c"ctypes.call_function".as_ptr(), c"nO".as_ptr(), func as ffi::Py_ssize_t, arguments.as_ptr()) })
}

/// `ctypes.call_function(func_pointer, arguments)` for a foreign call, when the process
/// behaves as 3.14 or newer ([`every_call`]; otherwise nothing is raised and 0 returned),
/// the `arguments` tuple built by `build` (a new reference, or NULL with an exception set)
/// only if a hook is installed. Returns `PySys_Audit`'s status: negative with an exception
/// set when a hook raised (or `build` failed).
///
/// This is what keeps the event cheap: `PySys_Audit` builds the hooks' arguments from the
/// format only after finding a hook, and the format's `O&` hands the building of the
/// tuple to a converter function (`build_arguments`, running `build`). Without hooks no
/// tuple, no reference count and no item is touched; a call only passes three more
/// words. With hooks each event gets a new tuple of its own, which a hook may keep.
///
/// # Safety
/// The GIL is held.
#[inline(always)]
pub unsafe fn call_function<F: Fn() -> *mut ffi::PyObject>(func: usize, build: F) -> c_int {
    if !every_call() {
        return 0;
    }
    let convert: unsafe extern "C" fn(*mut c_void) -> *mut ffi::PyObject = build_arguments::<F>;
    // SAFETY: "nO&" takes a Py_ssize_t, then a converter function and the pointer it is
    // called with: `build_arguments::<F>` with `build`, which outlives the call. The GIL
    // is held (contract).
    unsafe {
        PySys_Audit(
            c"ctypes.call_function".as_ptr(),
            c"nO&".as_ptr(),
            func as ffi::Py_ssize_t,
            convert,
            &build as *const F as *mut c_void,
        )
    }
}

/// The `O&` converter of [`call_function`]: runs the closure `build` points at.
///
/// # Safety
/// `build` points at a live `F`; called by `Py_BuildValue` with the GIL held.
unsafe extern "C" fn build_arguments<F: Fn() -> *mut ffi::PyObject>(build: *mut c_void) -> *mut ffi::PyObject {
    // SAFETY: `call_function` passes the address of its `F` (contract).
    let build = unsafe { &*(build as *const F) };
    build()
}

/// A new tuple of the `nargs` objects at `args` (new references), for
/// [`call_function`]'s `build`: NULL with an exception set on failure.
///
/// # Safety
/// The GIL is held; `args` points at `nargs` live objects.
#[cold]
#[inline(never)]
pub unsafe fn tuple_of_array(args: *const *mut ffi::PyObject, nargs: usize) -> *mut ffi::PyObject {
    // SAFETY: forwarded from this function's contract; the tuple takes a new reference to
    // each item.
    unsafe {
        let tuple = ffi::PyTuple_New(nargs as ffi::Py_ssize_t);
        if !tuple.is_null() {
            for i in 0..nargs {
                let item = *args.add(i);
                ffi::Py_INCREF(item);
                ffi::PyTuple_SET_ITEM(tuple, i as ffi::Py_ssize_t, item);
            }
        }
        tuple
    }
}

/// A new tuple of `items`, for [`call_function`]'s `build`: NULL with an exception set on
/// failure.
#[cold]
#[inline(never)]
pub fn tuple_of(items: &[Bound<'_, PyAny>]) -> *mut ffi::PyObject {
    let py = match items.first() {
        Some(first) => first.py(),
        // SAFETY: the GIL is held (`call_function`'s callers hold it); an empty tuple is
        // a new reference to the interpreter's empty tuple.
        None => return unsafe { ffi::PyTuple_New(0) },
    };
    match PyTuple::new(py, items) {
        Ok(t) => t.into_ptr(),
        Err(e) => {
            e.restore(py);
            null_mut()
        }
    }
}

//! PEP 578 audit events: every `ctypes.*` event `_ctypes` raises, each behind one typed
//! function, so that the arguments handed to the variadic `PySys_Audit` always match its
//! format string. A site calls its event before the action it announces; a hook that
//! raises stops the action, and its exception is the operation's.
//!
//! There is no API to ask whether a hook is installed: `PySys_Audit` itself answers that in
//! a few instructions and builds the hooks' arguments only when one is. The cost that is
//! ours is in what we pass it, which matters for `ctypes.call_function`, raised on every
//! foreign call (CPython raises it from every call from 3.14 on, and only from the
//! undocumented `_ctypes.call_function` before; ferrotypes raises it on every version, so
//! that a gate watching it is never bypassed). Its `arguments` is a tuple of the Python
//! arguments, and the fast lane has them only as a vectorcall array: [`call_function`]
//! fills a cached tuple of the right arity instead of making one per call (see there).
//!
//! Events raised by `python/ferrotypes/__init__.py` itself: `ctypes.create_string_buffer`
//! and `ctypes.create_unicode_buffer`. Windows-only events (`ctypes.set_last_error`,
//! `ctypes.get_last_error`, `ctypes.seh_exception`) have no site here yet; a Windows port
//! adds them as further functions of this module.
use super::private_api::PySys_Audit;
use super::GilCell;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::ffi::{c_int, c_void, CStr};
use std::ptr::null_mut;

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

/// Arities with a cached `arguments` tuple: 0 up to the fast lane's most arguments.
const CACHED_ARITIES: usize = 15;

/// The cached `arguments` tuples, by arity (NULL: none made yet, or one is in use).
///
/// Each is a tuple the cache owns, whose items are NULL between calls. They are kept out
/// of the garbage collector (untracked), so that nothing can find one with NULL items
/// (`gc.get_objects()`), nor count its borrowed items (below) as references it owns.
/// Slot 0 holds the empty tuple and is never emptied.
static CALL_ARGS: GilCell<[*mut ffi::PyObject; CACHED_ARITIES]> = GilCell::new([null_mut(); CACHED_ARITIES]);

/// `ctypes.call_function(func_pointer, arguments)` for a call whose `nargs` arguments are
/// the array `args` (a vectorcall array, or any array of live objects). Returns
/// `PySys_Audit`'s status: negative with an exception set when a hook raised.
///
/// No tuple is made per call: the cached tuple of this arity is taken out of the cache
/// (so that a call made by a hook, or by another thread while a hook has released the GIL,
/// finds none and makes its own), its items are set to the arguments as *borrowed*
/// references, and after the event:
/// - if nobody else holds the tuple (reference count 1, always the case without hooks),
///   its items go back to NULL and it goes back into the cache;
/// - if a hook kept it, it becomes an ordinary tuple: it takes its own references to the
///   items and joins the garbage collector, and the cache lets go of it.
///
/// Borrowing is sound because the caller holds every argument for the whole call and the
/// tuple cannot die before the cache lets go of it (the cache's own reference); the GC
/// never traverses it while it borrows. It saves a reference count increment and decrement
/// per argument per call.
///
/// The hot part is inlined into the fast lane (whose frame already saves the registers it
/// needs), and the items are stored by [`store_items`].
///
/// # Safety
/// The GIL is held; `args` points at `nargs` live objects that stay alive until this
/// returns.
#[inline(always)]
pub unsafe fn call_function(func: usize, args: *const *mut ffi::PyObject, nargs: usize) -> c_int {
    if nargs >= CACHED_ARITIES {
        // SAFETY: forwarded from this function's contract.
        return unsafe { call_function_fresh(func, args, nargs) };
    }
    let slots = CALL_ARGS.as_ptr().cast::<*mut ffi::PyObject>();
    // SAFETY: `nargs < CACHED_ARITIES`, inside the array; the GIL serialises access to it.
    let slot = unsafe { slots.add(nargs) };
    // SAFETY: as above.
    let mut tuple = unsafe { slot.replace(null_mut()) };
    if tuple.is_null() {
        // SAFETY: the GIL is held (contract).
        tuple = unsafe { new_cached_tuple(nargs) };
        if tuple.is_null() {
            return -1;
        }
    }
    if nargs == 0 {
        // SAFETY: slot 0 keeps the empty tuple (immutable, no items to manage).
        unsafe { slot.write(tuple) };
        // SAFETY: "nO" takes a Py_ssize_t and a live object pointer; the GIL is held.
        return unsafe { PySys_Audit(c"ctypes.call_function".as_ptr(), c"nO".as_ptr(), func as ffi::Py_ssize_t, tuple) };
    }
    let items = tuple_items(tuple);
    // SAFETY: `tuple` has `nargs` items, all NULL (a cached tuple); each `args[i]` is live
    // (contract) and borrowed, as explained above.
    unsafe { store_items(items, nargs, |i| *args.add(i)) };
    // SAFETY: "nO" takes a Py_ssize_t and a live object pointer; the GIL is held.
    let rc = unsafe { PySys_Audit(c"ctypes.call_function".as_ptr(), c"nO".as_ptr(), func as ffi::Py_ssize_t, tuple) };
    // SAFETY: `tuple` is alive: the cache's reference is still held.
    if unsafe { ffi::Py_REFCNT(tuple) } == 1 {
        // SAFETY: the tuple's `nargs` items; the borrowed items are simply forgotten.
        unsafe { store_items(items, nargs, |_| null_mut()) };
        // From 3.14 a tuple caches its hash: a hook may have hashed this one.
        #[cfg(Py_3_14)]
        // SAFETY: a live tuple nobody else holds; -1 is "not computed yet".
        unsafe {
            (*tuple.cast::<ffi::PyTupleObject>()).ob_hash = -1
        };
        // SAFETY: the slot is inside the array (above); a hook's own foreign call may
        // have put a tuple there meanwhile, and then this one is freed instead.
        unsafe {
            if slot.read().is_null() {
                slot.write(tuple);
            } else {
                ffi::Py_DECREF(tuple);
            }
        }
    } else {
        // SAFETY: the GIL is held and `tuple` is alive (the cache's reference).
        unsafe { hand_over(tuple, nargs) };
    }
    rc
}

/// Stores `value(i)` into `dst[i]` for `i < n`: straight-line code for the usual few
/// arguments, a plain loop beyond. (Left to itself the compiler makes a loop this short a
/// `memset` call, or unrolls and vectorises it behind checks that cost more than the
/// stores at these counts; volatile stores keep the loop a loop.)
///
/// # Safety
/// `dst` is writable for `n` pointers; `value` is valid for every `i < n`.
#[inline(always)]
unsafe fn store_items(dst: *mut *mut ffi::PyObject, n: usize, value: impl Fn(usize) -> *mut ffi::PyObject) {
    // SAFETY: every index is below `n` (contract).
    unsafe {
        match n {
            1 => dst.write(value(0)),
            2 => {
                dst.write(value(0));
                dst.add(1).write(value(1));
            }
            3 => {
                dst.write(value(0));
                dst.add(1).write(value(1));
                dst.add(2).write(value(2));
            }
            _ => {
                for i in 0..n {
                    dst.add(i).write_volatile(value(i));
                }
            }
        }
    }
}

/// The item array of a tuple (`PyTuple_SET_ITEM`'s target, which pyo3-ffi only offers per
/// item).
#[inline(always)]
fn tuple_items(tuple: *mut ffi::PyObject) -> *mut *mut ffi::PyObject {
    let tuple = tuple.cast::<ffi::PyTupleObject>();
    // SAFETY: only the field's address is computed (no read), of a live tuple.
    unsafe { std::ptr::addr_of_mut!((*tuple).ob_item).cast() }
}

/// A new empty-itemed tuple of `nargs` items for the cache, out of the garbage collector;
/// NULL with an exception set on failure.
///
/// # Safety
/// The GIL is held.
#[cold]
#[inline(never)]
unsafe fn new_cached_tuple(nargs: usize) -> *mut ffi::PyObject {
    // SAFETY: the GIL is held (contract).
    unsafe {
        let tuple = ffi::PyTuple_New(nargs as ffi::Py_ssize_t);
        if !tuple.is_null() && nargs > 0 && ffi::PyObject_GC_IsTracked(tuple) != 0 {
            ffi::PyObject_GC_UnTrack(tuple.cast());
        }
        tuple
    }
}

/// A hook kept the cached tuple: it takes references to its (borrowed) items, joins the
/// garbage collector as any tuple, and the cache's reference is dropped.
///
/// # Safety
/// The GIL is held; `tuple` is a cached tuple whose `nargs` items are borrowed from live
/// objects, with the cache's reference still held.
#[cold]
#[inline(never)]
unsafe fn hand_over(tuple: *mut ffi::PyObject, nargs: usize) {
    // SAFETY: forwarded from this function's contract; the items are live (the caller
    // still holds them), so the tuple owns a reference to each from now on.
    unsafe {
        for i in 0..nargs {
            ffi::Py_INCREF(ffi::PyTuple_GET_ITEM(tuple, i as ffi::Py_ssize_t));
        }
        if ffi::PyObject_GC_IsTracked(tuple) == 0 {
            ffi::PyObject_GC_Track(tuple.cast());
        }
        ffi::Py_DECREF(tuple);
    }
}

/// [`call_function`] for more arguments than the cache covers (the general path only): a
/// new tuple for this call.
///
/// # Safety
/// As [`call_function`].
#[cold]
#[inline(never)]
unsafe fn call_function_fresh(func: usize, args: *const *mut ffi::PyObject, nargs: usize) -> c_int {
    // SAFETY: the GIL is held and `args` has `nargs` live objects (contract); the tuple
    // takes a new reference to each.
    unsafe {
        let tuple = ffi::PyTuple_New(nargs as ffi::Py_ssize_t);
        if tuple.is_null() {
            return -1;
        }
        for i in 0..nargs {
            let item = *args.add(i);
            ffi::Py_INCREF(item);
            ffi::PyTuple_SET_ITEM(tuple, i as ffi::Py_ssize_t, item);
        }
        let rc = PySys_Audit(c"ctypes.call_function".as_ptr(), c"nO".as_ptr(), func as ffi::Py_ssize_t, tuple);
        ffi::Py_DECREF(tuple);
        rc
    }
}

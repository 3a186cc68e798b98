//! Calling a ctypes class: `c_int(5)`, `Point(1, 2.0)`, `(c_int * 16)()`, `POINTER(T)(x)`.
//!
//! `type.__call__` would build an argument tuple, run the root's `tp_new` and `tp_init`
//! (PyO3 trampolines that parse `*args, **kwargs`), and look the storage info up twice. A
//! class of our metaclasses instead has its own vectorcall entry (`tp_vectorcall`, with
//! the metaclass's vectorcall flag set once at module init) that, when the class keeps the
//! root's constructor and initializer, allocates the instance directly
//! (`cdata::alloc_direct`) and runs the root's initialisation on the argument array. A
//! class whose `__new__` or `__init__` was overridden in Python — at creation or later —
//! goes through the metaclass's `tp_call` with a tuple, exactly as before.
use super::array::Array;
use super::cdata::{self, CData};
use super::pointer::Pointer;
use super::simple;
use super::stginfo::{stginfo_borrowed, stginfo_of_type, Kind, StgInfo};
use crate::interp::vectorcall::vectorcall_args;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use pyo3::types::{PyDict, PyTuple, PyType};

/// The roots whose instances are built here, with their constructor and initializer slots.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RootKind {
    Simple,
    Aggregate,
    Array,
    Pointer,
}

/// The roots built here, in the order `install` receives them, with their constructor and
/// initializer slots (function addresses; 0 until `install` ran). Plain atomics, not a
/// lazily initialised table: `root_kind` runs on every class call.
const ROOT_KINDS: [RootKind; 5] = [RootKind::Simple, RootKind::Aggregate, RootKind::Aggregate, RootKind::Array, RootKind::Pointer];
static ROOT_NEW: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];
static ROOT_INIT: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];

/// Records the roots' slots and turns on the vectorcall protocol for the metaclasses of
/// `roots` (the class objects themselves get their entry in [`enable_construct`]).
pub fn install(_py: Python<'_>, roots: &[&Bound<'_, PyType>; 5], metaclasses: &[Bound<'_, PyAny>]) {
    if !cdata::DIRECT.ready() {
        return;
    }
    for (i, root) in roots.iter().enumerate() {
        let tp = root.as_type_ptr();
        // SAFETY: reading slots of live type objects.
        let (new, init) = unsafe { ((*tp).tp_new.map_or(0, |f| f as usize), (*tp).tp_init.map_or(0, |f| f as usize)) };
        ROOT_NEW[i].store(new, Ordering::Relaxed);
        ROOT_INIT[i].store(init, Ordering::Relaxed);
    }
    for meta in metaclasses {
        let tp: *mut ffi::PyTypeObject = meta.as_ptr().cast();
        // SAFETY: `meta` is one of our metaclasses (heap subclasses of `type`): instances
        // are type objects, whose `tp_vectorcall` field is where `type` itself keeps its
        // entry; classes without an entry there (NULL) fall back to `tp_call`.
        unsafe {
            (*tp).tp_vectorcall_offset = std::mem::offset_of!(ffi::PyTypeObject, tp_vectorcall) as ffi::Py_ssize_t;
            (*tp).tp_flags |= ffi::Py_TPFLAGS_HAVE_VECTORCALL;
        }
    }
}

/// Gives a new class of our metaclasses its raw entries: `arr[i]` for arrays (see
/// `array::enable_raw_subscript`), the buffer export (`cdata::enable_raw_buffer`), and the
/// fast constructor entry, if it keeps the
/// construction of one of the roots built here (function pointer classes, and classes
/// defining `__new__`/`__init__` in Python, keep `type.__call__`).
pub fn enable_construct(cls: &Bound<'_, PyType>) {
    let tp = cls.as_type_ptr();
    super::array::enable_raw_subscript(tp);
    super::pointer::enable_raw_subscript(tp);
    cdata::enable_raw_buffer(tp);
    if root_kind(cls.py(), tp).is_some() {
        // SAFETY: `cls` is a live heap type just created by one of our metaclasses.
        unsafe { (*tp).tp_vectorcall = Some(construct_vectorcall) };
    }
}

unsafe extern "C" fn construct_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: decoding the argument count CPython passed.
    let nargs = unsafe { ffi::PyVectorcall_NARGS(nargsf) };
    if kwnames.is_null() && nargs <= 1 {
        // SAFETY: CPython calls vectorcall entries with the GIL held, `callable` the live
        // class and `nargs` borrowed arguments in `args`. A panic must not unwind into C.
        let plain = std::panic::catch_unwind(|| unsafe { construct_plain(callable, args, nargs) });
        match plain {
            Ok(Some(result)) => return result,
            Ok(None) => {}
            Err(_) => {
                // SAFETY: as above: the GIL is held.
                let py = unsafe { Python::assume_attached() };
                PyTypeError::new_err("ferrotypes: panic while constructing an instance").restore(py);
                return std::ptr::null_mut();
            }
        }
    }
    let entry = pyo3::impl_::trampoline::get_trampoline_function!(fastcall_cfunction_with_keywords, construct_body);
    // SAFETY: CPython calls vectorcall entries with the GIL held and the fastcall layout.
    unsafe { entry(callable, args, nargs, kwnames) }
}

/// The commonest class calls without PyO3's trampoline: `c_int(5)` (a plain number for a
/// native scalar kind), `c_int()`, `Point()`, `(c_int * 16)()`. `None` means "not this
/// case, nothing done": the general path runs. Nothing here drops a `Py<T>` (released
/// through PyO3's queue outside its own entries): only `Bound`s, released at once.
///
/// # Safety
/// Called by `construct_vectorcall` with the GIL held, `callable` a live class and `nargs`
/// (0 or 1) borrowed arguments in `args`.
unsafe fn construct_plain(callable: *mut ffi::PyObject, args: *const *mut ffi::PyObject, nargs: ffi::Py_ssize_t) -> Option<*mut ffi::PyObject> {
    // SAFETY: the GIL is held (contract).
    let py = unsafe { Python::assume_attached() };
    // SAFETY: `callable` is a live class and the GIL is held (contract). `info` is last
    // used in `allocate` before the object is allocated (the one step that may run Python
    // code: a collection with finalizers); the setter is chosen before that too.
    let info = unsafe { stginfo_borrowed(py, callable.cast()) }?;
    // The storage kind names the one root whose construction the class must keep (what
    // `root_kind` and `fits` decide together, without trying every root).
    let root = root_of_kind(callable.cast(), info)?;
    if nargs == 1 && root != RootKind::Simple {
        return None;
    }
    // SAFETY: `callable` is live and borrowed for the call (contract).
    let cls = unsafe { pyo3::Borrowed::from_ptr(py, callable) };
    let setter = if nargs == 1 {
        let (kind, swapped) = info.simple_kind()?;
        Some(simple::raw_accessors(kind, swapped)?.1)
    } else {
        None
    };
    let obj = match allocate(py, &cls, info) {
        Ok(obj) => obj,
        Err(err) => {
            err.restore(py);
            return Some(std::ptr::null_mut());
        }
    };
    if let Some(set) = setter {
        // SAFETY: `obj` was just allocated with the CData layout, owning its type's size,
        // one value of the setter's kind; `args` holds one live argument (contract).
        let done = unsafe { set(obj.cast_unchecked::<CData>().get().ptr(), *args) };
        match done {
            0 => {}
            // Not a plain number: the general path converts it (on a new instance).
            simple::RAW_DECLINED => return None,
            _ => return Some(std::ptr::null_mut()),
        }
    }
    Some(obj.into_ptr())
}

/// # Safety
/// Called only by `construct_vectorcall` with CPython's vectorcall arguments for a class.
unsafe fn construct_body(
    py: Python<'_>,
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<*mut ffi::PyObject> {
    let tp: *mut ffi::PyTypeObject = callable.cast();
    // SAFETY: `callable` is a live class object, borrowed for the call.
    let cls = unsafe { Bound::from_borrowed_ptr(py, callable) };
    // The root whose construction the class keeps, and its storage info if that is of the
    // root's kind; otherwise `type.__call__` runs (the roots' constructors then report).
    let root = root_kind(py, tp);
    let info = root.and_then(|root| stginfo_of_type(&cls).filter(|info| fits(root, info.get())));
    // The commonest calls, `c_int(5)`, `c_int()`, `Point()`, `(c_int * 16)()`: no argument
    // vector to build.
    if let (Some(root), Some(info)) = (root, &info) {
        if kwnames.is_null() && (nargs == 0 || (nargs == 1 && root == RootKind::Simple)) {
            let obj = allocate(py, &cls, info.get())?;
            if let (1, Some((kind, swapped))) = (nargs, info.get().simple_kind()) {
                // SAFETY: `args` holds one borrowed reference valid for the call.
                let value = unsafe { Bound::ref_from_ptr(py, &*args) };
                // SAFETY: `obj` was just allocated with the CData layout.
                let cd = unsafe { obj.cast_unchecked::<CData>() };
                let p = cd.get().ptr();
                // A plain number into a native integer or floating kind: its C type's own
                // setter (nothing to keep alive); other values and kinds: the general one.
                if let Some((_, set)) = simple::raw_accessors(kind, swapped) {
                    // SAFETY: the new instance owns its type's size, one value of `kind`;
                    // `value` is live for the call.
                    match unsafe { set(p, value.as_ptr()) } {
                        0 => return Ok(obj.into_ptr()),
                        simple::RAW_DECLINED => {}
                        _ => return Err(PyErr::fetch(py)),
                    }
                }
                // SAFETY: the new instance owns its type's size, one value of `kind`.
                let keep = unsafe { simple::set_value(kind, swapped, p, value)? };
                cdata::keep_ref(cd, 0, keep)?;
            }
            return Ok(obj.into_ptr());
        }
    }
    // SAFETY: CPython's vectorcall arguments (this function's contract).
    let (all, kwargs) = unsafe { vectorcall_args(py, args, nargs as usize, kwnames)? };
    let positional = &all[..];
    let (Some(root), Some(info)) = (root, info) else { return generic_call(&cls, positional, kwargs.as_ref()) };
    if root == RootKind::Simple && kwargs.is_some() {
        return generic_call(&cls, positional, kwargs.as_ref());
    }
    let obj = allocate(py, &cls, info.get())?;
    match root {
        // Zero or one positional argument took the path above.
        RootKind::Simple => {
            return Err(PyTypeError::new_err(format!("__init__ expected at most 1 argument, got {}", positional.len())));
        }
        RootKind::Aggregate => {
            super::structure::struct_init(&obj, positional, kwargs.as_ref())?;
        }
        RootKind::Array => super::array::array_init(obj.cast::<Array>()?, positional)?,
        RootKind::Pointer => {
            if let Some(first) = positional.first() {
                super::pointer::set_contents(obj.cast::<Pointer>()?, first)?;
            }
        }
    }
    Ok(obj.into_ptr())
}

/// Whether storage info `i` is of the kind the root `root` constructs (as the roots'
/// constructors check: a pointer class needs its target type).
fn fits(root: RootKind, i: &StgInfo) -> bool {
    match (root, i.kind) {
        (RootKind::Simple, Kind::Simple { .. })
        | (RootKind::Aggregate, Kind::Struct | Kind::Union)
        | (RootKind::Array, Kind::Array) => true,
        (RootKind::Pointer, Kind::Pointer) => i.proto.is_some(),
        _ => false,
    }
}

/// A new instance of `cls` owning zeroed memory of its type's size; creating it makes the
/// type's layout final.
#[inline(always)]
fn allocate<'py>(py: Python<'py>, cls: &Bound<'py, PyAny>, i: &StgInfo) -> PyResult<Bound<'py, PyAny>> {
    i.mark_final();
    // SAFETY: direct allocation is calibrated (`install` ran before any class got this
    // entry) and `cls` keeps the constructor of a calibrated root, so it derives from it.
    unsafe { cdata::alloc_owned(py, cls.as_ptr().cast(), i.size, i.length) }
}

/// Which root's construction `tp` keeps (its constructor and initializer slots are exactly
/// that root's), or `None` if Python code overrides either.
fn root_kind(_py: Python<'_>, tp: *mut ffi::PyTypeObject) -> Option<RootKind> {
    // SAFETY: reading slots of a live type object.
    let (new, init) = unsafe { ((*tp).tp_new.map_or(0, |f| f as usize), (*tp).tp_init.map_or(0, |f| f as usize)) };
    if new == 0 {
        return None;
    }
    (0..ROOT_KINDS.len())
        .find(|&i| ROOT_NEW[i].load(Ordering::Relaxed) == new && ROOT_INIT[i].load(Ordering::Relaxed) == init)
        .map(|i| ROOT_KINDS[i])
}

/// The root of storage info `i`'s kind if `tp` keeps that root's constructor and
/// initializer (and `i` fits it): `Some(r)` exactly when `root_kind` gives `r` and
/// `fits(r, i)` holds.
#[inline]
fn root_of_kind(tp: *mut ffi::PyTypeObject, i: &StgInfo) -> Option<RootKind> {
    // SAFETY: reading slots of a live type object.
    let (new, init) = unsafe { ((*tp).tp_new.map_or(0, |f| f as usize), (*tp).tp_init.map_or(0, |f| f as usize)) };
    let keeps = |k: usize| new != 0 && ROOT_NEW[k].load(Ordering::Relaxed) == new && ROOT_INIT[k].load(Ordering::Relaxed) == init;
    let k = match i.kind {
        Kind::Simple { .. } => 0,
        Kind::Array => 3,
        Kind::Pointer if i.proto.is_some() => 4,
        Kind::Struct | Kind::Union => {
            return [1, 2].into_iter().find(|&k| keeps(k)).map(|k| ROOT_KINDS[k]);
        }
        _ => return None,
    };
    keeps(k).then(|| ROOT_KINDS[k])
}

/// `type.__call__` semantics through the metaclass's `tp_call`, with a tuple and dict.
fn generic_call(cls: &Bound<'_, PyAny>, positional: &[Bound<'_, PyAny>], kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<*mut ffi::PyObject> {
    let py = cls.py();
    let tuple = PyTuple::new(py, positional)?;
    // SAFETY: the class's metaclass is a live type; its tp_call (type_call, or an override)
    // takes the class, a tuple and an optional dict, and returns a new reference or NULL.
    unsafe {
        let call = (*ffi::Py_TYPE(cls.as_ptr())).tp_call.ok_or_else(|| PyTypeError::new_err("class is not callable"))?;
        let r = call(cls.as_ptr(), tuple.as_ptr(), kwargs.map_or(std::ptr::null_mut(), |d| d.as_ptr()));
        Ok(Bound::from_owned_ptr_or_err(py, r)?.into_ptr())
    }
}

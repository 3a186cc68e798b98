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
use super::stginfo::{stginfo_borrowed, stginfo_of_type, Kind, StgInfo, StgInfoByVersion};
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

/// The class's vectorcall entry. `cls()` for a class that keeps its root's construction,
/// the commonest call, takes the shortest way: a cache probe, then [`construct_empty`]
/// (which cannot panic, so needs no guard), without a stack frame of its own here. The
/// functions this entry calls are `extern "C"` (each catches or cannot raise a panic), so
/// that the calls need no unwinding edge and are made as tail calls.
unsafe extern "C" fn construct_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: decoding the argument count CPython passed.
    let nargs = unsafe { ffi::PyVectorcall_NARGS(nargsf) };
    if kwnames.is_null() {
        if nargs == 0 {
            // SAFETY: CPython calls vectorcall entries with the GIL held and `callable` the
            // live class. Every way out is a call in tail position, so that this entry
            // keeps nothing across a call.
            unsafe {
                match CONSTRUCT_BY_VERSION.cached(callable.cast()) {
                    // The class's `StgInfo` (see the cache), used before anything can run
                    // Python code.
                    Some(Some(info)) => return construct_empty(callable.cast(), info),
                    Some(None) => {}
                    None => return construct_empty_uncached(callable, args, nargs, kwnames),
                }
            }
        } else if nargs == 1 {
            // SAFETY: as above, with one borrowed argument in `args`.
            return unsafe { construct_one_or_general(callable, args, nargs, kwnames) };
        }
    }
    // SAFETY: forwarded: CPython's vectorcall arguments, with the GIL held.
    unsafe { construct_general(callable, args, nargs, kwnames) }
}

/// `cls()` for a class not in [`CONSTRUCT_BY_VERSION`]: decides (and remembers), then
/// [`construct_empty`] or the general path.
///
/// # Safety
/// As [`construct_body`], with `nargs` 0 and `kwnames` NULL.
#[cold]
#[inline(never)]
unsafe extern "C" fn construct_empty_uncached(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls vectorcall entries with the GIL held and `callable` the live
    // class; `info` is used before anything can run Python code.
    unsafe {
        let py = Python::assume_attached();
        match constructible_uncached(py, callable.cast()) {
            Some(info) => construct_empty(callable.cast(), info),
            None => construct_general(callable, args, nargs, kwnames),
        }
    }
}

/// `cls(value)`: [`construct_one`] under a panic guard, else the general path.
///
/// # Safety
/// As [`construct_body`], with `nargs` 1 and `kwnames` NULL.
#[inline(never)]
unsafe extern "C" fn construct_one_or_general(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls vectorcall entries with the GIL held, `callable` the live class
    // and one borrowed argument in `args`; `info` is used before anything can run Python
    // code. A panic must not unwind into C.
    let plain = std::panic::catch_unwind(|| unsafe {
        let py = Python::assume_attached();
        let info = constructible(py, callable.cast())?;
        construct_one(py, callable.cast(), info, *args)
    });
    match plain {
        Ok(Some(result)) => result,
        // SAFETY: forwarded from this function's contract.
        Ok(None) => unsafe { construct_general(callable, args, nargs, kwnames) },
        Err(_) => construct_panicked(),
    }
}

/// Reports a panic in a class call's fast path (out of the hot entry).
#[cold]
#[inline(never)]
fn construct_panicked() -> *mut ffi::PyObject {
    // SAFETY: only called from the class call entries, with the GIL held.
    let py = unsafe { Python::assume_attached() };
    PyTypeError::new_err("ferrotypes: panic while constructing an instance").restore(py);
    std::ptr::null_mut()
}

/// The calls the fast paths do not serve, through PyO3's trampoline; kept out of the hot
/// entry so that its frame stays small.
///
/// # Safety
/// As [`construct_body`].
#[inline(never)]
unsafe extern "C" fn construct_general(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let entry = pyo3::impl_::trampoline::get_trampoline_function!(fastcall_cfunction_with_keywords, construct_body);
    // SAFETY: CPython calls vectorcall entries with the GIL held and the fastcall layout.
    unsafe { entry(callable, args, nargs, kwnames) }
}

/// The classes whose plain calls the fast paths serve, by version tag (see
/// `interp::type_cache`): the address of the class's `StgInfo` value when the class keeps
/// the construction of the root of its storage kind ([`root_of_kind`]), 0 when it does not.
/// What decides it — the class's `tp_new`/`tp_init`, its MRO, its `_stginfo_` — changes
/// only together with the version: assigning `__new__`/`__init__` (to the class or a
/// base), `__bases__` or `_stginfo_` gives the class a new one. The `StgInfo` lives in
/// the class's dicts as long as the version stays.
static CONSTRUCT_BY_VERSION: StgInfoByVersion = StgInfoByVersion::new();

/// The storage info of class `tp` if its plain calls may be served by the fast paths
/// ([`construct_empty`], [`construct_one`]).
///
/// # Safety
/// As [`stginfo_borrowed`]: `tp` is a live type, the GIL is held, and no Python code runs
/// while the result is used.
#[inline(always)]
unsafe fn constructible<'a>(py: Python<'_>, tp: *mut ffi::PyTypeObject) -> Option<&'a StgInfo> {
    // SAFETY: forwarded from this function's contract.
    match unsafe { CONSTRUCT_BY_VERSION.cached(tp) } {
        Some(decided) => decided,
        // SAFETY: forwarded from this function's contract.
        None => unsafe { constructible_uncached(py, tp) },
    }
}

/// [`constructible`] for a class not in the cache: decides and remembers.
///
/// # Safety
/// As [`constructible`].
#[cold]
#[inline(never)]
unsafe fn constructible_uncached<'a>(py: Python<'_>, tp: *mut ffi::PyTypeObject) -> Option<&'a StgInfo> {
    // Called outside any panic guard: a panic (none is expected) means "not served here".
    std::panic::catch_unwind(|| {
        // SAFETY: forwarded from this function's contract.
        let info: &'a StgInfo = unsafe { stginfo_borrowed(py, tp) }?;
        // The storage kind names the one root whose construction the class must keep (what
        // `root_kind` and `fits` decide together, without trying every root).
        let keeps = root_of_kind(tp, info).is_some();
        if keeps {
            // Every call served from the cache goes on to make an instance (the general
            // path too, when `construct_one` declines): the layout is final from here, as
            // CPython's constructor makes it before allocating. Marked once per version
            // here rather than on every call.
            info.mark_final();
        }
        // SAFETY: as above; `info` is the class's own, just looked up.
        unsafe { CONSTRUCT_BY_VERSION.remember(tp, keeps.then_some(info)) }
    })
    .ok()
    .flatten()
}

/// `cls()` for a class that keeps its root's construction (`c_int()`, `Point()`,
/// `(c_int * 16)()`): a new instance over zeroed memory, or NULL with an exception set.
/// Only C API calls (no Rust error values, nothing that can panic).
///
/// # Safety
/// Called with the GIL held; `tp` is a live class and `info` its storage info, from
/// [`constructible`], with no Python code run since.
#[inline(never)]
unsafe extern "C" fn construct_empty(tp: *mut ffi::PyTypeObject, info: &StgInfo) -> *mut ffi::PyObject {
    // The layout is final: `constructible_uncached` marked it.
    // SAFETY: direct allocation is calibrated (`install` ran before any class got this
    // entry) and `tp` keeps the constructor of a calibrated root, so it derives from it.
    unsafe { cdata::alloc_owned_raw(tp, info.size, info.length) }
}

/// `cls(value)` for a simple class that keeps its root's construction (`c_int(5)`), when
/// `value` is a plain number its kind's raw setter takes; `None` (nothing done) otherwise.
/// Nothing here drops a `Py<T>` (released through PyO3's queue outside its own entries):
/// only `Bound`s, released at once.
///
/// # Safety
/// As [`construct_empty`], and `value` a live borrowed argument.
#[inline(always)]
unsafe fn construct_one(py: Python<'_>, tp: *mut ffi::PyTypeObject, info: &StgInfo, value: *mut ffi::PyObject) -> Option<*mut ffi::PyObject> {
    // One argument: only a simple class's (the setter is chosen before allocating).
    let (kind, swapped) = info.simple_kind()?;
    let set = simple::raw_accessors(kind, swapped)?.1;
    // SAFETY: as in `construct_empty`.
    let obj = match unsafe { cdata::alloc_owned(py, tp, info.size, info.length) } {
        Ok(obj) => obj,
        Err(err) => return Some(restore_null(py, err)),
    };
    // SAFETY: `obj` was just allocated with the CData layout, owning its type's size, one
    // value of the setter's kind; `value` is live (contract).
    match unsafe { set(obj.cast_unchecked::<CData>().get().ptr(), value) } {
        0 => Some(obj.into_ptr()),
        // Not a plain number: the general path converts it (on a new instance).
        simple::RAW_DECLINED => None,
        _ => Some(std::ptr::null_mut()),
    }
}

/// Raises `err`, for a C entry's NULL result (out of the hot paths).
#[cold]
#[inline(never)]
fn restore_null(py: Python<'_>, err: PyErr) -> *mut ffi::PyObject {
    err.restore(py);
    std::ptr::null_mut()
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

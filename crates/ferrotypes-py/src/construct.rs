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
use crate::array::Array;
use crate::cdata::{self, CData};
use crate::pointer::Pointer;
use crate::simple;
use crate::stginfo::Kind;
use crate::util;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

/// The roots whose instances are built here, with their constructor and initializer slots.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RootKind {
    Simple,
    Aggregate,
    Array,
    Pointer,
}

struct RootSlots {
    kind: RootKind,
    new: usize,
    init: usize,
}

static ROOT_SLOTS: PyOnceLock<Vec<RootSlots>> = PyOnceLock::new();

/// Records the roots' slots and turns on the vectorcall protocol for the metaclasses of
/// `roots` (the class objects themselves get their entry in [`enable_for_class`]).
pub fn install(py: Python<'_>, roots: &[&Bound<'_, PyType>; 5], metaclasses: &[Bound<'_, PyAny>]) {
    if !cdata::direct_alloc_ready() {
        return;
    }
    let kinds = [RootKind::Simple, RootKind::Aggregate, RootKind::Aggregate, RootKind::Array, RootKind::Pointer];
    let slots = roots
        .iter()
        .zip(kinds)
        .map(|(root, kind)| {
            let tp = root.as_type_ptr();
            // SAFETY: reading slots of live type objects.
            let (new, init) = unsafe { ((*tp).tp_new.map_or(0, |f| f as usize), (*tp).tp_init.map_or(0, |f| f as usize)) };
            RootSlots { kind, new, init }
        })
        .collect();
    let _ = ROOT_SLOTS.set(py, slots);
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

/// Gives a new class of our metaclasses the fast constructor entry.
#[pyfunction]
pub fn enable_construct(cls: &Bound<'_, PyType>) {
    if ROOT_SLOTS.get(cls.py()).is_some() {
        // SAFETY: `cls` is a live heap type just created by one of our metaclasses.
        unsafe { (*cls.as_type_ptr()).tp_vectorcall = Some(construct_vectorcall) };
    }
}

unsafe extern "C" fn construct_vectorcall(
    callable: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargsf: usize,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let entry = pyo3::impl_::trampoline::get_trampoline_function!(fastcall_cfunction_with_keywords, construct_body);
    // SAFETY: CPython calls vectorcall entries with the GIL held and the fastcall layout.
    unsafe { entry(callable, args, ffi::PyVectorcall_NARGS(nargsf), kwnames) }
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
    // The commonest calls, `c_int(5)`, `c_int()`, `Point()`, `(c_int * 16)()`: no argument
    // vector to build.
    if kwnames.is_null() && nargs <= 1 {
        let made = match root_kind(py, tp) {
            Some(RootKind::Simple) => {
                // SAFETY: `args` holds `nargs` borrowed references valid for the call.
                let value = (nargs == 1).then(|| unsafe { Bound::ref_from_ptr(py, &*args) });
                new_simple(py, &cls, value)?
            }
            Some(kind) if nargs == 0 => new_empty(py, &cls, kind)?,
            _ => None,
        };
        if let Some(obj) = made {
            return Ok(obj.into_ptr());
        }
    }
    // SAFETY: CPython's vectorcall arguments (this function's contract).
    let (all, kwargs) = unsafe { util::vectorcall_args(py, args, nargs as usize, kwnames)? };
    let positional = &all[..];
    let Some(kind) = root_kind(py, tp) else { return generic_call(&cls, positional, kwargs.as_ref()) };
    // As the roots' constructors: the class must have storage info of its kind.
    let info = util::stginfo_of_type(&cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let i = info.get();
    match (kind, i.kind) {
        (RootKind::Simple, Kind::Simple { .. }) if kwargs.is_none() => {}
        (RootKind::Aggregate, Kind::Struct | Kind::Union) | (RootKind::Array, Kind::Array) => {}
        (RootKind::Pointer, Kind::Pointer) if i.proto.is_some() => {}
        _ => return generic_call(&cls, positional, kwargs.as_ref()),
    }
    i.mark_final();
    let data = CData::owned(i.size, i.length)?;
    drop(info);
    // SAFETY: direct allocation is calibrated (`install` ran) and `cls` keeps the
    // constructor of a calibrated root, so it derives from it.
    let obj = unsafe { cdata::alloc_direct(py, tp, data)? };
    match kind {
        // Zero or one argument took `new_simple` above.
        RootKind::Simple => {
            return Err(PyTypeError::new_err(format!("__init__ expected at most 1 argument, got {}", positional.len())));
        }
        RootKind::Aggregate => {
            let tuple = PyTuple::new(py, positional)?;
            crate::structure::struct_init(&obj, &tuple, kwargs.as_ref())?;
        }
        RootKind::Array => crate::array::array_init(obj.cast::<Array>()?, positional)?,
        RootKind::Pointer => {
            if let Some(first) = positional.first() {
                crate::pointer::set_contents(obj.cast::<Pointer>()?, first)?;
            }
        }
    }
    Ok(obj.into_ptr())
}

/// `cls(value)` for a simple class that keeps the root's construction (`None`: the class
/// has no simple storage info; the caller takes the general route).
fn new_simple<'py>(py: Python<'py>, cls: &Bound<'py, PyAny>, value: Option<&Bound<'py, PyAny>>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some(info) = util::stginfo_of_type(cls) else { return Ok(None) };
    let i = info.get();
    let Some((kind, swapped)) = i.simple_kind() else { return Ok(None) };
    i.mark_final();
    let data = CData::owned(i.size, i.length)?;
    // SAFETY: direct allocation is calibrated (`install` ran) and `cls` keeps the
    // constructor of the simple root, so it derives from it.
    let obj = unsafe { cdata::alloc_direct(py, cls.as_ptr().cast(), data)? };
    if let Some(value) = value {
        // SAFETY: `obj` was just allocated with the CData layout.
        let cd = unsafe { obj.cast_unchecked::<CData>() };
        // SAFETY: the new instance owns its type's size, one value of `kind`.
        let keep = unsafe { simple::set_value(kind, swapped, cd.get().ptr(), value)? };
        cdata::keep_ref(cd, 0, keep)?;
    }
    Ok(Some(obj))
}

/// `cls()` for an aggregate, array or pointer class that keeps its root's construction
/// (`None`: the class's storage info is not of that root's kind; the caller takes the
/// general route, which reports it).
fn new_empty<'py>(py: Python<'py>, cls: &Bound<'py, PyAny>, root: RootKind) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some(info) = util::stginfo_of_type(cls) else { return Ok(None) };
    let i = info.get();
    let fits = match (root, i.kind) {
        (RootKind::Aggregate, Kind::Struct | Kind::Union) | (RootKind::Array, Kind::Array) => true,
        (RootKind::Pointer, Kind::Pointer) => i.proto.is_some(),
        _ => false,
    };
    if !fits {
        return Ok(None);
    }
    i.mark_final();
    let data = CData::owned(i.size, i.length)?;
    // SAFETY: direct allocation is calibrated and `cls` keeps the constructor of a
    // calibrated root, so it derives from it.
    Ok(Some(unsafe { cdata::alloc_direct(py, cls.as_ptr().cast(), data)? }))
}

/// Which root's construction `tp` keeps (its constructor and initializer slots are exactly
/// that root's), or `None` if Python code overrides either.
fn root_kind(py: Python<'_>, tp: *mut ffi::PyTypeObject) -> Option<RootKind> {
    // SAFETY: reading slots of a live type object.
    let (new, init) = unsafe { ((*tp).tp_new.map_or(0, |f| f as usize), (*tp).tp_init.map_or(0, |f| f as usize)) };
    ROOT_SLOTS.get(py)?.iter().find(|r| r.new == new && r.init == init).map(|r| r.kind)
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

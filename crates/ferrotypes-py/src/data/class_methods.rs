//! The methods every C-data class has from its metaclass (`from_buffer`,
//! `from_buffer_copy`, `from_address`, `in_dll`), bound once per class.
//!
//! CPython keeps these as method descriptors in the metaclass, so `T.from_buffer(buf)`
//! makes a new bound method on every call and frees it right after: on 3.12 and 3.13 that
//! is about 60 of the 150 ns `T.from_buffer(buf)` takes. Here the metaclass holds a
//! [`PerClassMethod`] instead, a descriptor that wraps the same method descriptor and keeps
//! the method bound to each class in the class's own storage info
//! ([`StgInfo::bound_methods`]): class access returns that object (the very object
//! CPython's descriptor would have made the first time) and allocates nothing.
//!
//! What users see is unchanged: the attribute is found only on classes (instances do not
//! see their metaclass's attributes), `type(T).from_buffer` is the method descriptor
//! itself, and the bound method has the same name, `__self__` and behavior. The one
//! difference is identity: `T.from_buffer is T.from_buffer` holds here. The descriptor in
//! the metaclass's namespace shows the method descriptor's attributes and repr.
use super::stginfo::{own_stginfo, stginfo_borrowed, BOUND_METHODS};
use crate::interp::descriptors::type_setattr;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::Borrowed;

/// A metaclass attribute standing for the method descriptor `method`: class access returns
/// the method bound to that class, made once and kept in the class's storage info at
/// `slot`. Every other use forwards to `method`, whose attributes it shows as its own.
#[pyclass(frozen, module = "_ctypes", name = "per_class_method")]
pub struct PerClassMethod {
    /// The wrapped method descriptor (`PyDescr_NewMethod` of the metaclass).
    method: Py<PyAny>,
    /// Where classes keep this method bound (`StgInfo::bound_methods`).
    slot: usize,
}

#[pymethods]
impl PerClassMethod {
    fn __get__(slf: &Bound<'_, Self>, obj: Option<&Bound<'_, PyAny>>, owner: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let (obj, owner) = (obj.map_or(std::ptr::null_mut(), Bound::as_ptr), owner.map_or(std::ptr::null_mut(), Bound::as_ptr));
        // SAFETY: the arguments are live (borrowed from the call) and the GIL is held; the
        // result is a new reference or NULL with an exception set.
        unsafe { Bound::from_owned_ptr_or_err(py, bind_general(py, slf.as_ptr(), obj, owner)) }.map(Bound::unbind)
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Py<PyAny>> {
        self.method.bind(py).call(args, kwargs).map(Bound::unbind)
    }

    /// Every attribute is the method descriptor's (`__name__`, `__doc__`, `__qualname__`,
    /// `__objclass__`, `__text_signature__`, ...), except the descriptor's own methods and
    /// its class.
    fn __getattribute__(slf: &Bound<'_, Self>, name: &Bound<'_, pyo3::types::PyString>) -> PyResult<Py<PyAny>> {
        // (`__reduce__`/`__reduce_ex__` are the method descriptor's: they look the name up
        // on the metaclass again.)
        let own = matches!(name.to_str()?, "__get__" | "__call__" | "__class__" | "__repr__" | "__getattribute__");
        if own {
            // SAFETY: `slf` and `name` are live, the GIL is held; the generic lookup returns
            // a new reference or NULL with an exception set.
            return unsafe { Bound::from_owned_ptr_or_err(slf.py(), ffi::PyObject_GenericGetAttr(slf.as_ptr(), name.as_ptr())) }.map(Bound::unbind);
        }
        slf.get().method.bind(slf.py()).getattr(name).map(Bound::unbind)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.method.bind(py).repr()?.to_string())
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.method)
    }
}

/// Wraps the method descriptor `method` for the metaclass (`slot` < [`BOUND_METHODS`]).
pub fn per_class<'py>(method: &Bound<'py, PyAny>, slot: usize) -> PyResult<Bound<'py, PerClassMethod>> {
    debug_assert!(slot < BOUND_METHODS);
    Bound::new(method.py(), PerClassMethod { method: method.clone().unbind(), slot })
}

/// Makes [`per_class_get`] the descriptor type's `tp_descr_get` (module set-up, before any
/// instance is used).
pub fn install_descriptor_slot(py: Python<'_>) {
    let tp = py.get_type::<PerClassMethod>().as_type_ptr();
    // SAFETY: `PerClassMethod` is a ready heap type of this module that cannot be
    // subclassed, so no other type inherits the slot; the entry has the signature of
    // `descrgetfunc` and does what PyO3's `__get__` entry does (which stays in the type's
    // dict). Cached lookups are reset.
    unsafe {
        (*tp).tp_descr_get = Some(per_class_get);
        ffi::PyType_Modified(tp);
    }
}

/// `tp_descr_get`: for a class whose own storage info holds the method bound to it, that
/// object; everything else in [`bind_general`].
unsafe extern "C" fn per_class_get(descr: *mut ffi::PyObject, obj: *mut ffi::PyObject, owner: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls tp_descr_get with the GIL held, `descr` a live PerClassMethod
    // (the slot is only on that type), `obj` a live object or NULL and `owner` a live type
    // or NULL, all borrowed for the call. No Python code runs while the borrowed storage
    // info is used (an identity test and a reference count).
    unsafe {
        let py = Python::assume_attached();
        let this = Borrowed::from_ptr(py, descr).cast_unchecked::<PerClassMethod>().get();
        if !obj.is_null() && ffi::PyType_Check(obj) != 0 {
            if let Some(bound) = stginfo_borrowed(py, obj.cast()).and_then(|info| info.bound_method(this.slot, obj)) {
                return bound;
            }
        }
        bind_general(py, descr, obj, owner)
    }
}

/// `descr.__get__(obj, owner)` (a new reference, or NULL with an exception set): what the
/// wrapped descriptor gives (itself for access through the metaclass), kept in `obj`'s
/// storage info when `obj` is a class with storage info of its own and no method kept
/// there yet.
///
/// # Safety
/// The GIL is held; `descr` is a live `PerClassMethod`; `obj` and `owner` are live or NULL.
unsafe fn bind_general(py: Python<'_>, descr: *mut ffi::PyObject, obj: *mut ffi::PyObject, owner: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: `descr` is a live PerClassMethod (contract).
    let this = unsafe { Borrowed::from_ptr(py, descr).cast_unchecked::<PerClassMethod>() }.get();
    let method = this.method.as_ptr();
    // `__get__(obj)` without an owner means `type(obj)`, what attribute lookup passes.
    // SAFETY: `obj` is live when not NULL (contract).
    let owner = if owner.is_null() && !obj.is_null() { unsafe { ffi::Py_TYPE(obj) }.cast() } else { owner };
    // SAFETY: `method` is a live method descriptor, whose type has `tp_descr_get`
    // (`method_get`); it is called as the interpreter would, with live or NULL arguments,
    // and returns a new reference or NULL with an exception set.
    let bound = unsafe {
        match (*ffi::Py_TYPE(method)).tp_descr_get {
            Some(get) => get(method, obj, owner),
            None => ffi::Py_NewRef(method),
        }
    };
    // SAFETY: `obj` is live when not NULL (contract); PyType_Check only reads its flags.
    if bound.is_null() || obj.is_null() || unsafe { ffi::PyType_Check(obj) } == 0 {
        return bound;
    }
    // SAFETY: `obj` is a live class (checked above), borrowed for the call.
    let cls = unsafe { Borrowed::from_ptr(py, obj) };
    if let Some(info) = own_stginfo(&cls) {
        // SAFETY: `bound` is a live new reference (checked above), borrowed here.
        info.get().keep_bound_method(this.slot, &cls, &unsafe { Borrowed::from_ptr(py, bound) });
    }
    bound
}

/// Installs `method` (a method descriptor of `meta`) on `meta` as `name`, bound per class
/// at `slot`.
pub fn install(meta: &Bound<'_, PyType>, name: &str, method: &Bound<'_, PyAny>, slot: usize) -> PyResult<()> {
    let py = meta.py();
    let wrapped = per_class(method, slot)?;
    type_setattr(meta.as_any(), &pyo3::types::PyString::new(py, name), wrapped.as_any())
}

//! Adjusting the descriptors PyO3 makes for a class, where the running CPython's `_ctypes`
//! shows them differently from older versions.
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyModule, PyType};

/// Makes the `__doc__` of the getset descriptor `name` of `ty` `None`, as CPython 3.14's
/// `_SimpleCData.value` has it (earlier versions say "current value"). A missing attribute
/// or one that is not a getset descriptor is left alone.
pub fn clear_getset_doc(ty: &Bound<'_, PyType>, name: &str) -> PyResult<()> {
    let Some(descr) = ty.getattr("__dict__")?.get_item(name).ok() else { return Ok(()) };
    // Only the address of the interpreter's static type object is taken (no access).
    let getset_type = std::ptr::addr_of_mut!(ffi::PyGetSetDescr_Type);
    if descr.get_type().as_ptr() != getset_type.cast() {
        return Ok(());
    }
    clear_doc(descr.as_ptr());
    Ok(())
}

fn clear_doc(descr: *mut ffi::PyObject) {
    // SAFETY: `descr` is a live getset descriptor (its type was checked by the caller), so it
    // is a PyGetSetDescrObject; its PyGetSetDef belongs to a PyO3 class made at module
    // set-up and lives as long as the type; nothing reads `doc` concurrently (the GIL is
    // held and this runs once, before the module is returned).
    unsafe {
        let def = (*descr.cast::<ffi::PyGetSetDescrObject>()).d_getset;
        if !def.is_null() {
            (*def).doc = std::ptr::null();
        }
    }
}

/// A method descriptor of the class `owner` for the one-argument (`METH_O`) C function
/// `f` (see [`method_descriptor`]).
pub fn o_method_descriptor<'py>(owner: &Bound<'py, PyType>, name: &'static std::ffi::CStr, doc: &'static std::ffi::CStr, f: ffi::PyCFunction) -> PyResult<Bound<'py, PyAny>> {
    method_descriptor(owner, name, doc, ffi::PyMethodDefPointer { PyCFunction: f }, ffi::METH_O)
}

/// Puts an [`o_method_descriptor`] for `f` into the namespace of `owner` as `name`.
pub fn install_o_method(owner: &Bound<'_, PyType>, name: &'static std::ffi::CStr, doc: &'static std::ffi::CStr, f: ffi::PyCFunction) -> PyResult<()> {
    let descr = o_method_descriptor(owner, name, doc, f)?;
    let name = pyo3::types::PyString::new(owner.py(), name.to_str().unwrap_or_default());
    type_setattr(owner.as_any(), &name, &descr)
}

/// A method descriptor of the class `owner` for the C function `meth` with the calling
/// convention `flags`, as a C type's `tp_methods` entry would make: instances of `owner`
/// (for the metaclasses: the C-data classes) bind it without a Python frame, as CPython's
/// metatypes bind `from_buffer`. The caller puts it in `owner`'s namespace. The method
/// definition is leaked on purpose: the descriptor, and every method bound from it, point
/// at it for as long as they live, and this runs once per method at module set-up.
pub fn method_descriptor<'py>(owner: &Bound<'py, PyType>, name: &'static std::ffi::CStr, doc: &'static std::ffi::CStr, meth: ffi::PyMethodDefPointer, flags: std::ffi::c_int) -> PyResult<Bound<'py, PyAny>> {
    let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(ffi::PyMethodDef { ml_name: name.as_ptr(), ml_meth: meth, ml_flags: flags, ml_doc: doc.as_ptr() }));
    // SAFETY: `owner` is a live type object and `def` lives for good (leaked above);
    // PyDescr_NewMethod returns a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(owner.py(), ffi::PyDescr_NewMethod(owner.as_type_ptr(), def)) }
}

/// Adds `f` to the module `m` as the built-in function `name`: a `METH_FASTCALL |
/// METH_KEYWORDS` C function called by the interpreter without PyO3's trampoline or
/// argument parser (the function checks its own arguments). The method definition is leaked
/// on purpose: the function object points at it for as long as it lives.
pub fn add_fastcall_function(m: &Bound<'_, PyModule>, name: &'static std::ffi::CStr, doc: &'static std::ffi::CStr, f: ffi::PyCFunctionFastWithKeywords) -> PyResult<()> {
    let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunctionFastWithKeywords: f },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: doc.as_ptr(),
    }));
    let py = m.py();
    let module_name = m.name()?;
    // SAFETY: `def` lives for good (leaked above), `m` and its name are live objects;
    // PyCFunction_NewEx returns a new reference or NULL with an exception set.
    let func = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyCFunction_NewEx(def, m.as_ptr(), module_name.as_ptr()))? };
    m.add(name.to_str().unwrap_or_default(), func)
}

/// Runs the body of a raw C entry point: its error becomes the raised exception and a NULL
/// result; a panic becomes a `SystemError` (it never unwinds into the interpreter).
///
/// # Safety
/// The caller holds the GIL (an entry point called by the interpreter does).
pub unsafe fn entry_result(body: impl FnOnce(Python<'_>) -> PyResult<Py<PyAny>>) -> *mut ffi::PyObject {
    // SAFETY: the GIL is held (this function's contract).
    let py = unsafe { Python::assume_attached() };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(py))) {
        Ok(Ok(obj)) => obj.into_ptr(),
        Ok(Err(err)) => {
            err.restore(py);
            std::ptr::null_mut()
        }
        Err(_) => {
            pyo3::exceptions::PySystemError::new_err("ferrotypes: panic in a C entry point").restore(py);
            std::ptr::null_mut()
        }
    }
}

/// `type.__setattr__(cls, name, value)` as C code calls it: `type`'s own `tp_setattro`,
/// bypassing the class's metaclass (which may customise setattr, as the structure
/// metaclasses do for `_fields_`) without the `type.__setattr__` wrapper's check against
/// jumping over a metaclass's C-level setattr. `value` None-pointer semantics are not
/// offered: this only sets.
pub fn type_setattr(cls: &Bound<'_, PyAny>, name: &Bound<'_, pyo3::types::PyString>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: PyType_Check only reads the object's type flags.
    if unsafe { ffi::PyType_Check(cls.as_ptr()) } == 0 {
        return Err(pyo3::exceptions::PyTypeError::new_err("type_setattr needs a type"));
    }
    // SAFETY: `cls` is a live type (checked above), `name` a live str and `value` live, with
    // the GIL held: what `type`'s setattr expects.
    if unsafe { type_setattro(cls.as_ptr(), name.as_ptr(), value.as_ptr()) } < 0 {
        return Err(PyErr::fetch(cls.py()));
    }
    Ok(())
}

/// `type`'s own `tp_setattro` (what [`type_setattr`] calls; a metaclass's own setattr slot
/// hands everything it does not handle itself to it).
///
/// # Safety
/// GIL held; `cls` a live type, `name` live, `value` live or NULL (a deletion).
pub unsafe fn type_setattro(cls: *mut ffi::PyObject, name: *mut ffi::PyObject, value: *mut ffi::PyObject) -> std::ffi::c_int {
    // SAFETY: reading a slot of the interpreter's static `type` object, which has it.
    match unsafe { (*std::ptr::addr_of!(ffi::PyType_Type)).tp_setattro } {
        // SAFETY: the caller's contract.
        Some(f) => unsafe { f(cls, name, value) },
        // SAFETY: the generic setattr, with the same arguments and the GIL held.
        None => unsafe { ffi::PyObject_GenericSetAttr(cls, name, value) },
    }
}

//! Adjusting the descriptors PyO3 makes for a class, where the running CPython's `_ctypes`
//! shows them differently from older versions.
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyType;

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

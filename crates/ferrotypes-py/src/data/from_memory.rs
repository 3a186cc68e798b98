//! Instances over memory that already exists: `from_address`, `from_buffer` (sharing a
//! writable buffer), `from_buffer_copy`, and `in_dll` (a library's exported variable).
use super::cdata::{keep_ref, CData, RawInit};
use super::roots::{instantiate, instantiate_copy};
use super::simple::int_mask;
use super::stginfo::stginfo_of_type;
use crate::checked;
use crate::native::libraries::symbol_address;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// `from_address(cls, address)`.
#[pyfunction]
pub fn from_address(cls: &Bound<'_, PyAny>, address: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if !address.is_instance_of::<pyo3::types::PyInt>() {
        return Err(PyTypeError::new_err("integer expected"));
    }
    let addr = int_mask(address)? as usize;
    let info = stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let (size, length) = (info.get().size, info.get().length);
    if checked::enabled() {
        checked::check_readable(addr, size)?;
    }
    Ok(instantiate(cls, RawInit::Borrowed { ptr: addr as *mut u8, size, length, base: None, index: 0 })?.unbind())
}

/// `from_buffer(cls, obj, offset=0)`: shares a writable buffer's memory.
#[pyfunction]
pub fn from_buffer(py: Python<'_>, cls: &Bound<'_, PyAny>, obj: &Bound<'_, PyAny>, offset: isize) -> PyResult<Py<PyAny>> {
    let info = stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    // A memoryview holds the export for as long as the new instance keeps it (in
    // `_objects`), which also stops the exporter (a bytearray) from resizing under it.
    // SAFETY: `obj` is a live object; the result is a new reference or NULL with an error.
    let mv = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromObject(obj.as_ptr()))? };
    // A second, read-only request on the memoryview describes the same memory; it is
    // released at once (the memoryview keeps the underlying export).
    // SAFETY: an all-zero Py_buffer is a valid out-parameter; a successful GetBuffer is
    // paired with PyBuffer_Release after its fields are copied.
    let (buf, len, readonly, contiguous) = unsafe {
        let mut view: ffi::Py_buffer = std::mem::zeroed();
        if ffi::PyObject_GetBuffer(mv.as_ptr(), &mut view, ffi::PyBUF_FULL_RO) != 0 {
            return Err(PyErr::fetch(py));
        }
        let facts = (view.buf as isize, view.len, view.readonly != 0, ffi::PyBuffer_IsContiguous(&view, b'C' as std::ffi::c_char) != 0);
        ffi::PyBuffer_Release(&mut view);
        facts
    };
    if readonly {
        return Err(PyTypeError::new_err("underlying buffer is not writable"));
    }
    if !contiguous {
        return Err(PyTypeError::new_err("underlying buffer is not C contiguous"));
    }
    if offset < 0 {
        return Err(PyValueError::new_err("offset cannot be negative"));
    }
    let size = info.get().size as isize;
    if size > len - offset {
        return Err(PyValueError::new_err(format!("Buffer size too small ({} instead of at least {} bytes)", len, size + offset)));
    }
    let length = info.get().length;
    let ptr = (buf + offset) as *mut u8;
    let result = instantiate(cls, RawInit::Borrowed { ptr, size: size as usize, length, base: None, index: 0 })?;
    keep_ref(result.cast::<CData>()?, -1, Some(mv.into_any().unbind()))?;
    Ok(result.unbind())
}

/// `from_buffer_copy(cls, obj, offset=0)`.
#[pyfunction]
pub fn from_buffer_copy(py: Python<'_>, cls: &Bound<'_, PyAny>, obj: &Bound<'_, PyAny>, offset: isize) -> PyResult<Py<PyAny>> {
    let info = stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let mv = py.get_type::<pyo3::types::PyMemoryView>().call1((obj,))?;
    if offset < 0 {
        return Err(PyValueError::new_err("offset cannot be negative"));
    }
    let data: Vec<u8> = mv.call_method0(pyo3::intern!(mv.py(), "tobytes"))?.extract()?;
    let size = info.get().size;
    if (size as isize) > data.len() as isize - offset {
        return Err(PyValueError::new_err(format!("Buffer size too small ({} instead of at least {} bytes)", data.len(), size as isize + offset)));
    }
    // SAFETY: `offset + size <= data.len()` was checked above.
    Ok(unsafe { instantiate_copy(cls, data.as_ptr().add(offset as usize))? }.unbind())
}

/// `in_dll(cls, dll, name)`: the instance living at an exported symbol.
#[pyfunction]
pub fn in_dll(py: Python<'_>, cls: &Bound<'_, PyAny>, dll: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<Py<PyAny>> {
    let addr = symbol_address(dll, name)?;
    from_address(cls, &addr.into_pyobject(py)?.into_any())
}

//! The vectorcall protocol's argument array, unpacked for code that takes it straight from
//! CPython (class calls, function pointer calls).
use pyo3::ffi;
use pyo3::prelude::*;

/// The positional arguments of a vectorcall, and its keyword arguments as a dict.
pub type VectorcallArgs<'py> = (smallvec::SmallVec<[Bound<'py, PyAny>; 8]>, Option<Bound<'py, pyo3::types::PyDict>>);

/// Unpacks CPython's vectorcall arguments (`nargs` positional values, then one value per
/// name in `kwnames`).
///
/// # Safety
/// `args` holds `nargs` plus `len(kwnames)` live references valid for the call; `kwnames`
/// is NULL or a tuple of str.
pub unsafe fn vectorcall_args<'py>(
    py: Python<'py>,
    args: *const *mut ffi::PyObject,
    nargs: usize,
    kwnames: *mut ffi::PyObject,
) -> PyResult<VectorcallArgs<'py>> {
    let nkw = if kwnames.is_null() {
        0
    } else {
        // SAFETY: a non-NULL kwnames is a tuple (contract).
        unsafe { ffi::PyTuple_GET_SIZE(kwnames) as usize }
    };
    // SAFETY: `args` holds `nargs + nkw` borrowed references valid for the call (contract).
    let mut all: smallvec::SmallVec<[Bound<'py, PyAny>; 8]> = (0..nargs + nkw).map(|i| unsafe { Bound::from_borrowed_ptr(py, *args.add(i)) }).collect();
    if nkw == 0 {
        return Ok((all, None));
    }
    let kwvalues: smallvec::SmallVec<[Bound<'py, PyAny>; 8]> = all.drain(nargs..).collect();
    // SAFETY: non-NULL and a tuple (contract).
    let names = unsafe { Bound::from_borrowed_ptr(py, kwnames) }.cast_into::<pyo3::types::PyTuple>()?;
    let kwargs = pyo3::types::PyDict::new(py);
    for (name, value) in names.iter().zip(kwvalues) {
        kwargs.set_item(name, value)?;
    }
    Ok((all, Some(kwargs)))
}

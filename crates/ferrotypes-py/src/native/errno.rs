//! ctypes' private per-thread `errno` (`get_errno`/`set_errno`), swapped with the real
//! `errno` around calls of functions created with `use_errno=True`, exactly as CPython does.
use pyo3::prelude::*;
use std::cell::Cell;

thread_local! {
    static CTYPES_ERRNO: Cell<i32> = const { Cell::new(0) };
}

fn errno_location() -> *mut i32 {
    // SAFETY: __errno_location has no preconditions and returns this thread's errno slot.
    unsafe { libc::__errno_location() }
}

/// Exchanges the real `errno` with ctypes' private copy (called just before and just after
/// a foreign call; the GIL may be released: it touches only thread-local state).
pub fn swap_errno() {
    let loc = errno_location();
    CTYPES_ERRNO.with(|saved| {
        // SAFETY: `loc` is this thread's errno slot, valid for the thread's lifetime.
        let real = unsafe { *loc };
        // SAFETY: as above.
        unsafe { *loc = saved.get() };
        saved.set(real);
    });
}

/// Runs `f` — a foreign call, or the Python side of a callback — with ctypes' private
/// `errno` swapped in around it when `use_errno` is set (`use_errno=True` functions and
/// prototypes).
#[inline]
pub fn swapped_around<T>(use_errno: bool, f: impl FnOnce() -> T) -> T {
    if use_errno {
        swap_errno();
    }
    let out = f();
    if use_errno {
        swap_errno();
    }
    out
}

/// `_ctypes.get_errno()`.
#[pyfunction]
pub fn get_errno(py: Python<'_>) -> PyResult<i32> {
    crate::interp::audit::get_errno(py)?;
    Ok(CTYPES_ERRNO.with(Cell::get))
}

/// `_ctypes.set_errno(value)`: sets the private copy, returns the old value.
#[pyfunction]
pub fn set_errno(value: &Bound<'_, PyAny>) -> PyResult<i32> {
    // The event sees the argument as passed, before it is converted (as CPython's).
    crate::interp::audit::set_errno(value.py(), value)?;
    let value: i32 = value.extract()?;
    Ok(CTYPES_ERRNO.with(|c| c.replace(value)))
}

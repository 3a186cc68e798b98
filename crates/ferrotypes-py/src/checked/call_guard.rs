//! Checked mode around foreign calls: `memmove`/`memcpy`/`memset` arguments probed, untyped
//! calls warned about, and the call itself made inside the fault guard.
use super::memory::{check_readable, check_writable};
use ferrotypes_core::call::CallInterface;
use ferrotypes_core::ffi_type::FfiType;
use ferrotypes_core::guard;
use pyo3::exceptions::PyOSError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt};
use std::cell::Cell;
use std::collections::HashSet;
use std::ffi::{c_void, CString};
use std::sync::Mutex;

thread_local! {
    /// Set by [`before_call`] when the function has no `restype`: the call that follows is
    /// made with a 64-bit result so a truncated pointer can be noticed (name for the warning).
    static UNTYPED_RESULT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Functions (object address, code address) that already got their `SignatureWarning`.
static WARNED: Mutex<Option<HashSet<(usize, usize)>>> = Mutex::new(None);

/// True the first time for this function object.
fn first_warning(func_obj: usize, code: usize) -> bool {
    let mut w = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    w.get_or_insert_with(HashSet::new).insert((func_obj, code))
}

fn already_warned(func_obj: usize, code: usize) -> bool {
    let w = WARNED.lock().unwrap_or_else(|e| e.into_inner());
    w.as_ref().is_some_and(|s| s.contains(&(func_obj, code)))
}

pyo3::create_exception!(
    ferrotypes,
    SignatureWarning,
    pyo3::exceptions::PyUserWarning,
    "A foreign call without argtypes/restype that probably truncates a value (checked mode, once per function)."
);

fn signature_warning(func: &Bound<'_, PyAny>, code: usize, detail: String) -> PyResult<()> {
    let py = func.py();
    if !first_warning(func.as_ptr() as usize, code) {
        return Ok(());
    }
    let category = py.get_type::<SignatureWarning>();
    let name = func
        .getattr_opt(pyo3::intern!(py, "__name__"))
        .ok()
        .flatten()
        .and_then(|n| n.extract::<String>().ok())
        .unwrap_or_else(|| format!("<function at {code:#x}>"));
    let msg = CString::new(format!("{name}: {detail}")).unwrap_or_default();
    PyErr::warn(py, &category, &msg, 1)
}

fn read_arg(avalue: *mut c_void, ty: *mut libffi::low::ffi_type) -> u64 {
    // SAFETY: `avalue` points to an argument of type `ty` (the call's own buffers).
    unsafe {
        match (*ty).size {
            1 => *(avalue as *const u8) as u64,
            2 => std::ptr::read_unaligned(avalue as *const u16) as u64,
            4 => std::ptr::read_unaligned(avalue as *const u32) as u64,
            _ => std::ptr::read_unaligned(avalue as *const u64),
        }
    }
}

/// Checked mode's look at a call just before it is made: arguments of `memmove`/`memcpy`/
/// `memset` are probed, and a function without `argtypes`/`restype` is examined for the
/// classic silent truncations.
#[cold]
#[inline(never)]
pub fn before_call(
    func_obj: &Bound<'_, PyAny>,
    code: usize,
    cif: &CallInterface,
    untyped_args: bool,
    untyped_result: bool,
    args: &[Bound<'_, PyAny>],
    avalues: &[*mut c_void],
) -> PyResult<()> {
    // SAFETY: the prepared cif describes `avalues` (one type per value).
    let types = unsafe {
        let c = &*cif.raw_cif();
        std::slice::from_raw_parts(c.arg_types, c.nargs as usize)
    };
    let arg = |i: usize| read_arg(avalues[i], types[i]) as usize;
    if avalues.len() == 3 && types.len() == 3 {
        if code == libc::memmove as *const () as usize || code == libc::memcpy as *const () as usize {
            check_readable(arg(1), arg(2))?;
            check_writable(arg(0), arg(2))?;
        } else if code == libc::memset as *const () as usize {
            check_writable(arg(0), arg(2))?;
        }
    }
    if untyped_args && !already_warned(func_obj.as_ptr() as usize, code) {
        for (i, a) in args.iter().enumerate() {
            let n = i + 1;
            if a.is_instance_of::<PyInt>() {
                if let Ok(v) = a.extract::<i128>() {
                    if v < i32::MIN as i128 || v > u32::MAX as i128 {
                        return signature_warning(
                            func_obj,
                            code,
                            format!(
                                "argument {n} ({v:#x}) does not fit in a C int and is truncated to 32 bits \
                                 because argtypes is not set (a pointer? set argtypes, e.g. c_void_p)"
                            ),
                        );
                    }
                }
            } else if a.is_instance_of::<PyFloat>()
                || types.get(i).is_some_and(|&t| {
                    // SAFETY: a valid libffi type descriptor.
                    matches!(unsafe { (*t).type_ }, libffi::raw::FFI_TYPE_FLOAT | libffi::raw::FFI_TYPE_DOUBLE | libffi::raw::FFI_TYPE_LONGDOUBLE)
                })
            {
                return signature_warning(
                    func_obj,
                    code,
                    format!("argument {n} is a floating-point value but argtypes is not set: the C function may expect another type; set argtypes"),
                );
            }
        }
    }
    if untyped_result && !already_warned(func_obj.as_ptr() as usize, code) {
        UNTYPED_RESULT.with(|u| u.set(Some(func_obj.as_ptr() as usize)));
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct CallArgs {
    cif: *const CallInterface,
    func: usize,
    result: *mut c_void,
    avalues: *mut *mut c_void,
}

/// What a checked call has to report once the GIL is back: a fault, or an untyped result
/// that did not fit in the C `int` it was read as.
pub enum Event {
    Fault(guard::Fault),
    Truncated { func_obj: usize, code: usize, value: u64 },
}

/// The call of `funcptr::ffi_call_with_flags` in checked mode (no GIL needed: it runs inside
/// the detached section): made inside the fault guard, and, for a function without
/// `restype`, with a 64-bit result to see whether the C `int` it is read as lost bits.
///
/// # Safety
/// As `CallInterface::call`.
#[cold]
#[inline(never)]
pub unsafe fn guarded_call(cif: &CallInterface, func: usize, result: *mut c_void, avalues: *mut *mut c_void) -> Result<(), Event> {
    // A function without restype is called with a 64-bit result (x86-64 returns both in
    // rax; the low half is what a C int result would be).
    let untyped = UNTYPED_RESULT.with(|u| u.take());
    let wide = match untyped {
        Some(_)
            if cfg!(target_arch = "x86_64")
                // SAFETY: a prepared cif; its rtype is a valid descriptor.
                && matches!(unsafe { (*(*cif.raw_cif()).rtype).type_ }, libffi::raw::FFI_TYPE_SINT32 | libffi::raw::FFI_TYPE_INT) =>
        {
            // SAFETY: the argument descriptors are the call's own, alive for the call.
            let types: Vec<FfiType> = unsafe {
                let c = &*cif.raw_cif();
                std::slice::from_raw_parts(c.arg_types, c.nargs as usize).iter().map(|&t| FfiType::Static(t)).collect()
            };
            let sint64 = ferrotypes_core::simple::SimpleKind::from_code(b'q').map(|k| FfiType::Static(k.ffi_type()));
            CallInterface::new(sint64, types, None).ok()
        }
        _ => None,
    };
    let call = CallArgs { cif: wide.as_ref().unwrap_or(cif), func, result, avalues };
    // SAFETY: forwarded from this function's contract; the body owns only pointers.
    unsafe { guard::guarded(move || (*call.cif).call(call.func as *const c_void, call.result, call.avalues)) }.map_err(Event::Fault)?;
    if let (Some(func_obj), Some(_)) = (untyped, &wide) {
        // SAFETY: the 64-bit result was written into `result` (at least 8 bytes).
        let value = unsafe { std::ptr::read_unaligned(result as *const u64) };
        let high = (value >> 32) as u32;
        let low_negative = (value as u32) & 0x8000_0000 != 0;
        // What a C int result leaves in the buffer: the low half, sign-extended.
        // SAFETY: as above.
        unsafe { std::ptr::write_unaligned(result as *mut i64, value as u32 as i32 as i64) };
        if !(high == 0 || (high == u32::MAX && low_negative)) {
            return Err(Event::Truncated { func_obj, code: func, value });
        }
    }
    Ok(())
}

/// Turns an [`Event`] into the `OSError` (fault) or the `SignatureWarning` (truncation).
#[cold]
#[inline(never)]
pub fn report(py: Python<'_>, event: Event) -> PyResult<()> {
    match event {
        Event::Fault(fault) => {
            let what = if fault.signo == libc::SIGBUS { "SIGBUS" } else { "SIGSEGV" };
            Err(PyOSError::new_err(format!(
                "access violation {} {:#018x} ({what} inside a foreign function call; its library may be left in an inconsistent state)",
                fault.access_verb(),
                fault.addr
            )))
        }
        Event::Truncated { func_obj, code, value } => {
            // SAFETY: `func_obj` is the function object being called, which its caller keeps
            // alive until the call returns (we are still inside it).
            let func_obj = unsafe { Bound::from_borrowed_ptr(py, func_obj as *mut ffi::PyObject) };
            signature_warning(
                &func_obj,
                code,
                format!(
                    "restype is not set, so the result is read as a C int, but the function returned {value:#x}, \
                     which was truncated to {}: set restype (c_void_p for a pointer)",
                    value as u32 as i32
                ),
            )
        }
    }
}

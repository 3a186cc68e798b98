//! Prepared call interfaces and the foreign call itself.
//!
//! How a call is made (the extension does steps 1 and 4, this module 2 and 3):
//! 1. Arguments are converted into C values in caller-owned slots; each slot's address goes
//!    into the `avalues` array.
//! 2. A [`CallInterface`] (libffi `cif`) describing the argument and result types is prepared
//!    once — when `argtypes`/`restype` are set — and reused for every call.
//! 3. [`CallInterface::call`] runs `ffi_call` into a result buffer of at least
//!    [`RESULT_MIN_SIZE`] bytes, so small integer results widened by libffi to `ffi_arg` fit.
//! 4. The result bytes are converted back according to `restype`.
use crate::ffi_type::FfiType;
use crate::simple;
use crate::CoreError;
use libffi::low::ffi_cif;
use libffi::raw;
use std::ffi::c_void;

/// libffi writes integer results of less than a register as a full `ffi_arg`.
pub const RESULT_MIN_SIZE: usize = std::mem::size_of::<libffi::low::ffi_arg>();

/// A prepared call interface. Owns the libffi `cif`, its argument type array and the type
/// descriptors they point to; nothing moves after preparation (all are boxed).
pub struct CallInterface {
    cif: Box<ffi_cif>,
    _arg_ptrs: Box<[*mut libffi::low::ffi_type]>,
    _types: Vec<FfiType>,
    result: Option<FfiType>,
    nargs: usize,
}

// SAFETY: after `new` returns, the cif and everything it points to are only read (libffi's
// `ffi_call` does not write to the cif), so sharing between threads is sound.
unsafe impl Send for CallInterface {}
// SAFETY: as above.
unsafe impl Sync for CallInterface {}

/// CPython reports a refused interface as just "<function> failed" (RuntimeError); keep that
/// text, and keep the status for debugging in the `Debug` form of the error.
fn status_to_result(status: raw::ffi_status, what: &str) -> Result<(), CoreError> {
    match status {
        raw::ffi_status_FFI_OK => Ok(()),
        _ => Err(CoreError::Ffi(format!("{what} failed"))),
    }
}

impl CallInterface {
    /// Prepares a call interface. `result: None` means `void`. `fixed`: for a variadic call,
    /// how many leading arguments are the fixed ones (`None` for a non-variadic call); a
    /// variadic call with no variadic arguments still gets a variadic interface.
    pub fn new(result: Option<FfiType>, args: Vec<FfiType>, fixed: Option<usize>) -> Result<Self, CoreError> {
        let mut arg_ptrs: Box<[*mut libffi::low::ffi_type]> = args.iter().map(FfiType::as_ptr).collect();
        let rtype = result.as_ref().map_or_else(simple::ffi_void, FfiType::as_ptr);
        // SAFETY: an all-zero ffi_cif is a valid "unprepared" value; prep fills it.
        let mut cif: Box<ffi_cif> = Box::new(unsafe { std::mem::zeroed() });
        let nargs = args.len();
        let variadic = matches!(fixed, Some(nfixed) if nfixed <= nargs);
        let status = match fixed {
            // SAFETY: `cif`, `arg_ptrs` and every type they point to are owned by the returned
            // value and never move (boxed), so the pointers libffi stores stay valid.
            Some(nfixed) if nfixed <= nargs => unsafe {
                raw::ffi_prep_cif_var(
                    &mut *cif,
                    raw::ffi_abi_FFI_DEFAULT_ABI,
                    nfixed as u32,
                    nargs as u32,
                    rtype,
                    arg_ptrs.as_mut_ptr(),
                )
            },
            // SAFETY: as above.
            _ => unsafe {
                raw::ffi_prep_cif(&mut *cif, raw::ffi_abi_FFI_DEFAULT_ABI, nargs as u32, rtype, arg_ptrs.as_mut_ptr())
            },
        };
        status_to_result(status, if variadic { "ffi_prep_cif_var" } else { "ffi_prep_cif" })?;
        Ok(CallInterface { cif, _arg_ptrs: arg_ptrs, _types: args, result, nargs })
    }

    /// The prepared cif, for libffi functions that keep a pointer to it (closures). Valid
    /// while `self` lives; libffi only reads it.
    pub fn raw_cif(&self) -> *mut ffi_cif {
        &*self.cif as *const ffi_cif as *mut ffi_cif
    }

    /// Number of arguments this interface passes.
    pub fn nargs(&self) -> usize {
        self.nargs
    }

    /// Bytes the result buffer must have.
    pub fn result_size(&self) -> usize {
        self.result.as_ref().map_or(0, FfiType::size).max(RESULT_MIN_SIZE)
    }

    /// Calls `func`.
    ///
    /// # Safety
    /// `func` must be a function with the C signature this interface describes; `avalues`
    /// must hold `nargs()` pointers, each to a live value of the corresponding type;
    /// `result` must point to at least `result_size()` writable bytes, suitably aligned (16).
    pub unsafe fn call(&self, func: *const c_void, result: *mut c_void, avalues: *mut *mut c_void) {
        // SAFETY: `func` is non-null (checked by callers) and has the prepared signature, as
        // this function's contract requires.
        let f: unsafe extern "C" fn() = unsafe { std::mem::transmute::<*const c_void, unsafe extern "C" fn()>(func) };
        let cif = &*self.cif as *const ffi_cif as *mut ffi_cif;
        // SAFETY: the cif was prepared by `new` and is never written by ffi_call; the caller
        // guarantees `result` and `avalues` per this function's contract.
        unsafe { raw::ffi_call(cif, Some(f), result, avalues) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader;
    use crate::simple::SimpleKind;

    fn ty(code: u8) -> FfiType {
        FfiType::Static(SimpleKind::from_code(code).unwrap().ffi_type())
    }

    #[test]
    fn calls_labs_and_widens_result() {
        let libc = loader::open(Some(c"libc.so.6"), libc::RTLD_NOW).unwrap();
        let labs = loader::symbol(libc, "labs").unwrap();
        let cif = CallInterface::new(Some(ty(b'l')), vec![ty(b'l')], None).unwrap();
        let mut arg: i64 = -42;
        let mut avalues = [&mut arg as *mut i64 as *mut c_void];
        let mut out = [0u64; 2];
        // SAFETY: labs(long) -> long matches the interface; buffers are live and big enough.
        unsafe { cif.call(labs, out.as_mut_ptr().cast(), avalues.as_mut_ptr()) };
        assert_eq!(out[0] as i64, 42);
    }

    #[test]
    fn variadic_snprintf_with_double() {
        let libc = loader::open(Some(c"libc.so.6"), libc::RTLD_NOW).unwrap();
        let snprintf = loader::symbol(libc, "snprintf").unwrap();
        let cif = CallInterface::new(Some(ty(b'i')), vec![ty(b'P'), ty(b'L'), ty(b'P'), ty(b'd'), ty(b'i')], Some(3)).unwrap();
        let mut buf = [0u8; 32];
        let mut p_buf = buf.as_mut_ptr();
        let mut n: u64 = buf.len() as u64;
        let mut fmt = c"%.2f|%d".as_ptr();
        let mut d = 2.5f64;
        let mut i = 7i32;
        let mut avalues = [
            &mut p_buf as *mut _ as *mut c_void,
            &mut n as *mut _ as *mut c_void,
            &mut fmt as *mut _ as *mut c_void,
            &mut d as *mut _ as *mut c_void,
            &mut i as *mut _ as *mut c_void,
        ];
        let mut out = [0u64; 2];
        // SAFETY: snprintf's prototype matches, variadic part declared; buffers outlive the call.
        unsafe { cif.call(snprintf, out.as_mut_ptr().cast(), avalues.as_mut_ptr()) };
        assert_eq!(&buf[..6], b"2.50|7");
    }
}

//! libffi closures: C-callable code pointers that call back into the host language.
//!
//! How a callback runs, in order:
//! 1. [`Closure::new`] allocates a libffi closure (writable + executable trampoline pair) and
//!    binds it to a prepared [`CallInterface`] and a [`ClosureHandler`].
//! 2. C calls the code pointer; libffi decodes the C arguments per the interface and calls
//!    [`trampoline`] with their addresses and a result buffer.
//! 3. The trampoline zeroes the result storage, runs the handler under `catch_unwind` (no
//!    panic ever unwinds into C), then widens a small integer result to a full `ffi_arg`, as
//!    libffi requires of closures.
//! 4. Dropping the [`Closure`] frees the libffi closure, then the handler. A handler may
//!    cause its own closure to be dropped while it runs (a Python callback deleting the
//!    last reference to itself): from then on it must not touch `self` (see
//!    [`ClosureHandler::invoke`]). The trampoline reads nothing of the closure after the
//!    handler returns, and libffi's code after it reads only its own stack frame, so no
//!    call pays for a reference count on the handler (two atomic operations per call).
use crate::call::CallInterface;
use crate::CoreError;
use libffi::low::{ffi_arg, ffi_cif, ffi_closure, ffi_type};
use libffi::raw::{
    self, FFI_TYPE_INT, FFI_TYPE_SINT16, FFI_TYPE_SINT32, FFI_TYPE_SINT8, FFI_TYPE_STRUCT, FFI_TYPE_UINT16, FFI_TYPE_UINT32,
    FFI_TYPE_UINT8, FFI_TYPE_VOID,
};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// What a closure does when C calls it.
pub trait ClosureHandler: Send + Sync + 'static {
    /// Handles one call. `result` points to zeroed storage for the interface's result type
    /// (nothing to write for `void`); `args[i]` points to the i-th C argument. A small integer
    /// result is written with its own size: the trampoline widens it afterwards.
    ///
    /// # Safety
    /// Called only by the trampoline, with `args` and `result` as libffi supplies them for
    /// the interface the closure was built with. The implementation must not use `self`
    /// after running anything that may drop the [`Closure`] (which frees the handler): it
    /// copies what it needs afterwards (and holds its own references) before that.
    unsafe fn invoke(&self, result: *mut u8, args: &[*const u8]);
}

/// Everything the trampoline reads through libffi's `userdata` pointer.
struct State<H> {
    handler: H,
    /// Bytes of result storage zeroed before each call (see [`result_storage_size`]) and
    /// the result's type tag, read once when the closure is made, not from the cif per call.
    result_size: usize,
    result_tag: u16,
    /// The interface libffi keeps a pointer to: it must outlive the closure.
    interface: Arc<CallInterface>,
}

/// An allocated, prepared libffi closure. The code pointer is valid while this lives.
pub struct Closure<H: ClosureHandler> {
    raw: *mut ffi_closure,
    code: *const c_void,
    /// libffi keeps its address as the closure's userdata (an `Arc` rather than a `Box`: a
    /// `Box` asserts unique access when moved, which that shared pointer would contradict).
    state: Arc<State<H>>,
}

// SAFETY: the closure memory is only written by `new` (before sharing) and freed by `drop`;
// the handler is Send + Sync and the interface is immutable after preparation.
unsafe impl<H: ClosureHandler> Send for Closure<H> {}
// SAFETY: as above.
unsafe impl<H: ClosureHandler> Sync for Closure<H> {}

/// Owns a just-allocated closure until it is handed to a [`Closure`], so an early error frees it.
struct Allocation(*mut ffi_closure);
impl Drop for Allocation {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: allocated by ffi_closure_alloc and not yet owned by anything else.
            unsafe { raw::ffi_closure_free(self.0.cast()) };
        }
    }
}

impl<H: ClosureHandler> Closure<H> {
    /// Builds a closure calling `handler` with the signature of `interface`.
    pub fn new(interface: Arc<CallInterface>, handler: H) -> Result<Self, CoreError> {
        let mut code: *mut c_void = std::ptr::null_mut();
        // SAFETY: plain allocation; libffi returns NULL on failure (checked).
        let alloc = Allocation(unsafe { raw::ffi_closure_alloc(std::mem::size_of::<ffi_closure>(), &mut code) }.cast());
        if alloc.0.is_null() || code.is_null() {
            return Err(CoreError::Ffi("ffi_closure_alloc failed".into()));
        }
        // SAFETY: the cif was prepared by `CallInterface::new`; its rtype is set.
        let rtype = unsafe { (*interface.raw_cif()).rtype };
        // SAFETY: the interface's result type descriptor lives as long as the interface.
        let (result_size, result_tag) = unsafe { (result_storage_size(rtype), (*rtype).type_) };
        let state = Arc::new(State { handler, result_size, result_tag, interface });
        let userdata = Arc::as_ptr(&state) as *mut c_void;
        // SAFETY: the cif is owned by `state.interface` and the userdata is `state`, both kept
        // (never moved) for as long as the closure exists; the closure is freed in `drop`
        // before our reference to them is released.
        let status = unsafe {
            raw::ffi_prep_closure_loc(alloc.0, state.interface.raw_cif(), Some(trampoline::<H>), userdata, code)
        };
        if status != raw::ffi_status_FFI_OK {
            return Err(CoreError::Ffi(format!("ffi_prep_closure failed with {status}")));
        }
        let raw = alloc.0;
        std::mem::forget(alloc);
        Ok(Closure { raw, code, state })
    }

    /// The C function pointer.
    pub fn code_ptr(&self) -> *const c_void {
        self.code
    }

    pub fn handler(&self) -> &H {
        &self.state.handler
    }

    pub fn interface(&self) -> &Arc<CallInterface> {
        &self.state.interface
    }
}

impl<H: ClosureHandler> Drop for Closure<H> {
    fn drop(&mut self) {
        // SAFETY: allocated by ffi_closure_alloc in `new`, freed exactly once; the state is
        // dropped after this, so no call can see freed userdata through a live closure.
        unsafe { raw::ffi_closure_free(self.raw.cast()) };
    }
}

/// How many bytes of result storage the trampoline zeroes for `rtype`.
///
/// # Safety
/// `rtype` must point to a valid type descriptor.
unsafe fn result_storage_size(rtype: *const ffi_type) -> usize {
    // SAFETY: per contract.
    let t = unsafe { &*rtype };
    match t.type_ {
        FFI_TYPE_VOID => 0,
        FFI_TYPE_STRUCT => t.size,
        _ if is_small_integer(t.type_) => std::mem::size_of::<ffi_arg>(),
        _ => t.size,
    }
}

fn is_small_integer(tag: u16) -> bool {
    matches!(
        tag,
        FFI_TYPE_SINT8 | FFI_TYPE_UINT8 | FFI_TYPE_SINT16 | FFI_TYPE_UINT16 | FFI_TYPE_SINT32 | FFI_TYPE_UINT32 | FFI_TYPE_INT
    )
}

/// Rewrites a small integer result (written with its own size) as a full `ffi_arg`.
///
/// # Safety
/// `result` must hold `sizeof(ffi_arg)` writable bytes when `rtype` is a small integer.
pub unsafe fn widen_result(rtype: *const ffi_type, result: *mut c_void) {
    // SAFETY: per contract.
    unsafe { widen_tag((*rtype).type_, result) }
}

/// [`widen_result`] for a result whose type tag is `tag`.
///
/// # Safety
/// As [`widen_result`].
#[inline]
unsafe fn widen_tag(tag: u16, result: *mut c_void) {
    // SAFETY: per contract; reads are of the size the handler wrote.
    unsafe {
        let wide: ffi_arg = match tag {
            FFI_TYPE_SINT8 => std::ptr::read_unaligned(result as *const i8) as i64 as ffi_arg,
            FFI_TYPE_UINT8 => std::ptr::read_unaligned(result as *const u8) as ffi_arg,
            FFI_TYPE_SINT16 => std::ptr::read_unaligned(result as *const i16) as i64 as ffi_arg,
            FFI_TYPE_UINT16 => std::ptr::read_unaligned(result as *const u16) as ffi_arg,
            FFI_TYPE_SINT32 | FFI_TYPE_INT => std::ptr::read_unaligned(result as *const i32) as i64 as ffi_arg,
            FFI_TYPE_UINT32 => std::ptr::read_unaligned(result as *const u32) as ffi_arg,
            _ => return,
        };
        std::ptr::write_unaligned(result as *mut ffi_arg, wide);
    }
}

/// The function libffi calls for every closure invocation. Never unwinds.
unsafe extern "C" fn trampoline<H: ClosureHandler>(
    cif: *mut ffi_cif,
    result: *mut c_void,
    args: *mut *mut c_void,
    userdata: *mut c_void,
) {
    // SAFETY: libffi passes the cif the closure was prepared with and the userdata pointer
    // given to ffi_prep_closure_loc: `Arc::as_ptr` of the state the live `Closure` holds.
    // The state may be freed during the handler's call (see `ClosureHandler::invoke`): it is
    // read only before that.
    let (nargs, state) = unsafe { ((*cif).nargs as usize, &*(userdata as *const State<H>)) };
    let (size, tag) = (state.result_size, state.result_tag);
    // SAFETY: libffi's result buffer holds the result type (at least an ffi_arg for integers).
    let zero = || unsafe {
        match size {
            0 => {}
            8 => std::ptr::write_unaligned(result as *mut u64, 0),
            n => std::ptr::write_bytes(result as *mut u8, 0, n),
        }
    };
    zero();
    // SAFETY: libffi passes an array of one pointer per argument of the interface (its own
    // stack allocation: non-null and aligned even when there are none).
    let args: &[*const u8] = unsafe { std::slice::from_raw_parts(args as *const *const u8, nargs) };
    // SAFETY: arguments and result storage as libffi supplies them (the handler's contract).
    // Nothing of `state` is read after this call.
    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { state.handler.invoke(result.cast(), args) }));
    match outcome {
        // SAFETY: the handler wrote a value of the result type.
        Ok(()) => unsafe { widen_tag(tag, result) },
        Err(payload) => {
            // Dropping a panic payload can itself panic; leaking it cannot.
            std::mem::forget(payload);
            zero();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi_type::FfiType;
    use crate::simple::SimpleKind;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ty(code: u8) -> FfiType {
        FfiType::Static(SimpleKind::from_code(code).unwrap().ffi_type())
    }

    struct AddOffset {
        offset: i32,
        calls: AtomicUsize,
    }

    impl ClosureHandler for AddOffset {
        unsafe fn invoke(&self, result: *mut u8, args: &[*const u8]) {
            self.calls.fetch_add(1, Ordering::Relaxed);
            // SAFETY: the interface is (int) -> short.
            unsafe {
                let a = std::ptr::read_unaligned(args[0] as *const i32);
                if a == 99 {
                    panic!("boom");
                }
                std::ptr::write_unaligned(result as *mut i16, (a + self.offset) as i16);
            }
        }
    }

    #[test]
    fn calls_handler_widens_and_survives_panic() {
        let cif = Arc::new(CallInterface::new(Some(ty(b'h')), vec![ty(b'i')], None).unwrap());
        let closure = Closure::new(cif, AddOffset { offset: -10, calls: AtomicUsize::new(0) }).unwrap();
        // SAFETY: the closure implements exactly this C signature.
        let f: extern "C" fn(i32) -> i16 = unsafe { std::mem::transmute(closure.code_ptr()) };
        assert_eq!(f(3), -7);
        assert_eq!(f(99), 0);
        assert_eq!(closure.handler().calls.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn widens_small_integers_to_ffi_arg() {
        let cases: [(u8, [u8; 8], u64); 4] = [
            (b'b', [0xfe, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa], (-2i64) as u64),
            (b'B', [0xfe, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa], 0xfe),
            (b'h', [0x00, 0x80, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa], (-32768i64) as u64),
            (b'I', [0xff, 0xff, 0xff, 0xff, 0xaa, 0xaa, 0xaa, 0xaa], 0xffff_ffff),
        ];
        for (code, bytes, expected) in cases {
            let mut buf = bytes;
            // SAFETY: a static scalar descriptor and an 8-byte buffer.
            unsafe { widen_result(ty(code).as_ptr(), buf.as_mut_ptr().cast()) };
            assert_eq!(u64::from_ne_bytes(buf), expected, "code {}", code as char);
        }
    }

    struct Sum;
    impl ClosureHandler for Sum {
        unsafe fn invoke(&self, result: *mut u8, args: &[*const u8]) {
            // SAFETY: the interface is (double, double) -> double.
            unsafe {
                let s: f64 = args.iter().map(|&p| std::ptr::read_unaligned(p as *const f64)).sum();
                std::ptr::write_unaligned(result as *mut f64, s);
            }
        }
    }

    #[test]
    fn qsort_style_use_from_another_thread() {
        let cif = Arc::new(CallInterface::new(Some(ty(b'd')), vec![ty(b'd'), ty(b'd')], None).unwrap());
        let closure = Arc::new(Closure::new(cif, Sum).unwrap());
        let c = closure.clone();
        let r = std::thread::spawn(move || {
            // SAFETY: the closure implements exactly this C signature.
            let f: extern "C" fn(f64, f64) -> f64 = unsafe { std::mem::transmute(c.code_ptr()) };
            f(1.5, 2.25)
        })
        .join()
        .unwrap();
        assert_eq!(r, 3.75);
    }
}

//! libffi closures: C-callable code pointers that call back into the host language.
//!
//! How a callback runs, in order:
//! 1. [`Closure::new`] allocates a libffi closure (writable + executable trampoline pair) and
//!    binds it to a prepared [`CallInterface`] and a [`ClosureHandler`]. On x86-64 Unix, an
//!    interface whose arguments and result all travel in registers gets a direct entry
//!    instead ([`crate::direct_closure`]), which skips libffi's generic decoding.
//! 2. C calls the code pointer; libffi decodes the C arguments per the interface and calls
//!    [`trampoline`] with their addresses and a result buffer (a direct entry points the
//!    same array at its argument registers).
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
#[cfg(all(target_arch = "x86_64", unix))]
use crate::direct_closure;
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

/// Everything the trampoline reads through libffi's `userdata` pointer (or a direct entry
/// through its slot's state word).
struct State<H> {
    handler: H,
    /// Bytes of result storage zeroed before each call (see [`result_storage_size`]) and
    /// the result's type tag, read once when the closure is made, not from the cif per call.
    result_size: usize,
    result_tag: u16,
    /// The interface libffi keeps a pointer to: it must outlive the closure.
    interface: Arc<CallInterface>,
    /// Where the arguments arrive when the closure has a direct entry.
    #[cfg(all(target_arch = "x86_64", unix))]
    shape: direct_closure::Shape,
}

/// A C-callable closure: a direct entry ([`crate::direct_closure`]) for the shapes it
/// takes, else an allocated, prepared libffi closure. The code pointer is valid while this
/// lives.
pub struct Closure<H: ClosureHandler> {
    /// The libffi closure; NULL for a direct entry.
    raw: *mut ffi_closure,
    code: *const c_void,
    /// The direct entry's slot, given back when this field drops (before `state`: fields
    /// drop in declaration order).
    #[cfg(all(target_arch = "x86_64", unix))]
    _direct: Option<direct_closure::Slot>,
    /// libffi keeps its address as the closure's userdata, a direct entry as its slot's
    /// state word (an `Arc` rather than a `Box`: a `Box` asserts unique access when moved,
    /// which that shared pointer would contradict).
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
    /// Builds a closure calling `handler` with the signature of `interface`: a direct entry
    /// when the interface's shape has one and the system grants executable memory, else
    /// libffi's.
    pub fn new(interface: Arc<CallInterface>, handler: H) -> Result<Self, CoreError> {
        Self::build(interface, handler, true)
    }

    /// [`Closure::new`] on libffi's path whatever the shape (tests compare both paths).
    pub fn new_with_libffi(interface: Arc<CallInterface>, handler: H) -> Result<Self, CoreError> {
        Self::build(interface, handler, false)
    }

    fn build(interface: Arc<CallInterface>, handler: H, allow_direct: bool) -> Result<Self, CoreError> {
        // SAFETY: the cif was prepared by `CallInterface::new`; its rtype is set.
        let rtype = unsafe { (*interface.raw_cif()).rtype };
        // SAFETY: the interface's result type descriptor lives as long as the interface.
        let (result_size, result_tag) = unsafe { (result_storage_size(rtype), (*rtype).type_) };
        #[cfg(all(target_arch = "x86_64", unix))]
        {
            let entry = if allow_direct { direct_entry::<H>(&interface, result_tag) } else { None };
            let shape = entry.map_or(direct_closure::Shape::NONE, |(_, shape)| shape);
            let state = Arc::new(State { handler, result_size, result_tag, interface, shape });
            if let Some((target, _)) = entry {
                if let Some(slot) = direct_closure::Slot::alloc(target, Arc::as_ptr(&state).cast()) {
                    let code = slot.code_ptr();
                    return Ok(Closure { raw: std::ptr::null_mut(), code, _direct: Some(slot), state });
                }
            }
            let (raw, code) = prepare_libffi(&state)?;
            Ok(Closure { raw, code, _direct: None, state })
        }
        #[cfg(not(all(target_arch = "x86_64", unix)))]
        {
            let _ = allow_direct;
            let state = Arc::new(State { handler, result_size, result_tag, interface });
            let (raw, code) = prepare_libffi(&state)?;
            Ok(Closure { raw, code, state })
        }
    }

    /// Whether C reaches this closure through a direct entry rather than libffi.
    pub fn is_direct(&self) -> bool {
        self.raw.is_null()
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
        // A direct entry's slot is given back when its field drops, after this.
        if !self.raw.is_null() {
            // SAFETY: allocated by ffi_closure_alloc in `new`, freed exactly once; the state
            // is dropped after this, so no call can see freed userdata through a live closure.
            unsafe { raw::ffi_closure_free(self.raw.cast()) };
        }
    }
}

/// Allocates and prepares a libffi closure over `state`: the closure and its code pointer.
fn prepare_libffi<H: ClosureHandler>(state: &Arc<State<H>>) -> Result<(*mut ffi_closure, *const c_void), CoreError> {
    let mut code: *mut c_void = std::ptr::null_mut();
    // SAFETY: plain allocation; libffi returns NULL on failure (checked).
    let alloc = Allocation(unsafe { raw::ffi_closure_alloc(std::mem::size_of::<ffi_closure>(), &mut code) }.cast());
    if alloc.0.is_null() || code.is_null() {
        return Err(CoreError::Ffi("ffi_closure_alloc failed".into()));
    }
    let userdata = Arc::as_ptr(state) as *mut c_void;
    // SAFETY: the cif is owned by `state.interface` and the userdata is `state`, both kept
    // (never moved) for as long as the closure exists; the closure is freed in `drop`
    // before our reference to them is released.
    let status =
        unsafe { raw::ffi_prep_closure_loc(alloc.0, state.interface.raw_cif(), Some(trampoline::<H>), userdata, code) };
    if status != raw::ffi_status_FFI_OK {
        return Err(CoreError::Ffi(format!("ffi_prep_closure failed with {status}")));
    }
    let raw = alloc.0;
    std::mem::forget(alloc);
    Ok((raw, code))
}

/// The direct entry for `interface` (target function and argument shape), if its shape has
/// one (see [`crate::direct_closure`]).
#[cfg(all(target_arch = "x86_64", unix))]
fn direct_entry<H: ClosureHandler>(interface: &CallInterface, result_tag: u16) -> Option<(usize, direct_closure::Shape)> {
    use direct_closure::{entry_float, entry_int, entry_no_args, Class};
    let cif = interface.raw_cif();
    // SAFETY: a prepared cif.
    let nargs = unsafe { (*cif).nargs } as usize;
    // SAFETY: a prepared cif has `nargs` descriptors behind `arg_types`, each valid for the
    // interface's life.
    let shape = direct_closure::Shape::of((0..nargs).map(|i| register_class(unsafe { (**(*cif).arg_types.add(i)).type_ })))?;
    let returns_int = result_tag == FFI_TYPE_VOID || register_class(result_tag) == Class::Int;
    let target = if returns_int && shape.nargs == 0 {
        entry_no_args::<State<H>> as *const () as usize
    } else if returns_int {
        entry_int::<State<H>> as *const () as usize
    } else if register_class(result_tag) == Class::Float {
        entry_float::<State<H>> as *const () as usize
    } else {
        return None;
    };
    Some((target, shape))
}

/// The register class a type tag travels in, for the direct entries.
#[cfg(all(target_arch = "x86_64", unix))]
fn register_class(tag: u16) -> direct_closure::Class {
    use libffi::raw::{FFI_TYPE_DOUBLE, FFI_TYPE_FLOAT, FFI_TYPE_POINTER, FFI_TYPE_SINT64, FFI_TYPE_UINT64};
    match tag {
        FFI_TYPE_FLOAT | FFI_TYPE_DOUBLE => direct_closure::Class::Float,
        FFI_TYPE_POINTER | FFI_TYPE_SINT64 | FFI_TYPE_UINT64 => direct_closure::Class::Int,
        t if is_small_integer(t) => direct_closure::Class::Int,
        _ => direct_closure::Class::Other,
    }
}

#[cfg(all(target_arch = "x86_64", unix))]
impl<H: ClosureHandler> direct_closure::DirectTarget for State<H> {
    #[inline(always)]
    unsafe fn call_direct(&self, result: *mut u8, args: &[*const u8]) {
        // SAFETY: forwarded (the handler's contract); `result` has 8 zeroed bytes, enough
        // for every result a direct entry returns (and to be zeroed again after a panic).
        unsafe {
            invoke_guarded(&self.handler, self.result_tag, result, args, || std::ptr::write_unaligned(result as *mut u64, 0))
        };
    }

    fn shape(&self) -> &direct_closure::Shape {
        &self.shape
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
    unsafe { invoke_guarded(&state.handler, tag, result.cast(), args, zero) };
}

/// Runs the handler under `catch_unwind` (no panic unwinds into C): then widens a small
/// integer result of type tag `tag` in place, or, if the handler panicked, leaks the
/// payload and calls `zero` to clear the result. Nothing of `handler` is read after it ran
/// (it may have freed its own closure). The one body of the libffi trampoline and the
/// direct entries.
///
/// # Safety
/// As [`ClosureHandler::invoke`]; `result` has room for an `ffi_arg` when `tag` is a small
/// integer.
#[inline(always)]
unsafe fn invoke_guarded<H: ClosureHandler>(handler: &H, tag: u16, result: *mut u8, args: &[*const u8], zero: impl Fn()) {
    // SAFETY: forwarded (the handler's contract).
    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe { handler.invoke(result, args) }));
    match outcome {
        // SAFETY: the handler wrote a value of the result type.
        Ok(()) => unsafe { widen_tag(tag, result.cast()) },
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

    /// Echoes a mixed argument list as one checksum, of the interface's result type: each
    /// argument read with its own size and type, as the Python handler reads them.
    struct Mix {
        codes: Vec<u8>,
        result: u8,
    }

    impl ClosureHandler for Mix {
        unsafe fn invoke(&self, result: *mut u8, args: &[*const u8]) {
            assert_eq!(args.len(), self.codes.len());
            let mut acc = 0f64;
            for (k, (&code, &p)) in self.codes.iter().zip(args).enumerate() {
                // SAFETY: `p` points to an argument of the type `code` names.
                let v = unsafe {
                    match code {
                        b'b' => std::ptr::read_unaligned(p as *const i8) as f64,
                        b'B' => std::ptr::read_unaligned(p) as f64,
                        b'h' => std::ptr::read_unaligned(p as *const i16) as f64,
                        b'i' => std::ptr::read_unaligned(p as *const i32) as f64,
                        b'I' => std::ptr::read_unaligned(p as *const u32) as f64,
                        b'q' => std::ptr::read_unaligned(p as *const i64) as f64,
                        b'P' => std::ptr::read_unaligned(p as *const usize) as f64,
                        b'f' => std::ptr::read_unaligned(p as *const f32) as f64,
                        b'd' => std::ptr::read_unaligned(p as *const f64),
                        _ => unreachable!(),
                    }
                };
                acc += v * (k + 1) as f64;
            }
            // SAFETY: `result` holds the interface's result type.
            unsafe {
                match self.result {
                    b'h' => std::ptr::write_unaligned(result as *mut i16, acc as i16),
                    b'I' => std::ptr::write_unaligned(result as *mut u32, acc as i64 as u32),
                    b'q' => std::ptr::write_unaligned(result as *mut i64, acc as i64),
                    b'f' => std::ptr::write_unaligned(result as *mut f32, acc as f32),
                    b'd' => std::ptr::write_unaligned(result as *mut f64, acc),
                    _ => {}
                }
            }
        }
    }

    fn mix(args: &str, result: Option<u8>, libffi: bool) -> Closure<Mix> {
        let codes: Vec<u8> = args.bytes().collect();
        let cif = Arc::new(CallInterface::new(result.map(ty), codes.iter().map(|&c| ty(c)).collect(), None).unwrap());
        let handler = Mix { codes, result: result.unwrap_or(0) };
        if libffi { Closure::new_with_libffi(cif, handler).unwrap() } else { Closure::new(cif, handler).unwrap() }
    }

    /// Both paths, and whether the default one is direct.
    fn both(args: &str, result: Option<u8>) -> (Closure<Mix>, Closure<Mix>) {
        (mix(args, result, false), mix(args, result, true))
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", unix))]
    fn direct_entries_agree_with_libffi() {
        // (i8, f64, u32, f32, i64, ptr, i16) -> i64: every class, registers interleaved.
        let (d, l) = both("bdIfqPh", Some(b'q'));
        assert!(d.is_direct() && !l.is_direct());
        type F7 = extern "C" fn(i8, f64, u32, f32, i64, usize, i16) -> i64;
        for c in [&d, &l] {
            // SAFETY: the closure implements exactly this C signature.
            let f: F7 = unsafe { std::mem::transmute(c.code_ptr()) };
            assert_eq!(f(-3, 2.5, 4_000_000_000, -1.5, -7, 9, -2), (-3.0f64 + 5.0 + 12e9 - 6.0 - 35.0 + 54.0 - 14.0) as i64);
        }
        // Five integers and eight doubles: every register a direct entry passes.
        let (d, l) = both("iiiiidddddddd", Some(b'd'));
        assert!(d.is_direct());
        type F13 = extern "C" fn(i32, i32, i32, i32, i32, f64, f64, f64, f64, f64, f64, f64, f64) -> f64;
        let expected: f64 = (1..=13).map(|k| (k * k) as f64).sum();
        for c in [&d, &l] {
            // SAFETY: as above.
            let f: F13 = unsafe { std::mem::transmute(c.code_ptr()) };
            assert_eq!(f(1, 2, 3, 4, 5, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0), expected);
        }
        // A float result, and small integer results widened as libffi widens them.
        let (d, _) = both("f", Some(b'f'));
        assert!(d.is_direct());
        // SAFETY: as above.
        let f: extern "C" fn(f32) -> f32 = unsafe { std::mem::transmute(d.code_ptr()) };
        assert_eq!(f(0.75), 0.75);
        for (d, l) in [both("i", Some(b'h')), both("q", Some(b'I'))] {
            assert!(d.is_direct());
            // The result read as 32 bits, to which callers may assume a small integer is
            // extended (the ABI leaves the upper half undefined).
            type F = extern "C" fn(i64) -> u32;
            // SAFETY: both closures take one integer argument and return an integer.
            let (fd, fl) = unsafe { (std::mem::transmute::<*const c_void, F>(d.code_ptr()), std::mem::transmute::<*const c_void, F>(l.code_ptr())) };
            for v in [-1i64, 40000, -40000, 0xffff_ffff] {
                assert_eq!(fd(v), fl(v), "value {v}");
            }
        }
        // No arguments, void and integer results.
        let (d, _) = both("", None);
        assert!(d.is_direct());
        // SAFETY: as above.
        let f: extern "C" fn() = unsafe { std::mem::transmute(d.code_ptr()) };
        f();
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", unix))]
    fn shapes_beyond_the_registers_keep_libffi() {
        for (args, result) in [("iiiiii", Some(b'i')), ("ddddddddd", None), ("i", Some(b'g'))] {
            let codes: Vec<u8> = args.bytes().collect();
            let Some(kind) = SimpleKind::from_code(result.unwrap_or(b'i')) else { continue };
            let cif = Arc::new(CallInterface::new(result.map(|_| FfiType::Static(kind.ffi_type())), codes.iter().map(|&c| ty(c)).collect(), None).unwrap());
            let c = Closure::new(cif, Mix { codes, result: 0 }).unwrap();
            assert!(!c.is_direct(), "{args} -> {result:?}");
        }
        // Six integer arguments still work, through libffi.
        let c = mix("iiiiii", Some(b'q'), false);
        // SAFETY: the closure implements exactly this C signature.
        let f: extern "C" fn(i32, i32, i32, i32, i32, i32) -> i64 = unsafe { std::mem::transmute(c.code_ptr()) };
        assert_eq!(f(1, 1, 1, 1, 1, 1), 21);
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", unix))]
    fn direct_slots_are_reused_and_panics_give_zero() {
        let cif = Arc::new(CallInterface::new(Some(ty(b'h')), vec![ty(b'i')], None).unwrap());
        let first = Closure::new(cif.clone(), AddOffset { offset: 1, calls: AtomicUsize::new(0) }).unwrap();
        assert!(first.is_direct());
        let code = first.code_ptr();
        // SAFETY: the closure implements exactly this C signature.
        let f: extern "C" fn(i32) -> i16 = unsafe { std::mem::transmute(code) };
        assert_eq!((f(1), f(99)), (2, 0));
        drop(first);
        // Many at once: slots from several pages, each calling its own handler.
        let many: Vec<_> = (0..300)
            .map(|k| Closure::new(cif.clone(), AddOffset { offset: k, calls: AtomicUsize::new(0) }).unwrap())
            .collect();
        for (k, c) in many.iter().enumerate() {
            // SAFETY: as above.
            let f: extern "C" fn(i32) -> i16 = unsafe { std::mem::transmute(c.code_ptr()) };
            assert_eq!(f(5), 5 + k as i16);
        }
    }
}

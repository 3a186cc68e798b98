//! The fast lane of foreign calls: scalar signatures called straight from the vectorcall
//! entry, without PyO3's trampoline, argument objects, libffi or intermediate results.
//!
//! A function object gets a [`FastState`] the first time it is called through the general
//! path (`funcptr::call_impl`), which decides whether its configuration qualifies: built-in
//! simple argument converters (integers, `float`, `double`, `c_char_p`, `c_void_p`) or no
//! `argtypes` at all; a simple result type (or `None`, or unset); no `errcheck`, paramflags,
//! `_check_retval_` or `FUNCFLAG_PYTHONAPI`; and registers enough for every argument. Setting
//! `argtypes`, `restype`, `errcheck` or `release_gil` resets it.
//!
//! Structures and unions passed or returned by value qualify too, as exact instances of
//! their declared type: their bytes go into registers or onto the stack as the x86-64
//! System V classification of their type says (`FfiType::sysv_passing`), through
//! `direct::call_frame`; a result is copied into a new instance of the result type.
//!
//! A qualifying call converts only the argument objects whose conversion cannot fail or run
//! Python code — exact `int`, `float`, `bytes`, `None`, `byref()` of an exact target
//! instance, an exact pointer instance — and hands every other call
//! (an instance, `byref()`, a subclass, a wrong type, keywords, extra arguments) to the
//! general path untouched, which then applies CPython's full rules and messages. The call
//! itself goes through `ferrotypes_core::direct` where that exists, else through the cached
//! libffi interface of the general path (not here: the plan is simply never made).
use super::funcptr::{note_passed_to_c, CFuncPtr};
use crate::data::cdata::CData;
use crate::data::simple;
use crate::interp::{audit, thread_state};
use crate::native::errno;
use ferrotypes_core::direct::{self, Frame, Registers, ReturnClass, MAX_STACK_WORDS};
use ferrotypes_core::ffi_type::SysvPassing;
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most arguments a direct call can carry (6 integer-class + 8 SSE-class registers).
pub const MAX_ARGS: usize = 14;

/// Integer-class argument registers: the most arguments of an untyped call.
const INT_REGISTERS: usize = 6;

/// How one argument is converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastArg {
    /// A C integer of `size` bytes: exact `int` only, masked to the size (CPython's setters).
    Int { size: u8, signed: bool },
    /// `float`: exact `float` or `int`.
    F32,
    /// `double`: exact `float` or `int`.
    F64,
    /// `c_char_p`: exact `bytes` (its buffer) or `None`.
    CharP,
    /// `c_void_p`: exact `int` (masked) or `None`.
    VoidP,
    /// A pointer type with the stock `from_param` (addresses of the pointer type `cls` and its
    /// target `proto`, compared by identity only: the converter list that holds them is
    /// alive while the plan is): `None`, `byref()` of an exact `proto` instance, or an
    /// exact `cls` instance.
    Pointer { cls: usize, proto: usize },
    /// A function pointer or array type with the stock `from_param` (address of the type,
    /// compared by identity): an exact instance passes the function address it holds, or
    /// the address of its elements.
    Instance { cls: usize, funcptr: bool },
    /// A structure or union type with the stock `from_param`, passed by value (address of
    /// the type, compared by identity): an exact instance passes its `size` bytes as `pass`
    /// says; `align16` for a MEMORY one whose stack slot is 16-byte aligned.
    Aggregate { cls: usize, size: u16, align16: bool, pass: SysvPassing },
}

impl FastArg {
    fn is_sse(self) -> bool {
        matches!(self, FastArg::F32 | FastArg::F64)
    }

    /// (general-purpose registers, SSE registers) this argument takes.
    fn registers(self) -> (usize, usize) {
        match self {
            FastArg::Aggregate { pass: SysvPassing::Registers { words, sse }, .. } => {
                let sse = sse[..words as usize].iter().filter(|&&b| b).count();
                (words as usize - sse, sse)
            }
            FastArg::Aggregate { pass: SysvPassing::Memory, .. } => (0, 0),
            a if a.is_sse() => (0, 1),
            _ => (1, 0),
        }
    }
}

/// Largest aggregate result the fast lane returns (a MEMORY result is written into a buffer
/// of this many bytes on the caller's stack).
pub const MAX_AGGREGATE_RESULT: usize = 256;

/// How the result is converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastRet {
    Void,
    Int { size: u8, signed: bool },
    F32,
    F64,
    /// `bytes` up to the NUL, or `None` for NULL.
    CharP,
    /// `int`, or `None` for NULL.
    VoidP,
    /// A new instance of the structure or union type `cls` (its address; the configuration
    /// holding the type is alive while the plan is) holding the `size` bytes returned.
    Aggregate { cls: usize, size: u16, pass: SysvPassing },
}

/// A function object's fast-lane decision.
#[derive(Debug)]
pub enum FastState {
    /// Not decided yet (new object, or its configuration changed).
    Unknown,
    /// Every call takes the general path.
    Off,
    On(Box<FastPlan>),
}

/// [`FastPlan::scalar_arity`] of a plan the scalar lane does not take (no call has that many
/// arguments here: at most [`MAX_ARGS`]).
pub const NOT_SCALAR: u8 = u8::MAX;

/// What a qualifying call needs, copied out of the function object at each call.
#[derive(Clone, Copy, Debug)]
pub struct FastPlan {
    /// `Some(n)`: `argtypes` with `n` entries in `args`; `None`: no `argtypes` (untyped:
    /// exact `int` → C `int`, `bytes` → `char *`, `None` → NULL, at most six).
    pub typed: Option<u8>,
    pub args: [FastArg; MAX_ARGS],
    pub ret: FastRet,
    pub use_errno: bool,
    pub release_gil: bool,
    /// The call needs `direct::call_frame` (an aggregate argument or result).
    pub frame: bool,
    /// The scalar lane ([`try_scalar_call`]): typed, at most six C integer arguments, an
    /// integer or no result, no `use_errno`. Held as the argument count it takes, so that a
    /// call checks lane and count at once; [`NOT_SCALAR`] otherwise.
    pub scalar_arity: u8,
}

impl FastPlan {
    /// A plan for these argument and result conversions, if they fit the registers.
    pub fn new(typed: Option<&[FastArg]>, ret: FastRet, use_errno: bool, release_gil: bool) -> Option<FastPlan> {
        if !direct::SUPPORTED {
            return None;
        }
        let mut args = [FastArg::VoidP; MAX_ARGS];
        let ret_aggregate = match ret {
            FastRet::Aggregate { size, pass, .. } => {
                if usize::from(size) > MAX_AGGREGATE_RESULT {
                    return None;
                }
                Some(pass)
            }
            _ => None,
        };
        // A MEMORY result's hidden pointer takes the first integer register.
        let (mut ints, mut sse) = (usize::from(ret_aggregate == Some(SysvPassing::Memory)), 0);
        let mut frame = ret_aggregate.is_some();
        let mut stack = 0usize;
        let typed = match typed {
            Some(list) => {
                if list.len() > MAX_ARGS {
                    return None;
                }
                for &a in list {
                    let (i, s) = a.registers();
                    ints += i;
                    sse += s;
                    if let FastArg::Aggregate { size, align16, pass, .. } = a {
                        frame = true;
                        if pass == SysvPassing::Memory {
                            stack = stack.next_multiple_of(if align16 { 2 } else { 1 }) + usize::from(size).div_ceil(8);
                        }
                    }
                }
                if sse > 8 || ints > 6 || stack > MAX_STACK_WORDS {
                    return None;
                }
                args[..list.len()].copy_from_slice(list);
                Some(list.len() as u8)
            }
            // Untyped calls have no aggregates; a by-value result needs typed arguments here.
            None if frame => return None,
            None => None,
        };
        let scalar = !use_errno
            && matches!(ret, FastRet::Int { .. } | FastRet::Void)
            && typed.is_some_and(|n| {
                usize::from(n) <= INT_REGISTERS && args[..usize::from(n)].iter().all(|a| matches!(a, FastArg::Int { .. }))
            });
        let scalar_arity = match typed {
            Some(n) if scalar => n,
            _ => NOT_SCALAR,
        };
        Some(FastPlan { typed, args, ret, use_errno, release_gil, frame, scalar_arity })
    }
}

/// Sign- or zero-extends the low `size` bytes of `v` to 64 bits.
#[inline(always)]
fn extend(v: u64, size: u8, signed: bool) -> u64 {
    match (size, signed) {
        (1, true) => v as i8 as i64 as u64,
        (1, false) => v as u8 as u64,
        (2, true) => v as i16 as i64 as u64,
        (2, false) => v as u16 as u64,
        (4, true) => v as i32 as i64 as u64,
        (4, false) => v as u32 as u64,
        _ => v,
    }
}

/// An exact `int` masked to 64 bits (cannot fail for an exact int).
///
/// # Safety
/// `obj` is a live exact `int`.
#[inline(always)]
unsafe fn int_bits(obj: *mut ffi::PyObject) -> u64 {
    // SAFETY: per contract; for an exact int the mask conversion never raises. A one-digit
    // value is read in place (its two's complement is what the mask gives).
    unsafe {
        match crate::interp::long_layout::compact_value(obj) {
            Some(v) => v as u64,
            None => ffi::PyLong_AsUnsignedLongLongMask(obj),
        }
    }
}

/// A double from an exact `float` or `int`; `None` for anything else or an overflowing int
/// (the general path then raises CPython's error).
///
/// # Safety
/// `obj` is a live object; the GIL is held.
#[inline]
unsafe fn double_of(obj: *mut ffi::PyObject) -> Option<f64> {
    // SAFETY: type checks and reads of a live object under the GIL; an overflow error from
    // PyLong_AsDouble is cleared before returning.
    unsafe {
        if ffi::PyFloat_CheckExact(obj) != 0 {
            return Some(ffi::PyFloat_AS_DOUBLE(obj));
        }
        if ffi::PyLong_CheckExact(obj) != 0 {
            let v = ffi::PyLong_AsDouble(obj);
            if v == -1.0 && !ffi::PyErr_Occurred().is_null() {
                ffi::PyErr_Clear();
                return None;
            }
            return Some(v);
        }
    }
    None
}

/// The address a `byref()` object passes, if `obj` is one (and, with `target`, only if it
/// refers to an instance of exactly that type).
///
/// # Safety
/// `obj` is a live object; the GIL is held.
#[inline]
unsafe fn byref_address(_py: Python<'_>, obj: *mut ffi::PyObject, target: Option<usize>) -> Option<u64> {
    // SAFETY: a live object (contract).
    if !unsafe { crate::data::carg::is_carg(obj) } {
        return None;
    }
    // SAFETY: checked to be a CArgObject, alive for this function; the GIL is held.
    let carg = unsafe { crate::data::carg::carg_of(obj) };
    if carg.tag != b'P' {
        return None;
    }
    if let Some(target) = target {
        let referent = carg.obj.as_ref()?;
        // SAFETY: reading the type of a live object.
        if unsafe { ffi::Py_TYPE(referent.as_ptr()) } as usize != target {
            return None;
        }
    }
    Some(carg.pointer_value() as u64)
}

/// Converts one argument into its register, or `None` to leave the call to the general path.
///
/// # Safety
/// `obj` is a live object; the GIL is held.
#[inline]
unsafe fn convert(py: Python<'_>, kind: &FastArg, obj: *mut ffi::PyObject) -> Option<u64> {
    // SAFETY: type checks and reads of a live object under the GIL (this function's contract).
    unsafe {
        match *kind {
            FastArg::Int { size, signed } => {
                (ffi::PyLong_CheckExact(obj) != 0).then(|| extend(int_bits(obj), size, signed))
            }
            FastArg::F64 => double_of(obj).map(f64::to_bits),
            FastArg::F32 => double_of(obj).map(|v| (v as f32).to_bits() as u64),
            FastArg::CharP => {
                if obj == ffi::Py_None() {
                    Some(0)
                } else if ffi::PyBytes_CheckExact(obj) != 0 {
                    Some(ffi::PyBytes_AsString(obj) as u64)
                } else {
                    None
                }
            }
            FastArg::VoidP => {
                if obj == ffi::Py_None() {
                    Some(0)
                } else if ffi::PyLong_CheckExact(obj) != 0 {
                    Some(int_bits(obj))
                } else {
                    None
                }
            }
            FastArg::Instance { cls, funcptr } => {
                if ffi::Py_TYPE(obj) as usize != cls {
                    return None;
                }
                let any = Bound::ref_from_ptr(py, &obj);
                let p = any.cast_unchecked::<CData>().get().ptr();
                if funcptr {
                    note_passed_to_c(any);
                    Some(simple::read_ptr(p) as u64)
                } else {
                    Some(p as u64)
                }
            }
            // Only in framed calls (`place_aggregate`).
            FastArg::Aggregate { .. } => None,
            FastArg::Pointer { cls, proto } => {
                if obj == ffi::Py_None() {
                    Some(0)
                } else if ffi::Py_TYPE(obj) as usize == cls {
                    // An instance of the pointer type: the pointer it holds.
                    let p = Bound::ref_from_ptr(py, &obj).cast_unchecked::<CData>();
                    Some(simple::read_ptr(p.get().ptr()) as u64)
                } else {
                    byref_address(py, obj, Some(proto))
                }
            }
        }
    }
}

/// An argument of an untyped call (CPython's ConvParam for the exact built-in types): `int`
/// passed as a C `int` (after the same range checks), `bytes` as `char *`, `None` as NULL.
///
/// # Safety
/// `obj` is a live object; the GIL is held.
#[inline]
unsafe fn convert_untyped(py: Python<'_>, obj: *mut ffi::PyObject) -> Option<u64> {
    // SAFETY: type checks and conversions of a live object under the GIL.
    unsafe {
        if ffi::PyLong_CheckExact(obj) != 0 {
            let mut overflow = 0;
            let v = ffi::PyLong_AsLongLongAndOverflow(obj, &mut overflow);
            // Out of range: the general path decides (unsigned long long retry, or raise).
            return (overflow == 0).then_some((v as i32) as i64 as u64);
        }
        if obj == ffi::Py_None() {
            return Some(0);
        }
        if ffi::PyBytes_CheckExact(obj) != 0 {
            return Some(ffi::PyBytes_AsString(obj) as u64);
        }
        byref_address(py, obj, None)
    }
}

/// Builds the Python result of a direct call (a new reference, or NULL with an exception).
///
/// # Safety
/// `raw` is the result register of a call whose result has `ret`'s type; for `CharP` it is
/// NULL or points to a NUL-terminated string. The GIL is held.
unsafe fn result_object(ret: FastRet, raw: u64) -> *mut ffi::PyObject {
    // SAFETY: CPython constructors called under the GIL; the string per contract.
    unsafe {
        match ret {
            FastRet::Void => {
                let none = ffi::Py_None();
                ffi::Py_INCREF(none);
                none
            }
            FastRet::Int { size, signed: true } => int_object(extend(raw, size, true) as i64),
            FastRet::Int { size, signed: false } => ffi::PyLong_FromUnsignedLongLong(extend(raw, size, false)),
            FastRet::F64 => ffi::PyFloat_FromDouble(f64::from_bits(raw)),
            FastRet::F32 => ffi::PyFloat_FromDouble(f32::from_bits(raw as u32) as f64),
            FastRet::CharP | FastRet::VoidP if raw == 0 => {
                let none = ffi::Py_None();
                ffi::Py_INCREF(none);
                none
            }
            FastRet::CharP => ffi::PyBytes_FromString(raw as *const std::ffi::c_char),
            FastRet::VoidP => ffi::PyLong_FromUnsignedLongLong(raw),
            // Made by `try_call_frame` from the result registers or buffer.
            FastRet::Aggregate { .. } => {
                ffi::PyErr_SetString(ffi::PyExc_SystemError, c"ferrotypes: aggregate result outside a framed call".as_ptr());
                std::ptr::null_mut()
            }
        }
    }
}

/// The register values and call of one fast-lane call, moved into the GIL-released section.
struct Pending {
    func: usize,
    regs: Registers,
    ret: ReturnClass,
    use_errno: bool,
    /// No SSE-class argument: only the integer registers are loaded.
    ints_only: bool,
}

impl Pending {
    /// # Safety
    /// As [`direct::call`].
    #[inline(always)]
    unsafe fn run(&self) -> u64 {
        // SAFETY: forwarded from this function's contract.
        errno::swapped_around(self.use_errno, || unsafe {
            if self.ints_only {
                direct::call_int_args(self.func as *const c_void, &self.regs.ints, self.ret)
            } else {
                direct::call(self.func as *const c_void, &self.regs, self.ret)
            }
        })
    }
}

/// Tries the fast lane. `None`: the call is not for it and no call was made (the caller
/// takes the general path); `*audited` then says whether `ctypes.call_function` was already
/// raised for it. `Some(result)`: the call was made, or a hook refused it; `result` is a new
/// reference, or NULL with an exception set.
///
/// # Safety
/// `args` holds `nargs` live borrowed references; the GIL is held; `slf` is the function
/// object being called.
#[inline]
pub unsafe fn try_call(py: Python<'_>, slf: &Bound<'_, CFuncPtr>, args: *const *mut ffi::PyObject, nargs: usize, audited: &mut bool) -> Option<*mut ffi::PyObject> {
    let func = CFuncPtr::function_address(slf);
    if func == 0 {
        return None;
    }
    // From behaviour 3.14 every call raises `ctypes.call_function` (interp/audit.rs). The
    // event comes first, before any argument is converted (a hook may run Python code:
    // converted addresses could go stale), and only for calls the lane can take: where the
    // general path would refuse the call (a wrong argument count), it raises no event
    // either.
    if audit::every_call() {
        {
            // SAFETY: the plan is only read here, before the event runs any Python code.
            let plan = unsafe { slf.get().fast_plan() }?;
            let fits = match plan.typed {
                Some(n) => nargs == usize::from(n),
                None => nargs <= INT_REGISTERS,
            };
            if !fits {
                return None;
            }
        }
        // SAFETY: the GIL is held and `args` holds `nargs` live references (contract), for
        // as long as the event is raised.
        if unsafe { audit::call_function(func, move || audit::tuple_of_array(args, nargs)) } < 0 {
            return Some(std::ptr::null_mut());
        }
        *audited = true;
    }
    // SAFETY: borrowed again after the event (a hook may have reconfigured the function);
    // no Python code runs while it is borrowed from here on (the conversions below only
    // inspect exact built-in objects), so nothing can replace it.
    let plan = unsafe { slf.get().fast_plan() }?;
    // The commonest plan first: the scalar lane, when it takes this many arguments (a
    // scalar plan is never framed).
    if usize::from(plan.scalar_arity) == nargs {
        // SAFETY: forwarded from this function's contract.
        if let Some(result) = unsafe { try_scalar_call(py, plan, func, args, nargs) } {
            return Some(result);
        }
    } else if plan.frame {
        // SAFETY: forwarded from this function's contract.
        return unsafe { try_call_frame(py, plan, func, args, nargs) };
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { try_register_call(py, plan, func, args, nargs) }
}

/// The register lane: every plan that is neither framed nor scalar, and scalar plans whose
/// arguments were not all exact ints. Out of line, so that the scalar lane's caller keeps a
/// small frame.
///
/// # Safety
/// As [`try_call`]; `plan` is the function's plan, borrowed while no Python code runs, and
/// `func` its address.
#[inline(never)]
unsafe fn try_register_call(py: Python<'_>, plan: &FastPlan, func: usize, args: *const *mut ffi::PyObject, nargs: usize) -> Option<*mut ffi::PyObject> {
    // Built in place: the arguments are converted straight into the registers the call
    // reads (a `Registers` built first and moved in cost a copy of all fourteen words).
    let mut pending = Pending { func: 0, regs: Registers::default(), ret: ReturnClass::Integer, use_errno: plan.use_errno, ints_only: true };
    match plan.typed {
        Some(n) => {
            if nargs != n as usize {
                return None;
            }
            let (mut ni, mut ns) = (0, 0);
            for (i, kind) in plan.args[..nargs].iter().enumerate() {
                // SAFETY: `i < nargs`; each entry is a live reference (contract).
                let obj = unsafe { *args.add(i) };
                // An integer of an exact `int` inline (the usual argument); the rest in `convert`.
                let v = match *kind {
                    // SAFETY: a live object (contract).
                    FastArg::Int { size, signed } if unsafe { ffi::PyLong_CheckExact(obj) } != 0 => {
                        // SAFETY: an exact int (checked).
                        extend(unsafe { int_bits(obj) }, size, signed)
                    }
                    // SAFETY: a live object, the GIL held (contract).
                    _ => unsafe { convert(py, kind, obj) }?,
                };
                // The plan was only made when every class fits its registers.
                if kind.is_sse() {
                    *pending.regs.sse.get_mut(ns)? = v;
                    ns += 1;
                } else {
                    *pending.regs.ints.get_mut(ni)? = v;
                    ni += 1;
                }
            }
            pending.ints_only = ns == 0;
        }
        None => {
            if nargs > INT_REGISTERS {
                return None;
            }
            for i in 0..nargs {
                // SAFETY: `i < nargs`; each entry is a live reference (contract).
                pending.regs.ints[i] = unsafe { convert_untyped(py, *args.add(i)) }?;
            }
        }
    }
    // The address the event announced (as CPython, which reads it before raising).
    pending.func = func;
    // Copied out: a callback during the call may reconfigure the function object.
    let (result_kind, release_gil) = (plan.ret, plan.release_gil);
    if matches!(result_kind, FastRet::F32 | FastRet::F64) {
        pending.ret = ReturnClass::Sse;
    }
    // SAFETY: the plan matches the function's declared signature (argtypes/restype, which
    // the user vouches for, as with every ctypes call); pointer arguments point into the
    // argument objects, which the caller keeps alive for the whole call. The section
    // touches no Python object (registers and a C call).
    let raw = unsafe { run_section(py, release_gil, || pending.run()) };
    // SAFETY: `raw` is the result register of a call returning `result_kind`'s type; the
    // GIL is held again.
    Some(unsafe { lane_result(result_kind, raw) })
}

/// Runs a lane's C call: inside `thread_state::released` when the function releases the
/// GIL (which passes the finalization gate before taking the GIL back,
/// interp/finalization.rs); directly otherwise.
///
/// # Safety
/// `call` touches no Python object and calls nothing that uses the C API or PyO3's attach
/// (`thread_state::released`'s contract); the GIL is held.
#[inline(always)]
unsafe fn run_section<R>(py: Python<'_>, release_gil: bool, call: impl FnOnce() -> R) -> R {
    if release_gil {
        // SAFETY: forwarded from this function's contract.
        unsafe { thread_state::released(py, call) }
    } else {
        call()
    }
}

/// The object of a lane's non-aggregate result, the call counted. The usual C `int`
/// result is made inline.
///
/// # Safety
/// The GIL is held; `raw` is the result register of a call returning `kind`'s type.
#[inline(always)]
unsafe fn lane_result(kind: FastRet, raw: u64) -> *mut ffi::PyObject {
    note_lane_taken();
    // SAFETY: CPython constructors called under the GIL (contract).
    unsafe {
        match kind {
            FastRet::Int { size, signed: true } => int_object(extend(raw, size, true) as i64),
            _ => result_object(kind, raw),
        }
    }
}

/// The lane of the commonest typed call, C integers in and an integer (or nothing) out, as
/// `abs`, `getpid` or `usleep` are declared: every argument an exact `int`, read in place
/// into the registers it goes in, and the call made without the register file, the errno
/// swap and the result dispatch of the general lane (about 70 instructions and 3 ns less a
/// call, which is most of what separates a function object from cffi's builtin function).
/// `None`: an argument is not an exact `int` (a `bool`, an instance, an int subclass) and no
/// call was made; the general lane converts it, as it would have.
///
/// # Safety
/// As [`try_call`]; `plan.scalar_arity` is `nargs` (every argument `FastArg::Int`, at most
/// six, an integer or void result, no `use_errno`), and `func` is the function's address.
#[inline(always)]
unsafe fn try_scalar_call(py: Python<'_>, plan: &FastPlan, func: usize, args: *const *mut ffi::PyObject, nargs: usize) -> Option<*mut ffi::PyObject> {
    // One copy per arity: the argument loop unrolled, the values kept in registers, and
    // only as many argument registers loaded as the function reads.
    // SAFETY: in every arm, forwarded from this function's contract, `nargs` arguments.
    unsafe {
        match nargs {
            0 => scalar_call::<0>(py, plan, func, args),
            1 => scalar_call::<1>(py, plan, func, args),
            2 => scalar_call::<2>(py, plan, func, args),
            3 => scalar_call::<3>(py, plan, func, args),
            4 => scalar_call::<4>(py, plan, func, args),
            5 => scalar_call::<5>(py, plan, func, args),
            6 => scalar_call::<6>(py, plan, func, args),
            _ => None,
        }
    }
}

/// [`try_scalar_call`] for `N` arguments.
///
/// # Safety
/// As [`try_scalar_call`], with `args` holding `N` live references and the plan `N`
/// argument kinds.
#[inline(always)]
unsafe fn scalar_call<const N: usize>(py: Python<'_>, plan: &FastPlan, func: usize, args: *const *mut ffi::PyObject) -> Option<*mut ffi::PyObject> {
    let mut ints = [0u64; N];
    for (i, slot) in ints.iter_mut().enumerate() {
        // SAFETY: `i < N`; each entry is a live reference (contract).
        let obj = unsafe { *args.add(i) };
        let FastArg::Int { size, signed } = *plan.args.get(i)? else { return None };
        // SAFETY: a live object (contract).
        if unsafe { ffi::PyLong_CheckExact(obj) } == 0 {
            return None;
        }
        // SAFETY: an exact int (checked).
        *slot = extend(unsafe { int_bits(obj) }, size, signed);
    }
    // Copied out: a callback during the call may reconfigure the function object.
    let result_kind = plan.ret;
    // SAFETY: the plan matches the function's declared signature (argtypes/restype, which
    // the user vouches for, as with every ctypes call): `N` integer-class arguments, an
    // integer or no result. The section touches no Python object (registers and a C call).
    let raw = unsafe { run_section(py, plan.release_gil, || direct::call_ints::<N>(func as *const std::ffi::c_void, &ints)) };
    // SAFETY: `raw` is the result register of a call returning `result_kind`'s type; the
    // GIL is held again.
    Some(unsafe { lane_result(result_kind, raw) })
}

/// A new `int` of a signed 64-bit result. Where C `long` is 64 bits (LP64) its constructor,
/// the interpreter's own: on 3.11 the `long long` one is a separate 20 instructions more.
///
/// # Safety
/// The GIL is held.
#[inline(always)]
unsafe fn int_object(v: i64) -> *mut ffi::PyObject {
    // SAFETY: CPython constructors called under the GIL (contract); the branch is decided at
    // compile time, and the conversion is exact where it is taken.
    unsafe {
        if std::mem::size_of::<std::ffi::c_long>() == 8 {
            ffi::PyLong_FromLong(v as std::ffi::c_long)
        } else {
            ffi::PyLong_FromLongLong(v)
        }
    }
}

/// Copies `size` bytes of an instance's memory into `words` (zero-padded to whole words).
///
/// # Safety
/// `src` is readable for `size` bytes and `size <= 8 * words.len()`.
#[inline]
unsafe fn copy_words(src: *const u8, size: usize, words: &mut [u64]) {
    // SAFETY: `words` has room for `size` bytes (contract), `src` is readable (contract);
    // the two never overlap (one is a Python object's memory, the other a call frame).
    unsafe { std::ptr::copy_nonoverlapping(src, words.as_mut_ptr().cast::<u8>(), size) };
}

/// Places one aggregate argument into `frame`: its eightbytes into the next registers of
/// their classes, or its bytes onto the stack. `None`: `obj` is not an exact instance of
/// the declared type (the general path decides), or the plan's bounds would be exceeded.
///
/// # Safety
/// `obj` is a live object; the GIL is held.
#[inline]
unsafe fn place_aggregate(
    py: Python<'_>,
    kind: FastArg,
    obj: *mut ffi::PyObject,
    frame: &mut Frame,
    at: &mut (usize, usize, usize),
) -> Option<()> {
    let FastArg::Aggregate { cls, size, align16, pass } = kind else { return None };
    // SAFETY: reading the type of a live object (contract).
    if unsafe { ffi::Py_TYPE(obj) } as usize != cls {
        return None;
    }
    // SAFETY: an exact instance of a structure or union type holds a `CData` with at least
    // `size` bytes of storage (its type's size); the object is alive for the call.
    let src = unsafe { Bound::ref_from_ptr(py, &obj).cast_unchecked::<CData>().get().ptr() };
    let size = usize::from(size);
    let (ni, ns, sw) = at;
    match pass {
        SysvPassing::Registers { words, sse } => {
            let mut w = [0u64; 2];
            // SAFETY: a register aggregate has at most 16 bytes; `src` holds `size`.
            unsafe { copy_words(src, size.min(16), &mut w) };
            for (i, &word) in w[..usize::from(words)].iter().enumerate() {
                if sse[i] {
                    *frame.sse.get_mut(*ns)? = word;
                    *ns += 1;
                } else {
                    *frame.ints.get_mut(*ni)? = word;
                    *ni += 1;
                }
            }
        }
        SysvPassing::Memory => {
            if align16 {
                *sw = sw.next_multiple_of(2);
            }
            let n = size.div_ceil(8);
            let slot = frame.stack.get_mut(*sw..*sw + n)?;
            // SAFETY: `slot` has `n` words, room for `size` bytes; `src` holds `size`.
            unsafe { copy_words(src, size, slot) };
            *sw += n;
        }
    }
    Some(())
}

/// The address of a call frame handed to the GIL-released section.
struct FramePtr(*mut Frame);
// SAFETY: the frame holds plain integers only and belongs to the calling thread's stack
// frame, which waits for the call; no Python object is reachable through it.
unsafe impl Send for FramePtr {}

/// [`try_call`] for a plan with aggregates: arguments into a [`Frame`], the call through
/// `direct::call_frame`, and an aggregate result copied into a new instance.
///
/// # Safety
/// As [`try_call`]; `plan` is the called function's plan and `func` its (non-NULL) address.
#[inline(never)]
unsafe fn try_call_frame(
    py: Python<'_>,
    plan: &FastPlan,
    func: usize,
    args: *const *mut ffi::PyObject,
    nargs: usize,
) -> Option<*mut ffi::PyObject> {
    let n = usize::from(plan.typed?);
    if nargs != n {
        return None;
    }
    let mut frame = Frame::default();
    // Written by the callee (a MEMORY result) before it is read; left uninitialised
    // otherwise.
    let mut result_buf = std::mem::MaybeUninit::<[u64; MAX_AGGREGATE_RESULT / 8]>::uninit();
    let memory_result = matches!(plan.ret, FastRet::Aggregate { pass: SysvPassing::Memory, .. });
    // (next integer register, next SSE register, next stack word)
    let mut at = (usize::from(memory_result), 0usize, 0usize);
    for (i, &kind) in plan.args[..n].iter().enumerate() {
        // SAFETY: `i < nargs`; each entry is a live reference (contract).
        let obj = unsafe { *args.add(i) };
        if matches!(kind, FastArg::Aggregate { .. }) {
            // SAFETY: a live object, the GIL held (contract).
            unsafe { place_aggregate(py, kind, obj, &mut frame, &mut at) }?;
            continue;
        }
        // SAFETY: as above.
        let v = unsafe { convert(py, &kind, obj) }?;
        if kind.is_sse() {
            *frame.sse.get_mut(at.1)? = v;
            at.1 += 1;
        } else {
            *frame.ints.get_mut(at.0)? = v;
            at.0 += 1;
        }
    }
    frame.func = func as u64;
    frame.stack_words = at.2 as u64;
    if memory_result {
        frame.ints[0] = result_buf.as_mut_ptr() as u64;
    }
    // Copied out, and the result type held: a callback during the call may reconfigure the
    // function object and drop the configuration that holds it.
    let (result_kind, release_gil, use_errno) = (plan.ret, plan.release_gil, plan.use_errno);
    let result_type = match result_kind {
        // SAFETY: the address of a live type object (the configuration holds it until now).
        FastRet::Aggregate { cls, .. } => Some(unsafe { Bound::from_borrowed_ptr(py, cls as *mut ffi::PyObject) }),
        _ => None,
    };
    let run = |frame: &mut Frame| {
        // SAFETY: the plan matches the function's declared signature (argtypes/restype,
        // which the user vouches for, as with every ctypes call) and the frame was filled
        // as `direct::call_frame` requires; the result buffer outlives the call.
        errno::swapped_around(use_errno, || unsafe { direct::call_frame(frame) })
    };
    // The frame stays where it is (it is large): the section gets its address.
    let sent = FramePtr(&mut frame);
    // SAFETY: the section touches no Python object; it runs the C call only.
    unsafe {
        run_section(py, release_gil, move || {
            let sent = sent;
            // SAFETY: the frame lives in this function's stack frame, which waits for the
            // section to return; nothing else touches it meanwhile.
            run(&mut *sent.0)
        })
    };
    note_lane_taken();
    let pass = match result_kind {
        FastRet::Aggregate { pass, .. } => pass,
        FastRet::F32 | FastRet::F64 => {
            // SAFETY: the result register of a call returning `result_kind`'s type.
            return Some(unsafe { result_object(result_kind, frame.ret[2]) });
        }
        _ => {
            // SAFETY: as above.
            return Some(unsafe { result_object(result_kind, frame.ret[0]) });
        }
    };
    let mut words = [0u64; 2];
    let bytes: *const u8 = match pass {
        SysvPassing::Memory => result_buf.as_ptr().cast(),
        SysvPassing::Registers { words: count, sse } => {
            let (mut int_next, mut sse_next) = (0, 2);
            for (i, w) in words[..usize::from(count)].iter_mut().enumerate() {
                let reg = if sse[i] { &mut sse_next } else { &mut int_next };
                *w = frame.ret[*reg];
                *reg += 1;
            }
            words.as_ptr().cast()
        }
    };
    let cls = result_type?;
    // SAFETY: `bytes` holds the `size` bytes of the returned aggregate (a MEMORY result in
    // the buffer the callee wrote, a register one assembled above); `cls` is its type.
    let made = unsafe { crate::data::roots::instantiate_copy(&cls, bytes) };
    Some(match made {
        Ok(obj) => obj.into_ptr(),
        Err(err) => {
            err.restore(py);
            std::ptr::null_mut()
        }
    })
}

/// Calls that took the fast lane, for tests that must know which path a call took.
/// Only touched with the GIL held, so a plain load and store (no locked instruction) count
/// exactly.
static LANE_CALLS: AtomicU64 = AtomicU64::new(0);

#[inline(always)]
fn note_lane_taken() {
    LANE_CALLS.store(LANE_CALLS.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// How many calls have taken the fast lane in this process (`_rs.fast_lane_calls()`).
#[pyfunction]
pub fn fast_lane_calls() -> u64 {
    LANE_CALLS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_by_size_and_sign() {
        assert_eq!(extend(0xff, 1, true), u64::MAX);
        assert_eq!(extend(0x1ff, 1, false), 0xff);
        assert_eq!(extend(0x8000, 2, true) as i64, -32768);
        assert_eq!(extend(0xffff_ffff, 4, true) as i64, -1);
        assert_eq!(extend(0x1_ffff_ffff, 4, false), 0xffff_ffff);
        assert_eq!(extend(u64::MAX, 8, false), u64::MAX);
    }

    #[test]
    fn plans_respect_register_counts() {
        let i = FastArg::Int { size: 4, signed: true };
        assert!(FastPlan::new(Some(&[i; 6]), FastRet::Void, false, true).is_some());
        assert!(FastPlan::new(Some(&[i; 7]), FastRet::Void, false, true).is_none());
        let mut mixed = vec![FastArg::F64; 8];
        mixed.extend([i; 6]);
        assert!(FastPlan::new(Some(&mixed), FastRet::F64, false, true).is_some());
        mixed.push(FastArg::F32);
        assert!(FastPlan::new(Some(&mixed), FastRet::F64, false, true).is_none());
    }
}

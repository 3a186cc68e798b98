//! Direct calls for scalar signatures on x86-64 System V: the fast lane beside libffi.
//!
//! On this ABI every scalar argument is classified on its own: integers and pointers take
//! the next free general-purpose register (six of them), `float`/`double` the next free SSE
//! register (eight). Which register an argument lands in depends only on how many arguments
//! of its own class came before it. So a function whose arguments are all scalars, with at
//! most six integer-class and eight SSE-class ones, can be called through one fixed
//! prototype — six `u64` then eight `f64` — with the integer-class arguments in order in the
//! first and the SSE-class ones in order in the second. Unused registers carry zeros the
//! callee never reads. The result comes back in `rax` (integer class) or `xmm0` (SSE class).
//!
//! The prototype is declared variadic, so the caller also sets `al` to an upper bound of the
//! SSE registers used: a C variadic function (`printf` called with `argtypes` covering all
//! its arguments) reads `al` to decide which registers to spill, exactly as libffi sets it.
//!
//! Narrow integers are passed sign- or zero-extended to 64 bits (what GCC and Clang callers
//! do, and what Clang callees rely on); `float` travels as its 32-bit pattern in the low half
//! of the SSE register. Anything else — aggregates by value, `long double`, more arguments
//! than registers, other platforms — goes through libffi (`call.rs`).
use std::ffi::c_void;

/// The register file of one direct call.
#[derive(Clone, Copy, Debug, Default)]
pub struct Registers {
    /// Integer-class arguments in order (`rdi, rsi, rdx, rcx, r8, r9`).
    pub ints: [u64; 6],
    /// SSE-class arguments in order (`xmm0`–`xmm7`), as raw 64-bit patterns.
    pub sse: [u64; 8],
}

/// Where the result of a direct call comes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnClass {
    /// `rax` (integers, pointers; also used for `void`, whose value is ignored).
    Integer,
    /// `xmm0` (`float` in the low 32 bits, `double` in all 64).
    Sse,
}

/// Whether direct calls exist on this target.
pub const SUPPORTED: bool = cfg!(all(target_arch = "x86_64", unix));

/// Calls `func` with the argument registers `regs` and returns the raw 64-bit result
/// register (`rax` or the bit pattern of `xmm0`).
///
/// # Safety
/// `func` must be a C function (cdecl, System V x86-64) whose parameters are scalars, at most
/// six of integer class and eight of SSE class, each present in `regs` in order within its
/// class and widened as described in the module documentation; its result must be of
/// `ret`'s class or `void`. Any memory the arguments point to must be valid for the call.
#[cfg(all(target_arch = "x86_64", unix))]
#[inline]
pub unsafe fn call(func: *const c_void, regs: &Registers, ret: ReturnClass) -> u64 {
    type IntFn = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64, f64, f64, f64, f64, f64, f64, f64, f64, ...) -> u64;
    type SseFn = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64, f64, f64, f64, f64, f64, f64, f64, f64, ...) -> f64;
    let [a, b, c, d, e, f] = regs.ints;
    let s = regs.sse.map(f64::from_bits);
    match ret {
        ReturnClass::Integer => {
            // SAFETY: a C function pointer reinterpreted at a prototype the ABI makes
            // equivalent for the callee (module docs; the caller's contract).
            let fp: IntFn = unsafe { std::mem::transmute::<*const c_void, IntFn>(func) };
            // SAFETY: per this function's contract.
            unsafe { fp(a, b, c, d, e, f, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]) }
        }
        ReturnClass::Sse => {
            // SAFETY: as above, for a function returning in xmm0.
            let fp: SseFn = unsafe { std::mem::transmute::<*const c_void, SseFn>(func) };
            // SAFETY: per this function's contract.
            unsafe { fp(a, b, c, d, e, f, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]) }.to_bits()
        }
    }
}

/// Direct calls are not available on this target: callers check [`SUPPORTED`] first.
///
/// # Safety
/// Never called (it panics); it exists so callers compile everywhere.
#[cfg(not(all(target_arch = "x86_64", unix)))]
pub unsafe fn call(_func: *const c_void, _regs: &Registers, _ret: ReturnClass) -> u64 {
    unreachable!("direct calls are only built for x86-64 System V")
}

#[cfg(all(test, target_arch = "x86_64", unix))]
mod tests {
    use super::*;

    extern "C" fn mixed(a: i8, x: f32, b: u16, y: f64, c: i64, p: *const u8) -> f64 {
        // SAFETY: the test passes a pointer to a live byte.
        let deref = unsafe { *p } as f64;
        a as f64 + x as f64 * 10.0 + b as f64 * 100.0 + y * 1000.0 + c as f64 * 10000.0 + deref
    }

    extern "C" fn narrow(a: i8, b: u8, c: i16, d: u32) -> i32 {
        a as i32 + b as i32 + c as i32 + d as i32
    }

    extern "C" fn f32_result(x: f32, y: f32) -> f32 {
        x * y
    }

    extern "C" fn many(a: f64, b: f64, c: f64, d: f64, e: f64, f: f64, g: f64, h: f64, i: i32, j: i32, k: i32, l: i32, m: i32, n: i32) -> i64 {
        (a + b + c + d + e + f + g + h) as i64 * 1000 + (i + j + k + l + m + n) as i64
    }

    #[test]
    fn interleaved_classes_land_in_their_registers() {
        let byte = 7u8;
        let mut r = Registers::default();
        r.ints[0] = (-3i64) as u64; // a: i8, sign-extended
        r.ints[1] = 2; // b: u16
        r.ints[2] = 4; // c: i64
        r.ints[3] = &byte as *const u8 as u64;
        r.sse[0] = (1.5f32).to_bits() as u64; // x: f32 in the low half
        r.sse[1] = 0.25f64.to_bits(); // y
        // SAFETY: the prototype matches `mixed` per the module's register rules.
        let bits = unsafe { call(mixed as *const c_void, &r, ReturnClass::Sse) };
        assert_eq!(f64::from_bits(bits), -3.0 + 15.0 + 200.0 + 250.0 + 40000.0 + 7.0);
    }

    #[test]
    fn narrow_integers_and_integer_result() {
        let r = Registers { ints: [(-1i64) as u64, 255, (-300i64) as u64, 4_000_000_000, 0, 0], ..Default::default() };
        // SAFETY: four integer-class arguments, integer result.
        let raw = unsafe { call(narrow as *const c_void, &r, ReturnClass::Integer) };
        assert_eq!(raw as u32 as i32, (-1i32 + 255 - 300).wrapping_add(4_000_000_000u32 as i32));
    }

    #[test]
    fn float_result_in_low_half() {
        let mut r = Registers::default();
        r.sse[0] = (1.5f32).to_bits() as u64;
        r.sse[1] = (4.0f32).to_bits() as u64;
        // SAFETY: two SSE arguments, float result.
        let raw = unsafe { call(f32_result as *const c_void, &r, ReturnClass::Sse) };
        assert_eq!(f32::from_bits(raw as u32), 6.0);
    }

    #[test]
    fn all_fourteen_registers() {
        let r = Registers {
            ints: [1, 2, 3, 4, 5, 6],
            sse: [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0].map(f64::to_bits),
        };
        // SAFETY: eight SSE then six integer arguments, integer result.
        let raw = unsafe { call(many as *const c_void, &r, ReturnClass::Integer) };
        assert_eq!(raw as i64, 36 * 1000 + 21);
    }

    #[test]
    fn variadic_callee_sees_the_doubles() {
        extern "C" {
            fn snprintf(buf: *mut u8, n: usize, fmt: *const u8, ...) -> i32;
        }
        let mut buf = [0u8; 64];
        let fmt = b"%d %.2f %s %.1f\0";
        let word = b"ok\0";
        let mut sse = [0u64; 8];
        sse[0] = 2.5f64.to_bits();
        sse[1] = (-1.0f64).to_bits();
        let r = Registers { ints: [buf.as_mut_ptr() as u64, buf.len() as u64, fmt.as_ptr() as u64, 42, word.as_ptr() as u64, 0], sse };
        // SAFETY: snprintf's fixed and variadic arguments are all scalars in registers.
        let n = unsafe { call(snprintf as *const c_void, &r, ReturnClass::Integer) } as i32;
        let text = std::str::from_utf8(&buf[..n as usize]).unwrap();
        assert_eq!(text, "42 2.50 ok -1.0");
    }
}

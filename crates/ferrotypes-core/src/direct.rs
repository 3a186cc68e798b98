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
//! of the SSE register.
//!
//! Aggregates by value ([`Frame`], [`call_frame`]) follow the classification their libffi
//! descriptor already encodes (`ffi_type::SysvPassing`): an aggregate of one or two
//! INTEGER/SSE eightbytes takes the next free registers of those classes (the caller checks
//! that all of them are free, else the psABI would put the whole aggregate on the stack), a
//! MEMORY one is copied onto the stack in argument order (eightbyte slots, 16-byte aligned
//! for an aggregate that is), and a MEMORY result is written through a hidden pointer
//! passed as the first integer argument; a register result comes back in `rax`/`rdx` and
//! `xmm0`/`xmm1`. That call goes through a small assembly routine, as no Rust prototype
//! can carry a stack area whose size is known only at run time. Anything else — `long
//! double`, more scalars than registers, other platforms — goes through libffi (`call.rs`).
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

/// [`call`] for a call whose arguments are all of integer class (`regs.sse` unused): only
/// the six integer registers are loaded, and `al` (the vector-register count a variadic
/// callee reads) is 0, which is exact for such a call.
///
/// # Safety
/// As [`call`], with no SSE-class parameter.
#[cfg(all(target_arch = "x86_64", unix))]
#[inline]
pub unsafe fn call_int_args(func: *const c_void, ints: &[u64; 6], ret: ReturnClass) -> u64 {
    type IntFn = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64, ...) -> u64;
    type SseFn = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64, ...) -> f64;
    let [a, b, c, d, e, f] = *ints;
    match ret {
        ReturnClass::Integer => {
            // SAFETY: a C function pointer reinterpreted at a prototype the ABI makes
            // equivalent for the callee (module docs; the caller's contract).
            let fp: IntFn = unsafe { std::mem::transmute::<*const c_void, IntFn>(func) };
            // SAFETY: per this function's contract.
            unsafe { fp(a, b, c, d, e, f) }
        }
        ReturnClass::Sse => {
            // SAFETY: as above, for a function returning in xmm0.
            let fp: SseFn = unsafe { std::mem::transmute::<*const c_void, SseFn>(func) };
            // SAFETY: per this function's contract.
            unsafe { fp(a, b, c, d, e, f) }.to_bits()
        }
    }
}

/// [`call_int_args`] for exactly `N` integer-class arguments and an integer-class (or no)
/// result, through a prototype with only as many named parameters as the call loads
/// registers (at least one: a prototype needs a named parameter before `...`; with `N` = 0
/// `rdi` carries a 0 the callee never reads). Still variadic, so `al` is 0. The scalar
/// lane's call: a one-argument call loads one register, not six from memory.
///
/// # Safety
/// As [`call_int_args`], with `func` taking exactly `N` integer-class parameters (or being
/// variadic with `N` integer-class arguments) and returning in `rax` or nothing.
#[cfg(all(target_arch = "x86_64", unix))]
#[inline(always)]
pub unsafe fn call_ints<const N: usize>(func: *const c_void, ints: &[u64; N]) -> u64 {
    const { assert!(N <= 6, "at most six integer registers") };
    // Folded at compile time: `i` and `N` are constants at every use.
    let at = |i: usize| if i < N { ints[i] } else { 0 };
    // SAFETY: in every arm, a C function pointer reinterpreted at a prototype the ABI makes
    // equivalent for the callee, given the integer registers it reads (module docs; the
    // caller's contract).
    unsafe {
        match N {
            0 | 1 => {
                type F = unsafe extern "C" fn(u64, ...) -> u64;
                std::mem::transmute::<*const c_void, F>(func)(at(0))
            }
            2 => {
                type F = unsafe extern "C" fn(u64, u64, ...) -> u64;
                std::mem::transmute::<*const c_void, F>(func)(at(0), at(1))
            }
            3 => {
                type F = unsafe extern "C" fn(u64, u64, u64, ...) -> u64;
                std::mem::transmute::<*const c_void, F>(func)(at(0), at(1), at(2))
            }
            _ => {
                type F = unsafe extern "C" fn(u64, u64, u64, u64, u64, u64, ...) -> u64;
                std::mem::transmute::<*const c_void, F>(func)(at(0), at(1), at(2), at(3), at(4), at(5))
            }
        }
    }
}

/// Direct calls are not available on this target: callers check [`SUPPORTED`] first.
///
/// # Safety
/// Never called (it panics); it exists so callers compile everywhere.
#[cfg(not(all(target_arch = "x86_64", unix)))]
pub unsafe fn call_ints<const N: usize>(_func: *const c_void, _ints: &[u64; N]) -> u64 {
    unreachable!("direct calls are only built for x86-64 System V")
}

/// Direct calls are not available on this target: callers check [`SUPPORTED`] first.
///
/// # Safety
/// Never called (it panics); it exists so callers compile everywhere.
#[cfg(not(all(target_arch = "x86_64", unix)))]
pub unsafe fn call_int_args(_func: *const c_void, _ints: &[u64; 6], _ret: ReturnClass) -> u64 {
    unreachable!("direct calls are only built for x86-64 System V")
}

/// Direct calls are not available on this target: callers check [`SUPPORTED`] first.
///
/// # Safety
/// Never called (it panics); it exists so callers compile everywhere.
#[cfg(not(all(target_arch = "x86_64", unix)))]
pub unsafe fn call(_func: *const c_void, _regs: &Registers, _ret: ReturnClass) -> u64 {
    unreachable!("direct calls are only built for x86-64 System V")
}

/// Most eightbytes of stack arguments a [`Frame`] carries (aggregates passed in memory).
pub const MAX_STACK_WORDS: usize = 32;

/// Everything one [`call_frame`] call passes and gets back. The field order is the layout
/// the assembly routine reads (offsets in its comments).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// `rdi, rsi, rdx, rcx, r8, r9` (bytes 0–47).
    pub ints: [u64; 6],
    /// `xmm0`–`xmm7` (bytes 48–111).
    pub sse: [u64; 8],
    /// How many words of `stack` are passed (bytes 112–119).
    pub stack_words: u64,
    /// The function called (bytes 120–127).
    pub func: u64,
    /// After the call: `rax, rdx, xmm0, xmm1` (bytes 128–159).
    pub ret: [u64; 4],
    /// The stack arguments, lowest address first (bytes 160–).
    pub stack: [u64; MAX_STACK_WORDS],
}

impl Default for Frame {
    fn default() -> Self {
        Frame { ints: [0; 6], sse: [0; 8], stack_words: 0, func: 0, ret: [0; 4], stack: [0; MAX_STACK_WORDS] }
    }
}

#[cfg(all(target_arch = "x86_64", unix))]
std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl ferrotypes_direct_call_frame",
    ".hidden ferrotypes_direct_call_frame",
    ".type ferrotypes_direct_call_frame,@function",
    "ferrotypes_direct_call_frame:",
    ".cfi_startproc",
    "push rbp",
    ".cfi_def_cfa_offset 16",
    ".cfi_offset rbp, -16",
    "mov rbp, rsp",
    ".cfi_def_cfa_register rbp",
    "push rbx",
    ".cfi_offset rbx, -24",
    // rbx (callee-saved) keeps the frame across the call.
    "mov rbx, rdi",
    // The stack area: stack_words eightbytes, 16-byte aligned at the call.
    "mov rcx, qword ptr [rbx + 112]",
    "lea rax, [rcx*8]",
    "sub rsp, rax",
    "and rsp, -16",
    "xor eax, eax",
    "2:",
    "cmp rax, rcx",
    "jae 3f",
    "mov rdx, qword ptr [rbx + rax*8 + 160]",
    "mov qword ptr [rsp + rax*8], rdx",
    "inc rax",
    "jmp 2b",
    "3:",
    "movq xmm0, qword ptr [rbx + 48]",
    "movq xmm1, qword ptr [rbx + 56]",
    "movq xmm2, qword ptr [rbx + 64]",
    "movq xmm3, qword ptr [rbx + 72]",
    "movq xmm4, qword ptr [rbx + 80]",
    "movq xmm5, qword ptr [rbx + 88]",
    "movq xmm6, qword ptr [rbx + 96]",
    "movq xmm7, qword ptr [rbx + 104]",
    "mov rdi, qword ptr [rbx]",
    "mov rsi, qword ptr [rbx + 8]",
    "mov rdx, qword ptr [rbx + 16]",
    "mov rcx, qword ptr [rbx + 24]",
    "mov r8, qword ptr [rbx + 32]",
    "mov r9, qword ptr [rbx + 40]",
    "mov r11, qword ptr [rbx + 120]",
    // al: an upper bound of the SSE registers used, for variadic callees.
    "mov eax, 8",
    "call r11",
    "mov qword ptr [rbx + 128], rax",
    "mov qword ptr [rbx + 136], rdx",
    "movq qword ptr [rbx + 144], xmm0",
    "movq qword ptr [rbx + 152], xmm1",
    "lea rsp, [rbp - 8]",
    "pop rbx",
    "pop rbp",
    ".cfi_def_cfa rsp, 8",
    "ret",
    ".cfi_endproc",
    ".size ferrotypes_direct_call_frame, . - ferrotypes_direct_call_frame",
);

#[cfg(all(target_arch = "x86_64", unix))]
extern "C" {
    fn ferrotypes_direct_call_frame(frame: *mut Frame);
}

/// Calls `frame.func` with the registers and stack words of `frame`, leaving the result
/// registers in `frame.ret`.
///
/// # Safety
/// `frame.func` must be a C function (System V x86-64) whose parameters are laid out in
/// `frame` as the module documentation describes (scalars and register aggregates in
/// registers by class and order, MEMORY aggregates in `stack` in order, a hidden result
/// pointer first among the integers for a MEMORY result), with `stack_words` at most
/// [`MAX_STACK_WORDS`]. Any memory the arguments point to must be valid for the call.
#[cfg(all(target_arch = "x86_64", unix))]
#[inline]
pub unsafe fn call_frame(frame: &mut Frame) {
    debug_assert!(frame.stack_words as usize <= MAX_STACK_WORDS);
    // SAFETY: the routine above reads the frame at the offsets of its #[repr(C)] layout,
    // copies `stack_words` (bounded, contract) words onto a 16-byte aligned area, calls
    // `func` per this function's contract and stores the four result registers back.
    unsafe { ferrotypes_direct_call_frame(frame) }
}

/// Direct calls are not available on this target: callers check [`SUPPORTED`] first.
///
/// # Safety
/// Never called (it panics); it exists so callers compile everywhere.
#[cfg(not(all(target_arch = "x86_64", unix)))]
pub unsafe fn call_frame(_frame: &mut Frame) {
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
    fn integer_arguments_only() {
        let ints = [(-1i64) as u64, 255, (-300i64) as u64, 4_000_000_000, 0, 0];
        // SAFETY: four integer-class arguments, integer result.
        let raw = unsafe { call_int_args(narrow as *const c_void, &ints, ReturnClass::Integer) };
        assert_eq!(raw as u32 as i32, (-1i32 + 255 - 300).wrapping_add(4_000_000_000u32 as i32));
        extern "C" fn ratio(a: i64, b: i64) -> f64 {
            a as f64 / b as f64
        }
        // SAFETY: two integer-class arguments, SSE result.
        let raw = unsafe { call_int_args(ratio as *const c_void, &[3, 4, 0, 0, 0, 0], ReturnClass::Sse) };
        assert_eq!(f64::from_bits(raw), 0.75);
    }

    extern "C" {
        fn snprintf(buf: *mut u8, n: usize, fmt: *const u8, ...) -> i32;
    }

    #[test]
    fn variadic_callee_with_integer_arguments_only() {
        let mut buf = [0u8; 32];
        let fmt = b"%d-%ld\0";
        let ints = [buf.as_mut_ptr() as u64, buf.len() as u64, fmt.as_ptr() as u64, (-7i64) as u64, 123, 0];
        // SAFETY: snprintf with integer-class arguments only (al = 0 is exact).
        let n = unsafe { call_int_args(snprintf as *const c_void, &ints, ReturnClass::Integer) };
        assert_eq!(&buf[..n as usize], b"-7-123");
    }

    #[test]
    fn each_arity_loads_its_own_registers() {
        extern "C" fn zero() -> i64 {
            -9
        }
        extern "C" fn one(a: i32) -> i32 {
            a.wrapping_mul(3)
        }
        extern "C" fn two(a: i64, b: u8) -> i64 {
            a - i64::from(b)
        }
        extern "C" fn three(a: i16, b: i64, c: u32) -> i64 {
            i64::from(a) * 1_000_000 + b * 1000 + i64::from(c)
        }
        extern "C" fn five(a: i64, b: i64, c: i64, d: i64, e: i64) -> i64 {
            a + 10 * b + 100 * c + 1000 * d + 10_000 * e
        }
        // SAFETY: for each call, the function's integer parameters, widened as the module
        // documentation says, and an integer result.
        unsafe {
            assert_eq!(call_ints::<0>(zero as *const c_void, &[]) as i64, -9);
            assert_eq!(call_ints::<1>(one as *const c_void, &[(-7i64) as u64]) as u32 as i32, -21);
            assert_eq!(call_ints::<2>(two as *const c_void, &[40, 2]) as i64, 38);
            assert_eq!(call_ints::<3>(three as *const c_void, &[(-2i64) as u64, 5, 7]) as i64, -2_000_000 + 5007);
            assert_eq!(call_ints::<5>(five as *const c_void, &[1, 2, 3, 4, 5]) as i64, 54321);
        }
    }

    #[test]
    fn a_variadic_callee_through_call_ints() {
        let mut buf = [0u8; 32];
        let fmt = b"<%ld>\0";
        let ints = [buf.as_mut_ptr() as u64, buf.len() as u64, fmt.as_ptr() as u64, (-42i64) as u64];
        // SAFETY: snprintf with four integer-class arguments (al = 0 is exact).
        let n = unsafe { call_ints::<4>(snprintf as *const c_void, &ints) };
        assert_eq!(&buf[..n as usize], b"<-42>");
        let fmt = b"none\0";
        // SAFETY: snprintf with three integer-class arguments.
        let n = unsafe { call_ints::<3>(snprintf as *const c_void, &[buf.as_mut_ptr() as u64, buf.len() as u64, fmt.as_ptr() as u64]) };
        assert_eq!(&buf[..n as usize], b"none");
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

    #[repr(C)]
    #[derive(Clone, Copy)]
    struct S3 {
        a: i32,
        b: f64,
        c: i32,
    }

    #[repr(C)]
    #[derive(Clone, Copy, PartialEq, Debug)]
    struct Mixed {
        x: f32,
        n: i32,
        d: f64,
    }

    #[repr(C)]
    #[derive(Clone, Copy, PartialEq, Debug)]
    struct Big {
        v: [i64; 5],
    }

    extern "C" fn memory_arg(i: i32, s: S3, d: f64, t: S3) -> f64 {
        i as f64 + s.a as f64 + s.b + s.c as f64 + d * 100.0 + (t.a as f64 + t.b + t.c as f64) * 1000.0
    }

    extern "C" fn mixed_roundtrip(m: Mixed, k: i32) -> Mixed {
        Mixed { x: m.x * 2.0, n: m.n + k, d: m.d + 0.5 }
    }

    extern "C" fn big_result(seed: i64, s: S3) -> Big {
        Big { v: [seed, s.a as i64, s.c as i64, s.b as i64, 5] }
    }

    fn words_of<T: Copy>(v: &T) -> Vec<u64> {
        let n = std::mem::size_of::<T>().div_ceil(8);
        let mut out = vec![0u64; n];
        // SAFETY: copying the bytes of a live value into a buffer at least as large.
        unsafe { std::ptr::copy_nonoverlapping(v as *const T as *const u8, out.as_mut_ptr() as *mut u8, std::mem::size_of::<T>()) };
        out
    }

    #[test]
    fn memory_aggregates_go_on_the_stack_in_order() {
        let (s, t) = (S3 { a: 1, b: 2.0, c: 3 }, S3 { a: 4, b: 5.0, c: 6 });
        let mut f = Frame { func: memory_arg as *const () as u64, ..Default::default() };
        f.ints[0] = 7;
        f.sse[0] = 0.5f64.to_bits();
        let words: Vec<u64> = words_of(&s).into_iter().chain(words_of(&t)).collect();
        f.stack[..words.len()].copy_from_slice(&words);
        f.stack_words = words.len() as u64;
        // SAFETY: the frame holds memory_arg's arguments as the psABI places them.
        unsafe { call_frame(&mut f) };
        assert_eq!(f64::from_bits(f.ret[2]), 7.0 + 6.0 + 50.0 + 15000.0);
    }

    #[test]
    fn register_aggregates_in_and_out() {
        let m = Mixed { x: 1.5, n: 4, d: 2.0 };
        let w = words_of(&m);
        // { float, int } is INTEGER (merged), { double } SSE.
        let mut f = Frame { func: mixed_roundtrip as *const () as u64, ..Default::default() };
        f.ints[0] = w[0];
        f.sse[0] = w[1];
        f.ints[1] = 10;
        // SAFETY: as the psABI places mixed_roundtrip's arguments.
        unsafe { call_frame(&mut f) };
        // The result: eightbyte 0 (INTEGER) in rax, eightbyte 1 (SSE) in xmm0.
        let mut out = Mixed { x: 0.0, n: 0, d: 0.0 };
        let bytes = [f.ret[0], f.ret[2]];
        // SAFETY: two eightbytes into a 16-byte value.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr() as *const u8, &mut out as *mut Mixed as *mut u8, 16) };
        assert_eq!(out, Mixed { x: 3.0, n: 14, d: 2.5 });
    }

    #[test]
    fn memory_result_through_the_hidden_pointer() {
        let mut big = Big { v: [0; 5] };
        let s = S3 { a: 8, b: 9.0, c: 10 };
        let mut f = Frame { func: big_result as *const () as u64, ..Default::default() };
        f.ints[0] = &mut big as *mut Big as u64;
        f.ints[1] = 77;
        let w = words_of(&s);
        f.stack[..3].copy_from_slice(&w);
        f.stack_words = 3;
        // SAFETY: hidden result pointer first, then the arguments as the psABI places them.
        unsafe { call_frame(&mut f) };
        assert_eq!(big, Big { v: [77, 8, 10, 9, 5] });
        assert_eq!(f.ret[0], &big as *const Big as u64);
    }
}

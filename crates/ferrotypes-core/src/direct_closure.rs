//! Direct closure entries (x86-64 System V): C-callable code pointers for the common
//! callback shapes that reach the handler without libffi's generic closure path.
//!
//! A libffi closure goes trampoline → `ffi_closure_unix64` (saves every argument register)
//! → `ffi_closure_unix64_inner` (walks the interface to build the argument array) → the
//! handler, and back through a result jump table: about 67 instructions a call, a quarter of
//! a no-op callback's own work. For an interface whose arguments all travel in registers —
//! at most five integer-class arguments (integers, pointers) and eight `float`/`double` —
//! and whose result is `void`, integer-class or floating, that work is known when the
//! closure is made. Such a closure gets a slot here instead:
//!
//! * **A slot** is 32 bytes of code in a page that is written once, then made read+execute
//!   (never writable and executable at once). Each slot moves the integer argument
//!   registers up by one (`rdi` → `rsi` → … → `r9`), loads its own data word into `rdi`
//!   and jumps to its target, both read from the data page right after the code page.
//!   Floating arguments stay where they are (`xmm0`–`xmm7`).
//! * **The target** is a Rust `extern "C"` function generic over the handler
//!   ([`entry_no_args`], [`entry_int`], [`entry_float`]), whose parameters are the state
//!   pointer, the five integer registers and the eight floating ones: it points the
//!   handler's argument array at the registers the interface uses and returns the result
//!   in `rax` or `xmm0`, widened as libffi widens it.
//!
//! A slot given back points at [`entry_freed`] (returns zero) until it is reused, so a C
//! library that calls a callback after it was freed gets a zero result rather than a jump
//! into freed memory. Pages are never unmapped. Where the system refuses executable
//! anonymous memory (a hardened kernel), or on other targets, closures keep libffi's path:
//! [`Slot::alloc`] returns `None`.
use std::ffi::c_void;
use std::sync::Mutex;

/// Integer-class arguments a slot can pass (`rdi` carries the state, so one register fewer
/// than the ABI's six).
pub const MAX_INT_ARGS: usize = 5;
/// Floating arguments a slot can pass (`xmm0`–`xmm7`).
pub const MAX_FLOAT_ARGS: usize = 8;
/// Marks a floating argument in [`Shape::args`] (the low bits are its register index).
pub const FLOAT_ARG: u8 = 0x80;

/// Bytes of code per slot, and of data (state pointer, target) per slot.
const SLOT_CODE: usize = 32;
const SLOT_DATA: usize = 16;

/// Where each argument of an interface arrives, for a direct entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub nargs: usize,
    /// Per argument: the integer register index (0–4), or [`FLOAT_ARG`] | the floating one.
    pub args: [u8; MAX_INT_ARGS + MAX_FLOAT_ARGS],
}

/// The register class of one argument or result type, as the direct entries pass it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Integers of up to 8 bytes and pointers: a general register.
    Int,
    /// `float` and `double`: an SSE register.
    Float,
    /// Anything else (structures, `long double`, complex): not passed directly.
    Other,
}

impl Shape {
    /// No arguments (also the placeholder of a closure without a direct entry).
    pub const NONE: Shape = Shape { nargs: 0, args: [0; MAX_INT_ARGS + MAX_FLOAT_ARGS] };

    /// The shape of arguments of these classes, or `None` when one of them is not passed
    /// directly or there are too many of a class.
    pub fn of(classes: impl IntoIterator<Item = Class>) -> Option<Shape> {
        let mut shape = Shape::NONE;
        let (mut ints, mut floats) = (0usize, 0usize);
        for class in classes {
            let slot = match class {
                Class::Int if ints < MAX_INT_ARGS => {
                    ints += 1;
                    (ints - 1) as u8
                }
                Class::Float if floats < MAX_FLOAT_ARGS => {
                    floats += 1;
                    FLOAT_ARG | (floats - 1) as u8
                }
                _ => return None,
            };
            *shape.args.get_mut(shape.nargs)? = slot;
            shape.nargs += 1;
        }
        Some(shape)
    }
}

/// The bytes of slot `i`'s code, for a data page `page` bytes after the code page.
pub fn slot_code(i: usize, page: usize) -> [u8; SLOT_CODE] {
    let code_at = i * SLOT_CODE;
    let data_at = page + i * SLOT_DATA;
    // rip-relative displacements: from the end of each instruction to its data word.
    let load = (data_at as i64 - (code_at + 26) as i64) as i32;
    let jump = (data_at as i64 + 8 - (code_at + 32) as i64) as i32;
    let mut code = [0xcc; SLOT_CODE];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        code[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&[0xf3, 0x0f, 0x1e, 0xfa]); // endbr64 (a no-op without CET)
    put(&[0x4d, 0x89, 0xc1]); // mov r9, r8
    put(&[0x49, 0x89, 0xc8]); // mov r8, rcx
    put(&[0x48, 0x89, 0xd1]); // mov rcx, rdx
    put(&[0x48, 0x89, 0xf2]); // mov rdx, rsi
    put(&[0x48, 0x89, 0xfe]); // mov rsi, rdi
    put(&[0x48, 0x8b, 0x3d]); // mov rdi, [rip + load]
    put(&load.to_le_bytes());
    put(&[0xff, 0x25]); // jmp [rip + jump]
    put(&jump.to_le_bytes());
    debug_assert_eq!(at, SLOT_CODE);
    code
}

/// One page of slot code and the data page after it.
struct Page {
    code: *mut u8,
    data: *mut usize,
}

/// Every page made, and the slots free for reuse.
struct Pool {
    pages: Vec<Page>,
    free: Vec<(usize, usize)>,
    /// Set once the system refused executable memory: no more attempts.
    refused: bool,
}

// SAFETY: the pool holds addresses of mappings it owns; all access is under its mutex.
unsafe impl Send for Pool {}

static POOL: Mutex<Pool> = Mutex::new(Pool { pages: Vec::new(), free: Vec::new(), refused: false });

/// A slot in use: its code address, and its data words.
pub struct Slot {
    page: usize,
    index: usize,
    code: *const c_void,
    data: *mut usize,
}

// SAFETY: a slot names memory owned by the pool; its data words are written only while the
// pool's mutex is held (alloc, drop).
unsafe impl Send for Slot {}
// SAFETY: as above; `&Slot` only reads the code address.
unsafe impl Sync for Slot {}

impl Slot {
    /// A slot whose code calls `target(state, <the C arguments>)`; `None` when executable
    /// memory cannot be had (the caller then uses libffi).
    pub fn alloc(target: usize, state: *const c_void) -> Option<Slot> {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.free.is_empty() {
            if pool.refused {
                return None;
            }
            match new_page() {
                Some(page) => {
                    let n = pool.pages.len();
                    let per_page = page_size() / SLOT_CODE;
                    pool.pages.push(page);
                    pool.free.extend((0..per_page).rev().map(|i| (n, i)));
                }
                None => {
                    pool.refused = true;
                    return None;
                }
            }
        }
        let (page, index) = pool.free.pop()?;
        let p = &pool.pages[page];
        // SAFETY: `index` is below the slots per page, so its code lies in the code page and
        // its two data words in the data page; the slot is free (nobody else writes them).
        let (code, data) = unsafe { (p.code.add(index * SLOT_CODE), p.data.add(index * SLOT_DATA / 8)) };
        // SAFETY: as above. The target is written after the state, so that a stale call
        // racing with reuse never pairs the new target with an old state (both are words).
        unsafe {
            data.write_volatile(state as usize);
            data.add(1).write_volatile(target);
        }
        Some(Slot { page, index, code: code as *const c_void, data })
    }

    /// The C function pointer.
    pub fn code_ptr(&self) -> *const c_void {
        self.code
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: this slot's data words (see `alloc`); after this no call reaches the old
        // state: a late caller lands in `entry_freed`.
        unsafe {
            self.data.add(1).write_volatile(entry_freed as *const () as usize);
            self.data.write_volatile(0);
        }
        pool.free.push((self.page, self.index));
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}

/// Maps a code page and a data page, writes every slot's code, and makes the code page
/// read+execute; `None` if the system refuses (the mapping is then released).
fn new_page() -> Option<Page> {
    let size = page_size();
    // SAFETY: an anonymous private mapping of two pages; the result is checked.
    let base = unsafe {
        libc::mmap(std::ptr::null_mut(), 2 * size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
    };
    if base == libc::MAP_FAILED {
        return None;
    }
    let code = base as *mut u8;
    // SAFETY: the data page is the second page of the mapping.
    let data = unsafe { code.add(size) } as *mut usize;
    for i in 0..size / SLOT_CODE {
        let bytes = slot_code(i, size);
        // SAFETY: slot `i`'s code lies inside the first (writable) page, its two data words
        // inside the second (16 bytes per slot, half a page in all). It starts out freed.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), code.add(i * SLOT_CODE), SLOT_CODE);
            data.add(i * SLOT_DATA / 8).write(0);
            data.add(i * SLOT_DATA / 8 + 1).write(entry_freed as *const () as usize);
        }
    }
    // SAFETY: the first page of our own mapping; from now on it is never written again.
    if unsafe { libc::mprotect(base, size, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
        // SAFETY: our mapping, not used by anything yet.
        unsafe { libc::munmap(base, 2 * size) };
        return None;
    }
    Some(Page { code, data })
}

/// The target of a slot given back: the C caller gets zero.
extern "C" fn entry_freed() -> u64 {
    0
}

/// What the direct entries need of a closure's state (implemented by `closure::State`).
pub trait DirectTarget {
    /// Runs the call: `result` is zeroed storage of at least 8 bytes, `args` as the
    /// handler expects them; widens a small integer result in place afterwards. Must not
    /// unwind.
    ///
    /// # Safety
    /// As `ClosureHandler::invoke`.
    unsafe fn call_direct(&self, result: *mut u8, args: &[*const u8]);
    /// Where the arguments arrive.
    fn shape(&self) -> &Shape;
}

/// Target for interfaces without arguments and with a `void` or integer-class result.
///
/// # Safety
/// Called only through a slot whose state word is a live `T`.
pub unsafe extern "C" fn entry_no_args<T: DirectTarget>(state: *const c_void) -> u64 {
    let mut result = 0u64;
    // SAFETY: the slot's state word is the live state (contract); no arguments.
    unsafe { (*(state as *const T)).call_direct((&raw mut result).cast(), &[]) };
    result
}

/// Target for interfaces with arguments and a `void` or integer-class result.
///
/// # Safety
/// Called only through a slot whose state word is a live `T`, by C code passing the
/// arguments of the state's shape (the other registers hold whatever they hold and are not
/// read through the argument array).
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn entry_int<T: DirectTarget>(
    state: *const c_void,
    i0: u64,
    i1: u64,
    i2: u64,
    i3: u64,
    i4: u64,
    f0: f64,
    f1: f64,
    f2: f64,
    f3: f64,
    f4: f64,
    f5: f64,
    f6: f64,
    f7: f64,
) -> u64 {
    let ints = [i0, i1, i2, i3, i4];
    let floats = [f0, f1, f2, f3, f4, f5, f6, f7];
    let mut result = 0u64;
    // SAFETY: forwarded (contract); the argument array points into this frame's copies.
    unsafe { call_with_registers::<T>(state, &ints, &floats, (&raw mut result).cast()) };
    result
}

/// Target for interfaces with a `float` or `double` result: [`entry_int`]'s result bits in
/// `xmm0` (a `float` is their low half).
///
/// # Safety
/// As [`entry_int`].
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn entry_float<T: DirectTarget>(
    state: *const c_void,
    i0: u64,
    i1: u64,
    i2: u64,
    i3: u64,
    i4: u64,
    f0: f64,
    f1: f64,
    f2: f64,
    f3: f64,
    f4: f64,
    f5: f64,
    f6: f64,
    f7: f64,
) -> f64 {
    // SAFETY: forwarded (contract).
    f64::from_bits(unsafe { entry_int::<T>(state, i0, i1, i2, i3, i4, f0, f1, f2, f3, f4, f5, f6, f7) })
}

/// Points the argument array at the register copies the shape names, then runs the call.
///
/// # Safety
/// As [`entry_int`]; `result` has 8 zeroed bytes.
#[inline(always)]
unsafe fn call_with_registers<T: DirectTarget>(state: *const c_void, ints: &[u64; MAX_INT_ARGS], floats: &[f64; MAX_FLOAT_ARGS], result: *mut u8) {
    // SAFETY: the state is live (contract).
    let target = unsafe { &*(state as *const T) };
    let shape = target.shape();
    let mut args = [std::ptr::null::<u8>(); MAX_INT_ARGS + MAX_FLOAT_ARGS];
    for (arg, &slot) in args.iter_mut().zip(&shape.args[..shape.nargs]) {
        let i = (slot & !FLOAT_ARG) as usize;
        // SAFETY: `Shape::of` gives integer indices below MAX_INT_ARGS and floating ones
        // below MAX_FLOAT_ARGS.
        *arg = unsafe {
            if slot & FLOAT_ARG != 0 {
                (floats.get_unchecked(i) as *const f64).cast()
            } else {
                (ints.get_unchecked(i) as *const u64).cast()
            }
        };
    }
    // SAFETY: forwarded; each argument pointer addresses an 8-byte register copy holding
    // the argument in its low bytes (little-endian), as the handler reads it.
    unsafe { target.call_direct(result, &args[..shape.nargs]) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_take_registers_in_order_and_refuse_what_does_not_fit() {
        use Class::*;
        let s = Shape::of([Int, Float, Int, Float, Float]).unwrap();
        assert_eq!(s.nargs, 5);
        assert_eq!(&s.args[..5], &[0, FLOAT_ARG, 1, FLOAT_ARG | 1, FLOAT_ARG | 2]);
        assert_eq!(Shape::of([]).unwrap().nargs, 0);
        assert!(Shape::of([Int; 5]).is_some());
        assert!(Shape::of([Int; 6]).is_none());
        assert!(Shape::of([Float; 8].into_iter().chain([Int; 5])).is_some());
        assert!(Shape::of([Float; 9]).is_none());
        assert!(Shape::of([Int, Other]).is_none());
    }

    #[test]
    fn slot_code_addresses_its_own_data_words() {
        let page = 4096;
        for i in [0, 1, 77, page / SLOT_CODE - 1] {
            let code = slot_code(i, page);
            assert_eq!(&code[..4], &[0xf3, 0x0f, 0x1e, 0xfa]);
            let load = i32::from_le_bytes(code[22..26].try_into().unwrap()) as i64;
            let jump = i32::from_le_bytes(code[28..32].try_into().unwrap()) as i64;
            let code_at = (i * SLOT_CODE) as i64;
            assert_eq!(code_at + 26 + load, (page + i * SLOT_DATA) as i64);
            assert_eq!(code_at + 32 + jump, (page + i * SLOT_DATA + 8) as i64);
        }
    }
}

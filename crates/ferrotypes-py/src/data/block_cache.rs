//! The memory blocks of instances too big for their inline 16 bytes, up to [`MAX_CACHED`]
//! bytes: a few freed blocks of each size are kept for the next instance of that size.
//!
//! `(c_int * 16)()` and its kind (arrays and structures of a few dozen bytes, made and
//! dropped in loops) spent about 80 of their 990 instructions in `PyMem_Malloc` and
//! `PyMem_Free` for the block alone, on top of the object's own allocation. A shelf per size
//! class, the way CPython keeps its own free lists for floats and tuples, hands a block back
//! in a handful of instructions. Blocks are `PyMem` blocks throughout (so `PyMem_Realloc`
//! and `PyMem_Free` accept them), and a shelf holds at most [`DEPTH`] of them, so the cache
//! never holds more than `DEPTH * (16 + 32 + ... + 256)` bytes (17 KiB).
//!
//! The invariant that makes reuse safe: an owned block of an instance whose size is at most
//! [`MAX_CACHED`] bytes has room for its size rounded up to 16 bytes (a granule of
//! `block_class`). Every block of that size is allocated or reallocated here with the
//! rounded size, and an instance only shrinks in place (`resize` to a smaller size), which
//! keeps the room it had. So the instance's recorded size names a class whose blocks its
//! block can stand in for.
//!
//! All access is with the GIL held (blocks are made and freed by Python-facing code), as
//! for every `GilCell`. Once its `atexit` hook has run ([`close_block_cache`]), the shelves
//! are empty and freed blocks go straight back to `PyMem_Free`.
use crate::interp::GilCell;
use ferrotypes_core::memory::block_class::{class_of, room_for, CLASSES, MAX_CACHED};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyModule;

/// Blocks kept per class.
pub const DEPTH: usize = 8;

struct Shelves {
    /// Per class (`size` rounded up to granules, minus one): how many blocks it holds.
    len: [u8; CLASSES],
    blocks: [[*mut u8; DEPTH]; CLASSES],
    /// Set by [`close_block_cache`]: nothing is kept any more.
    closed: bool,
}

static SHELVES: GilCell<Shelves> = GilCell::new(Shelves {
    len: [0; CLASSES],
    blocks: [[std::ptr::null_mut(); DEPTH]; CLASSES],
    closed: false,
});

/// A block with room for `size` bytes (1..=MAX_CACHED), its first `size` bytes zeroed; NULL
/// when memory runs out (no exception set).
///
/// # Safety
/// The GIL is held; `1 <= size <= MAX_CACHED`.
#[inline(always)]
pub unsafe fn alloc_zeroed_small(size: usize) -> *mut u8 {
    let (class, room) = class_of(size);
    // SAFETY: GIL-serialised access to the shelves (contract); `class < CLASSES` because
    // `size <= MAX_CACHED`; no reference escapes this block.
    let p = unsafe {
        let shelves = &mut *SHELVES.as_ptr();
        let len = shelves.len.get_unchecked_mut(class);
        if *len > 0 {
            *len -= 1;
            *shelves.blocks.get_unchecked(class).get_unchecked(*len as usize)
        } else {
            ffi::PyMem_Malloc(room) as *mut u8
        }
    };
    if !p.is_null() {
        // SAFETY: `p` has room for at least `room >= size` bytes and is owned by nobody else.
        unsafe { std::ptr::write_bytes(p, 0, size) };
    }
    p
}

/// Takes back the owned block `p` of an instance whose recorded size is `size`: kept on its
/// class's shelf if there is room there, else given to `PyMem_Free`.
///
/// # Safety
/// The GIL is held; `p` is an instance's owned block (from this module, `PyMem_Malloc`,
/// `PyMem_Calloc` or [`realloc`]) that the instance gives up; `size` is its recorded size,
/// for which the block has room as this module's invariant says.
#[inline(always)]
pub unsafe fn free(p: *mut u8, size: usize) {
    if size != 0 && size <= MAX_CACHED {
        let (class, _) = class_of(size);
        // SAFETY: GIL-serialised access (contract); `class < CLASSES`.
        unsafe {
            let shelves = &mut *SHELVES.as_ptr();
            let len = shelves.len.get_unchecked_mut(class);
            if (*len as usize) < DEPTH && !shelves.closed {
                *shelves.blocks.get_unchecked_mut(class).get_unchecked_mut(*len as usize) = p;
                *len += 1;
                return;
            }
        }
    }
    // SAFETY: a PyMem block nobody else owns (contract), freed once.
    unsafe { ffi::PyMem_Free(p.cast()) };
}

/// `PyMem_Realloc` to room for `size` bytes (rounded as [`room_for`] says, so that the
/// block keeps the invariant); NULL when memory runs out, `p` then still valid.
///
/// # Safety
/// The GIL is held; `p` is an owned PyMem block.
pub unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: forwarded from the contract.
    unsafe { ffi::PyMem_Realloc(p.cast(), room_for(size)) as *mut u8 }
}

/// Empties the shelves and stops keeping blocks (the `atexit` hook: instances freed during
/// finalization give their blocks straight back).
#[pyfunction]
fn close_block_cache(_py: Python<'_>) {
    // SAFETY: the GIL is held (a Python function); each kept block is owned by the shelf
    // alone and freed once, its slot forgotten.
    unsafe {
        let shelves = &mut *SHELVES.as_ptr();
        shelves.closed = true;
        for class in 0..CLASSES {
            for slot in 0..shelves.len[class] as usize {
                ffi::PyMem_Free(shelves.blocks[class][slot].cast());
            }
            shelves.len[class] = 0;
        }
    }
}

/// Registers [`close_block_cache`] with `atexit` (module set-up).
pub fn register_exit_hook(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let hook = wrap_pyfunction!(close_block_cache, module)?;
    module.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}

/// How many blocks each class's shelf holds, smallest class first, and whether the cache
/// still keeps blocks (`_rs.block_cache_state()`, for the tests).
#[pyfunction]
pub fn block_cache_state(_py: Python<'_>) -> (Vec<u8>, bool) {
    // SAFETY: the GIL is held (a Python function); a plain read.
    let shelves = unsafe { &*SHELVES.as_ptr() };
    (shelves.len.to_vec(), !shelves.closed)
}

//! Raw memory helpers shared by the buffers Python sees.
use std::ffi::c_void;

/// Length of a NUL-terminated `char` string.
///
/// # Safety
/// `p` must point to a readable NUL-terminated string.
pub unsafe fn strlen(p: *const u8) -> usize {
    // SAFETY: guaranteed by the caller.
    unsafe { libc::strlen(p.cast()) }
}

/// Length in code units of a NUL-terminated `wchar_t` string.
///
/// # Safety
/// `p` must point to a readable NUL-terminated wide string.
pub unsafe fn wcslen(p: *const libc::wchar_t) -> usize {
    // SAFETY: guaranteed by the caller.
    unsafe { libc::wcslen(p) }
}

/// Address of libc's `memmove`, as `_ctypes._memmove_addr` exposes it.
pub fn memmove_addr() -> usize {
    libc::memmove as *const c_void as usize
}

/// Address of libc's `memset`, as `_ctypes._memset_addr` exposes it.
pub fn memset_addr() -> usize {
    libc::memset as *const c_void as usize
}

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

/// The size classes of the block cache of instances' owned memory (`data::block_cache` in
/// the extension): sizes up to [`MAX_CACHED`] bytes are rounded up to [`GRANULE`] bytes, one
/// class per granule, so that a freed block can stand in for any size of its class.
pub mod block_class {
    /// Sizes are rounded up to a multiple of this.
    pub const GRANULE: usize = 16;
    /// The largest size with a class.
    pub const MAX_CACHED: usize = 256;
    /// How many classes there are.
    pub const CLASSES: usize = MAX_CACHED / GRANULE;

    /// The class of a block of `size` bytes (`1..=MAX_CACHED`), and the room its blocks have.
    #[inline(always)]
    pub const fn class_of(size: usize) -> (usize, usize) {
        let class = (size - 1) / GRANULE;
        (class, (class + 1) * GRANULE)
    }

    /// The room a block for `size` bytes gets: its class's for sizes with a class, at least
    /// one byte, `size` itself above [`MAX_CACHED`].
    #[inline(always)]
    pub const fn room_for(size: usize) -> usize {
        if size == 0 {
            1
        } else if size <= MAX_CACHED {
            class_of(size).1
        } else {
            size
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn every_size_has_the_smallest_room_that_fits() {
            for size in 1..=MAX_CACHED {
                let (class, room) = class_of(size);
                assert!(class < CLASSES);
                assert!(room >= size && room - size < GRANULE, "size {size}: room {room}");
                assert_eq!(room, room_for(size));
                // Every size of a class fits every block of it.
                assert_eq!(class_of(room), (class, room));
            }
            assert_eq!(class_of(16), (0, 16));
            assert_eq!(class_of(17), (1, 32));
            assert_eq!(class_of(64), (3, 64));
            assert_eq!(class_of(MAX_CACHED), (CLASSES - 1, MAX_CACHED));
            assert_eq!(room_for(MAX_CACHED + 1), MAX_CACHED + 1);
            assert_eq!(room_for(0), 1);
        }
    }
}

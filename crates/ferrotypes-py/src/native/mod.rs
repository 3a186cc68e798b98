//! The C side of the boundary, as Python sees it: shared libraries (`dlopen`, symbol
//! lookup through a library's `_handle`), ctypes' private `errno` swapped around foreign
//! calls and callbacks, and `ferrotypes_core` errors turned into Python exceptions.
//!
//! May use: `interp`, PyO3, `ferrotypes_core`.
pub mod core_error;
pub mod errno;
pub mod libraries;

//! C data (CPython's `_ctypes.c`, `cfield.c`, `stgdict.c`): what ctypes types and
//! instances are, without calling anything.
//!
//! Owns: the `_CData` base and instance memory (`cdata.rs`), per-type storage info and
//! the function-type flags (`stginfo.rs`), the six root classes and instance creation
//! (`roots.rs`, `construct.rs`, `direct_alloc.rs`), simple types and scalar conversion
//! (`simple.rs`), pointers, arrays, structures/unions and their fields (`pointer.rs`,
//! `array.rs`, `structure.rs`, `cfield.rs`), `CArgObject`/`byref` (`carg.rs`), the
//! type-side `from_param` protocol and the converters `argtypes` resolve to
//! (`from_param.rs`), instances over existing memory (`from_memory.rs`) and their class
//! methods bound once per class (`class_methods.rs`), the C entry
//! points `string_at`/`wstring_at`/`cast` (`c_entry_points.rs`), and `__module__` of types
//! made on the fly (`caller_module.rs`).
//!
//! May use: `checked`, `native`, `interp`. Never `callbacks` or `calls`: a function
//! pointer type's storage info lives here, but the `CFuncPtr` class and its calls live
//! in `calls`.
pub mod array;
pub mod block_cache;
pub mod c_entry_points;
pub mod caller_module;
pub mod carg;
pub mod class_methods;
pub mod cdata;
pub mod cfield;
pub mod construct;
pub mod direct_alloc;
pub mod from_memory;
pub mod from_param;
pub mod pointer;
pub mod raw_subscript;
pub mod roots;
pub mod simple;
pub mod stginfo;
pub mod structure;

//! The interpreter seam: how this crate meets CPython below PyO3's safe API.
//!
//! Owns: shutdown with foreign threads running (`finalization.rs`), the private CPython
//! functions (`private_api.rs`, the only file in the crate that
//! declares `extern "C"` interpreter functions; a port to a newer CPython starts there), the
//! GIL-serialised cell of pyclass fields, the vectorcall argument array, recursion
//! accounting, how messages name objects, the raw object API `_ctypes` exports, and the
//! running interpreter's version (`version.rs`) for behaviour that differs between versions,
//! the PEP 578 audit events of `_ctypes` (`audit.rs`, every `ctypes.*` event is raised there),
//! and a cache keyed by types' version tags (`type_cache.rs`).
//!
//! May use: PyO3 and `ferrotypes_core` only (the lowest room; every other room may use it).
pub mod audit;
pub mod descriptors;
pub mod finalization;
pub mod gil_cell;
pub mod long_layout;
pub mod names;
pub mod object_api;
pub mod private_api;
pub mod recursion;
pub mod thread_state;
pub mod type_cache;
pub mod vectorcall;
pub mod version;

pub use gil_cell::GilCell;

//! ferrotypes-core: the C side of ferrotypes, with no Python interpreter in it.
//!
//! The pipeline a foreign call goes through, and the module that owns each step:
//! 1. `simple`   — the one table of C scalar kinds (type code, size, alignment, libffi type).
//! 2. `layout`   — sizes, alignments and offsets of structures and unions, bit fields included.
//! 3. `ffi_type` — owned libffi type trees for aggregates.
//! 4. `loader`   — shared libraries and symbols.
//! 5. `call`     — prepared call interfaces and the call itself; `direct` is the fast lane
//!    for scalar signatures on x86-64 System V.
//! 6. `closure`  — C-callable trampolines that call back into the host language.
//! 7. `memory`   — raw memory helpers shared by the buffers Python sees.
//! 8. `guard`    — checked mode: memory probes and recovery from faults in foreign calls.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod call;
pub mod closure;
pub mod direct;
#[cfg(all(target_arch = "x86_64", unix))]
pub mod direct_closure;
pub mod error;
pub mod ffi_type;
pub mod guard;
pub mod layout;
pub mod loader;
pub mod memory;
pub mod simple;
pub mod thread_words;

pub use error::CoreError;

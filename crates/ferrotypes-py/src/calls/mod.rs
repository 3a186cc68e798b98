//! Foreign calls (CPython's `callproc.c`): function pointer objects (`CFuncPtr`) and the
//! path of one call — argument conversion (`convert.rs`; `ArgumentError`), the general
//! libffi call (`funcptr.rs`), the scalar fast lane (`fastcall.rs`), the variadic marker
//! and C's default promotions (`variadic.rs`), and parameter flags (`paramflags.rs`).
//!
//! May use: `callbacks` (a prototype instantiated with a Python callable builds its thunk
//! there), `data`, `checked`, `native`, `interp`. The highest room below the module table.
pub mod convert;
pub mod fastcall;
pub mod funcptr;
pub mod paramflags;
pub mod variadic;

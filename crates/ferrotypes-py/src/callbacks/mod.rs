//! Callbacks: C calling into Python through libffi closures (CPython's `callbacks.c`).
//!
//! How a callback is made and run:
//! 1. Instantiating a prototype with a Python callable (`CFUNCTYPE(c_int, c_int)(func)`)
//!    calls [`thunk::make_thunk`]: the result type must be a simple type or None, each argument type
//!    is turned into a decoder once, and a libffi closure is prepared for the signature.
//! 2. The `CThunkObject` owning the closure goes into the function object's `_objects`
//!    (as in CPython), so the code pointer lives as long as anything refers to it.
//! 3. When C calls the code pointer, the core trampoline (never unwinding) calls
//!    [`thunk::PyCallback`]'s `invoke`: it attaches the thread to the interpreter (a foreign thread
//!    keeps one thread state for its whole life, see `foreign_threads.rs`), decodes each C
//!    argument, swaps `errno` if asked, calls the callable, and stores the result with the
//!    result type's setter. Exceptions go to `sys.unraisablehook`; the result stays zeroed.
//!
//! May use: `data`, `checked`, `native`, `interp` (never `calls`: function pointers build
//! their thunks here, so the flags a callback reads live with the function type's
//! storage info, in `data::stginfo`).
pub mod foreign_threads;
pub mod thunk;

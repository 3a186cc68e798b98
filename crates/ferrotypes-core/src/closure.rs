//! libffi closures: C-callable trampolines (filled in with callbacks).

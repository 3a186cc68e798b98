/* Per-thread words that a hot path reads on every call, in the initial-exec TLS model.
 *
 * Rust's thread-locals in a shared library use the general-dynamic model: every access
 * calls __tls_get_addr (about 15 instructions with the call). A C thread-local can ask for
 * initial-exec, where an access is one load relative to %fs, at the price of a few bytes of
 * the static TLS surplus that glibc keeps for libraries loaded with dlopen (guard_shim.c
 * already takes two words of it). Only the address is handed out: the caller keeps it for
 * as long as it needs the word on this thread. */
#include <stddef.h>

static __thread size_t callback_depth __attribute__((tls_model("initial-exec")));

/* This thread's count of callbacks it is inside (see ferrotypes' interp/finalization.rs). */
size_t *ferro_callback_depth(void) {
    return &callback_depth;
}

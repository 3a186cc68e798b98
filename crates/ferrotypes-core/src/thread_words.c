/* Per-thread words that a hot path reads on every call, in the initial-exec TLS model.
 *
 * Rust's thread-locals in a shared library use the general-dynamic model: every access
 * calls __tls_get_addr (about 15 instructions with the call). A C thread-local can ask for
 * initial-exec, where an access is one load relative to %fs, at the price of a few bytes of
 * the static TLS surplus that glibc keeps for libraries loaded with dlopen (guard_shim.c
 * already takes two words of it). Only the address is used, by the function below or, on
 * x86-64 Linux, computed inline by thread_words.rs: the caller keeps it for as long as it
 * needs the words on this thread. The layout is mirrored by `ThreadWords` in
 * thread_words.rs. */
#include <stddef.h>

struct ferro_thread_words {
    /* The callbacks this thread is inside (ferrotypes' interp/finalization.rs). */
    size_t callback_depth;
    /* The thread state this thread gave up for a foreign call it is inside, while it does
     * not hold the GIL; NULL otherwise (ferrotypes' interp/thread_state.rs). */
    void *released_state;
};

/* Hidden, not static: on x86-64 Linux thread_words.rs reads the address itself (the
 * variable's offset from the thread pointer, through the GOT entry the initial-exec model
 * gives it), which saves the call to the function below on every hot-path use. */
__attribute__((visibility("hidden"))) __thread struct ferro_thread_words ferro_thread_words_tls
    __attribute__((tls_model("initial-exec")));

struct ferro_thread_words *ferro_thread_words(void) {
    return &ferro_thread_words_tls;
}

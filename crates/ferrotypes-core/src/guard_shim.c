/* The part of checked mode's fault recovery that Rust cannot express: sigsetjmp/siglongjmp.
 *
 * ferro_guarded_call(body, ctx, out) runs body(ctx) with this thread's "current guard" set.
 * If a SIGSEGV/SIGBUS raised by the hardware arrives while that guard is set, the handler
 * records the fault (address, signal, read/write) and siglongjmps back into
 * ferro_guarded_call, which returns 1. Every other fault (no guard on the thread, or a signal
 * sent with kill()) is passed to the handler that was installed before ours, or gets the
 * default action, exactly as if we were not there.
 *
 * Thread state lives in two initial-exec TLS words (no lazy TLS allocation inside a signal
 * handler); each thread gets its own alternate signal stack on its first guarded call, so a
 * stack overflow inside the foreign function is recoverable too. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

struct ferro_fault {
    uintptr_t addr;
    int signo;
    int access; /* 0 read, 1 write, -1 unknown */
    int code;
};

struct ferro_guard {
    sigjmp_buf env;
    struct ferro_fault fault;
};

#define TLS __thread __attribute__((tls_model("initial-exec")))

static TLS struct ferro_guard *current_guard;
static TLS void *own_altstack;

/* The handler that was installed before ours, per signal. A re-install (someone replaced
 * our handler) writes the other slot of the pair and then publishes it with one atomic
 * store, so a fault being chained on another thread never reads a half-written struct. */
static struct sigaction previous_slots[2][2];
static struct sigaction *_Atomic previous_segv, *_Atomic previous_bus;
/* Installs are serialized: two threads installing at once must not record our own handler
 * as the "previous" one (chain() would then call itself until the stack runs out). */
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t altstack_key;
static pthread_once_t altstack_key_once = PTHREAD_ONCE_INIT;

#define ALTSTACK_SIZE (64 * 1024)

static void chain(int sig, siginfo_t *si, void *uc) {
    struct sigaction *p = atomic_load(sig == SIGBUS ? &previous_bus : &previous_segv);
    /* p is published before our handler is installed, so it is never NULL here. */
    if (p != NULL && (p->sa_flags & SA_SIGINFO)) {
        if (p->sa_sigaction != NULL) {
            p->sa_sigaction(sig, si, uc);
            return;
        }
    } else if (p != NULL && p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN) {
        p->sa_handler(sig);
        return;
    }
    /* Default action (an ignored fault would loop forever, so it is treated as default). A
     * hardware fault recurs when the handler returns and then kills the process with the
     * right signal; a signal sent by kill() is re-raised (pending until we return). */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, NULL);
    if (si == NULL || si->si_code <= 0) {
        raise(sig);
    }
}

static void fault_handler(int sig, siginfo_t *si, void *uc) {
    struct ferro_guard *g = current_guard;
    if (g != NULL && si != NULL && si->si_code > 0) {
        current_guard = NULL;
        g->fault.addr = (uintptr_t)si->si_addr;
        g->fault.signo = sig;
        g->fault.code = si->si_code;
        g->fault.access = -1;
#if defined(__x86_64__)
        if (uc != NULL) {
            /* Page-fault error code: bit 1 set for a write access. */
            g->fault.access = (((ucontext_t *)uc)->uc_mcontext.gregs[REG_ERR] & 2) ? 1 : 0;
        }
#endif
        siglongjmp(g->env, 1);
    }
    chain(sig, si, uc);
}

static int is_ours(const struct sigaction *sa) {
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == fault_handler;
}

/* Called with install_lock held. */
static int install_one(int sig, struct sigaction slots[2], struct sigaction *_Atomic *previous) {
    struct sigaction now;
    if (sigaction(sig, NULL, &now) != 0) {
        return -1;
    }
    if (is_ours(&now)) {
        return 0; /* already ours: keep the recorded previous handler */
    }
    /* Publish the handler we are about to replace before ours can run and chain to it. */
    struct sigaction *spare = atomic_load(previous) == &slots[0] ? &slots[1] : &slots[0];
    *spare = now;
    atomic_store(previous, spare);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

/* Installs (or re-installs, if someone replaced it) the SIGSEGV and SIGBUS handlers.
 * Safe to call from several threads at once. Returns 0 or -1 with errno set. */
int ferro_guard_install(void) {
    pthread_mutex_lock(&install_lock);
    int rc = install_one(SIGSEGV, previous_slots[0], &previous_segv);
    if (rc == 0) {
        rc = install_one(SIGBUS, previous_slots[1], &previous_bus);
    }
    int saved = errno;
    pthread_mutex_unlock(&install_lock);
    errno = saved;
    return rc;
}

static void free_altstack(void *stack) {
    stack_t ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    munmap(stack, ALTSTACK_SIZE);
}

static void make_altstack_key(void) {
    pthread_key_create(&altstack_key, free_altstack);
}

/* Gives this thread an alternate signal stack unless it already has one (faulthandler's). */
static void ensure_altstack(void) {
    stack_t old;
    if (own_altstack != NULL || sigaltstack(NULL, &old) != 0) {
        return;
    }
    if (!(old.ss_flags & SS_DISABLE)) {
        own_altstack = (void *)1; /* someone else's: leave it, do not check again */
        return;
    }
    void *stack = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) {
        return;
    }
    stack_t ss;
    ss.ss_sp = stack;
    ss.ss_size = ALTSTACK_SIZE;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(stack, ALTSTACK_SIZE);
        return;
    }
    own_altstack = stack;
    pthread_once(&altstack_key_once, make_altstack_key);
    pthread_setspecific(altstack_key, stack); /* freed at thread exit */
}

/* Runs body(ctx). Returns 0, or 1 after a hardware fault inside it (described in *out). */
int ferro_guarded_call(void (*body)(void *), void *ctx, struct ferro_fault *out) {
    struct ferro_guard guard;
    struct ferro_guard *volatile outer = current_guard;
    if (own_altstack == NULL) {
        ensure_altstack();
    }
    /* savesigs = 0: no sigprocmask system call on the fast path; the fault path unblocks
     * the signal itself below. */
    if (sigsetjmp(guard.env, 0) != 0) {
        current_guard = outer;
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, guard.fault.signo);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        *out = guard.fault;
        return 1;
    }
    current_guard = &guard;
    body(ctx);
    current_guard = outer;
    return 0;
}

/* A callback into Python runs with no guard: a fault in the interpreter is not the foreign
 * function's. Returns the guard to restore with ferro_guard_resume. */
void *ferro_guard_suspend(void) {
    struct ferro_guard *g = current_guard;
    current_guard = NULL;
    return g;
}

void ferro_guard_resume(void *g) {
    current_guard = (struct ferro_guard *)g;
}

/* Whether the handler recorded as "previous" for SIGSEGV or SIGBUS is our own (chain()
 * would then recurse). Never true since installs are serialized; tests assert it. */
int ferro_guard_chains_to_self(void) {
    struct sigaction *segv = atomic_load(&previous_segv), *bus = atomic_load(&previous_bus);
    return (segv != NULL && is_ours(segv)) || (bus != NULL && is_ours(bus));
}

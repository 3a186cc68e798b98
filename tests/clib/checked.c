/* Test library for tests/test_checked.py: functions that crash the way section 58.30's
 * examples do, a stored callback called later, a counting free and errno reporters. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int exported_value = 7;

int read_int(const int *p) { return *p; }            /* NULL -> read fault */
void write_int(int *p, int v) { *p = v; }             /* NULL -> write fault */

int recurse_forever(int n) {                          /* stack overflow */
    volatile char pad[512];
    pad[0] = (char)n;
    return recurse_forever(n + 1) + pad[0];
}

static int (*stored)(int);
void store_callback(int (*f)(int)) { stored = f; }
int call_stored(int x) { return stored ? stored(x) : -1; }

static int frees;
void *make_buffer(size_t n) { return calloc(1, n); }
void counting_free(void *p) { if (p) { frees++; free(p); } }
int free_count(void) { return frees; }

void *static_buffer(void) {                           /* a pointer that does not fit an int */
    static char buf[16] = "pointer";
    return buf;
}
int small_int(void) { return -5; }
long long identity_ll(long long v) { return v; }
double half(double x) { return x / 2; }

void *null_with_errno(int e) { errno = e; return NULL; }
int fail_with_errno(int e) { errno = e; return -1; }
int return_code(int rc) { errno = 0; return rc; }

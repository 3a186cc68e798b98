/* Structures by value for tests/test_byvalue_lane.py: one function per x86-64 System V
 * classification the fast lane handles (INTEGER, SSE, mixed eightbytes, float pairs,
 * MEMORY), as arguments and as results, with scalars around them. */
#include <stdint.h>

typedef struct { int a; double b; int c; } S3;            /* 24 bytes: MEMORY */
typedef struct { int x, y; } I2;                          /* INTEGER */
typedef struct { float x, y; } F2;                        /* SSE (a float pair) */
typedef struct { double d; int64_t n; } DN;               /* SSE, INTEGER */
typedef struct { int n; float f; double d; } IFD;         /* INTEGER (merged), SSE */
typedef struct { double x, y; } D2;                       /* SSE, SSE */
typedef struct { char c[3]; } C3;                         /* INTEGER, 3 bytes */
typedef struct { int64_t v[5]; } Big;                     /* MEMORY */
typedef union { int64_t i; double d; } UID;               /* INTEGER */
typedef struct __attribute__((aligned(16))) { int64_t a, b, c; } A16; /* MEMORY, 16-aligned */

double sum_s3(S3 s) { return s.a + s.b + s.c; }
double mix(int k, S3 s, double f, I2 p, F2 q, S3 t) {
    return k + (s.a + s.b + s.c) * 10 + f * 100 + (p.x - p.y) * 1000 + (q.x * q.y) * 10000
        + (t.a + t.b + t.c) * 100000;
}
int64_t dn_parts(DN v, int k) { return (int64_t)(v.d * 10) + v.n * k; }
double ifd_sum(IFD v) { return v.n + v.f + v.d; }
D2 d2_swap(D2 v) { D2 r = { v.y, v.x }; return r; }
F2 f2_scale(F2 v, float k) { F2 r = { v.x * k, v.y * k }; return r; }
I2 i2_make(int x, int y) { I2 r = { x, y }; return r; }
DN dn_make(double d, int64_t n) { DN r = { d, n }; return r; }
IFD ifd_make(int n, float f, double d) { IFD r = { n, f, d }; return r; }
S3 s3_next(S3 s) { S3 r = { s.a + 1, s.b * 2, s.c + 3 }; return r; }
Big big_make(int64_t seed, S3 s) { Big r = { { seed, s.a, (int64_t)s.b, s.c, -seed } }; return r; }
int c3_sum(C3 v) { return v.c[0] + v.c[1] + v.c[2]; }
double uid_bits(UID u) { return (double)(u.i & 0xffff); }
int64_t a16_sum(int k, A16 v, int64_t j) { return k + v.a + v.b * 10 + v.c * 100 + j * 1000; }
double eight_doubles_then_d2(double a, double b, double c, double d, double e, double f, double g, D2 v) {
    /* v does not fit the one SSE register left: the psABI passes it on the stack. */
    return a + b + c + d + e + f + g + v.x * 100 + v.y * 1000;
}

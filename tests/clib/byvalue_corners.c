/* The by-value corners of x86-64 (crates/ferrotypes-core/src/ffi_type.rs) for
 * tests/test_byvalue_corners.py: each function takes an aggregate by value and returns
 * one, and each caller gets one back from a callback, so that every value crosses the
 * boundary both ways as GCC passes it. */
#include <stdint.h>

#pragma pack(push, 1)
/* A 32-bit bit field at offset 1: a bit field GCC leaves as one (not at a multiple of 32). */
typedef struct { char c; uint32_t x : 32; } P1;
/* A whole-mode bit field (32 bits at bit 0) becomes an ordinary uint32_t member; inside
 * pack(1) at offset 1 it is misaligned, so GCC passes Outer in memory. */
typedef struct { uint32_t x : 32; } Whole;
typedef struct { char c; Whole w; char d; } Outer;
/* An array of packed elements: GCC checks the first element's scalars only. */
typedef struct { int16_t s; char c; } E3;
typedef struct { E3 e[2]; } Arr;
#pragma pack(pop)

/* One long double, alone, in an array of one, in a union of long doubles: returned in
 * %st0 by GCC, passed on the stack. */
typedef struct { long double x; } LD;
typedef struct { long double a[1]; } LDA;
typedef union { long double a; long double b; } LDU;

/* Aligned to 32: fine as a result (the caller's buffer), not passable as an argument by
 * libffi. */
typedef struct __attribute__((aligned(32))) { double a, b; } A32;

P1 p1_edit(P1 p) { p.c += 1; p.x = p.x * 2 + 1; return p; }
uint64_t p1_use(P1 (*cb)(P1), uint32_t x) { P1 p = { 'a', x }; P1 r = cb(p); return (uint64_t)(unsigned char)r.c << 32 | r.x; }

Outer outer_edit(Outer o) { o.c += 1; o.w.x ^= 0xFFFF0000u; o.d -= 1; return o; }
uint64_t outer_use(Outer (*cb)(Outer)) {
    Outer o = { 10, { 0x12345678u }, 20 };
    Outer r = cb(o);
    return (uint64_t)(unsigned char)r.c << 48 | (uint64_t)(unsigned char)r.d << 40 | r.w.x;
}

Arr arr_edit(Arr a) { a.e[0].s += 1; a.e[1].s -= 1; a.e[1].c = 'z'; return a; }
int64_t arr_use(Arr (*cb)(Arr)) {
    Arr a = { { { 100, 'a' }, { 200, 'b' } } };
    Arr r = cb(a);
    return r.e[0].s * 1000000LL + r.e[1].s * 1000LL + r.e[1].c;
}

LD ld_half(LD v) { v.x /= 2; return v; }
LDA lda_neg(LDA v) { v.a[0] = -v.a[0]; return v; }
LDU ldu_twice(LDU v) { v.b *= 2; return v; }
long double ld_use(LD (*cb)(long double), long double x) { return cb(x).x + 1; }
long double ld_arg(int k, LD a, double d, LD b) { return k * a.x + d + b.x; }

A32 a32_make(double a, double b) { A32 r = { a, b }; return r; }
double a32_sum(A32 v) { return v.a + v.b; }

/* A lone long double under pack(2): still X87 (returned in %st0), but its stack slot is
 * aligned to 8, not 16: after seven longs (one on the stack) it lies at offset 8. */
#pragma pack(push, 2)
typedef struct { long double x; } LDP;
#pragma pack(pop)
LDP ldp_make(long double x) { LDP r = { x }; return r; }
long double ldp_sum(long a, long b, long c, long d, long e, long f, long g, LDP v) {
    return a + b + c + d + e + f + g + v.x;
}

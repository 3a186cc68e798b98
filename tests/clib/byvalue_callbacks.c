/* C callers of callbacks that return structures and unions by value
 * (tests/test_callback_results.py). Each caller calls the callback and folds the value it
 * got into a number the test can check exactly. */
#include <stdint.h>

typedef struct { int a; double b; } Small;                 /* two registers: INTEGER, SSE */
typedef struct { int64_t a, b, c, d; } Large;              /* in memory (hidden pointer) */
typedef struct { float x, y; } Floats;                     /* one SSE register */
typedef struct { char c; Small s; short t; } Nested;       /* in memory: 32 bytes */
typedef union { int64_t i; double d; unsigned char b[8]; } Word;
#pragma pack(push, 1)
typedef struct { char c; int32_t i; int16_t s; } Packed;   /* 7 bytes, unaligned members */
#pragma pack(pop)
typedef struct { unsigned char r, g, b; } Rgb;              /* 3 bytes */

double use_small(Small (*cb)(int), int k) { Small s = cb(k); return s.a * 1000.0 + s.b; }
int64_t use_large(Large (*cb)(int), int k) { Large l = cb(k); return l.a + 10 * l.b + 100 * l.c + 1000 * l.d; }
double use_floats(Floats (*cb)(void)) { Floats f = cb(); return f.x * 100.0 + f.y; }
double use_nested(Nested (*cb)(void)) { Nested n = cb(); return n.c * 1e6 + n.s.a * 1e3 + n.s.b + n.t * 1e-3; }
int64_t use_word(Word (*cb)(int64_t), int64_t v) { Word w = cb(v); return w.i; }
int64_t use_packed(Packed (*cb)(void)) { Packed p = cb(); return p.c * 100000000LL + p.i * 10000LL + p.s; }
int use_rgb(Rgb (*cb)(void)) { Rgb c = cb(); return (c.r << 16) | (c.g << 8) | c.b; }
int use_int(int (*cb)(int), int v) { return cb(v); }
double use_double(double (*cb)(double), double v) { return cb(v); }

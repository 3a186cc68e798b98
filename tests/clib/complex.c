/* C's _Complex types for tests/test_complex.py: arguments and results by value (in SSE
 * registers for float and double, in memory and %st0/%st1 for long double), arrays and
 * structure members in memory, and callbacks taking and returning them. */
#include <complex.h>
#include <stddef.h>

float _Complex mul_f(float _Complex a, float _Complex b) { return a * b; }
double _Complex mul_d(double _Complex a, double _Complex b) { return a * b; }
long double _Complex mul_ld(long double _Complex a, long double _Complex b) { return a * b; }

/* Mixed with other arguments: the parts must not shift registers. */
double _Complex scale_d(int k, double _Complex a, float f, double _Complex b) { return k * a + f * b; }

double _Complex sum_d(const double _Complex *v, size_t n) {
    double _Complex s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    return s;
}
void fill_f(float _Complex *v, size_t n) { for (size_t i = 0; i < n; i++) v[i] = (float)i + (float)(2 * i) * I; }

typedef struct { char tag; float _Complex f; double _Complex d; long double _Complex l; } Mixed;
typedef struct { float _Complex f; } OneF;          /* 8 bytes: one SSE register */
typedef struct { double _Complex d; } OneD;         /* 16 bytes: two SSE registers */
typedef struct { int i; float _Complex f; } IntF;   /* INTEGER + SSE */

size_t mixed_sizeof(void) { return sizeof(Mixed); }
size_t mixed_offsets(int which) {
    return which == 0 ? offsetof(Mixed, f) : which == 1 ? offsetof(Mixed, d) : offsetof(Mixed, l);
}
Mixed mixed_make(char tag) {
    Mixed m = { tag, 1.5f - 2.0f * I, -3.25 + 4.5 * I, 5.0L + 6.0L * I };
    return m;
}
double mixed_check(Mixed m) {
    return m.tag + crealf(m.f) * 10 + cimagf(m.f) * 100 + creal(m.d) * 1e3 + cimag(m.d) * 1e4
        + (double)creall(m.l) * 1e5 + (double)cimagl(m.l) * 1e6;
}
OneF onef_twice(OneF s) { s.f *= 2; return s; }
OneD oned_conj(OneD s) { s.d = conj(s.d); return s; }
IntF intf_swap(IntF s) { s.f = cimagf(s.f) + crealf(s.f) * I; s.i = -s.i; return s; }

/* Callbacks: C passes complex values to Python and uses what comes back. */
double _Complex call_d(double _Complex (*cb)(double _Complex, int), double _Complex x) { return cb(x, 3) + 1; }
float _Complex call_f(float _Complex (*cb)(float _Complex), float _Complex x) { return cb(x) * 2; }
long double _Complex call_ld(long double _Complex (*cb)(long double _Complex), long double _Complex x) { return cb(x) - 1; }
double call_mixed(Mixed (*cb)(Mixed), char tag) {
    Mixed m = mixed_make(tag);
    return mixed_check(cb(m));
}

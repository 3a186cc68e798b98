/* Test library for tests/test_calls.py and tests/test_fuzz_converters.py.
 *
 * echo_<type> returns its argument unchanged: with argtypes and restype set to
 * the same ctypes type, a call round-trips a value through the argument
 * converter, libffi and the return-value widening of the call path.
 * The mixed-signature functions check register/stack assignment when integer
 * and floating-point arguments interleave and when they spill to the stack.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <wchar.h>

#define ECHO(name, type) type echo_##name(type x) { return x; }

ECHO(bool, _Bool)
ECHO(schar, signed char)
ECHO(uchar, unsigned char)
ECHO(short, short)
ECHO(ushort, unsigned short)
ECHO(int, int)
ECHO(uint, unsigned int)
ECHO(long, long)
ECHO(ulong, unsigned long)
ECHO(longlong, long long)
ECHO(ulonglong, unsigned long long)
ECHO(size_t, size_t)
ECHO(ssize_t, ssize_t)
ECHO(float, float)
ECHO(double, double)
ECHO(longdouble, long double)
ECHO(char, char)
ECHO(wchar, wchar_t)
ECHO(char_p, char *)
ECHO(wchar_p, wchar_t *)
ECHO(void_p, void *)

/* Interleaved integer and floating-point arguments. */
double mixed(signed char a, double b, short c, float d, int e, long double f,
             long long g, unsigned char h, double i)
{
    return a + b + c + d + e + (double)f + g + h + i;
}

/* More integer arguments than there are argument registers. */
long long sum_ints(long long a1, long long a2, long long a3, long long a4,
                   long long a5, long long a6, long long a7, long long a8,
                   long long a9, long long a10)
{
    return a1 + 2 * a2 + 3 * a3 + 4 * a4 + 5 * a5 + 6 * a6 + 7 * a7 + 8 * a8
        + 9 * a9 + 10 * a10;
}

/* More double arguments than there are SSE argument registers. */
double sum_doubles(double a1, double a2, double a3, double a4, double a5,
                   double a6, double a7, double a8, double a9, double a10)
{
    return a1 + 2 * a2 + 3 * a3 + 4 * a4 + 5 * a5 + 6 * a6 + 7 * a7 + 8 * a8
        + 9 * a9 + 10 * a10;
}

/* Variadic: the sum of `count` ints. */
long sum_varargs(int count, ...)
{
    va_list ap;
    long total = 0;
    va_start(ap, count);
    for (int i = 0; i < count; i++)
        total += va_arg(ap, int);
    va_end(ap);
    return total;
}

/* Variadic doubles (promoted from float by the caller, if any). */
double sum_var_doubles(int count, ...)
{
    va_list ap;
    double total = 0;
    va_start(ap, count);
    for (int i = 0; i < count; i++)
        total += va_arg(ap, double);
    va_end(ap);
    return total;
}

/* Returns a small integer type whose upper register bits are dirty: the caller
 * must narrow the value to the declared return type. */
unsigned char narrow_uchar(int x) { return (unsigned char)(x + 0); }
signed char narrow_schar(int x) { return (signed char)(x + 0); }
short narrow_short(int x) { return (short)(x + 0); }

void nothing(void) {}

/* errno as the C code sees it during a call. */
int read_errno(void) { return errno; }
void write_errno(int value) { errno = value; }

/* The fast lane (crates/ferrotypes-py/src/calls/fastcall.rs): six integer-class and four
 * SSE-class arguments interleaved, each weighted so a misplaced one shows. */
double fast_mix(int a, float b, unsigned short c, double d, long long e,
                signed char f, float g, unsigned int h, double i, const char *s)
{
    return a + 10.0 * b + 100.0 * c + 1000.0 * d + 1e4 * (double)e + 1e5 * f
        + 1e6 * g + 1e7 * (double)h + 1e8 * i + (s ? (double)s[0] : -1.0);
}

/* Integer arguments only (the fast lane's scalar shape): each one weighed by its position,
   so a value in the wrong register or narrowed the wrong way changes the result. */
long long ints6(signed char a, unsigned short b, int c, unsigned int d, long long e,
                unsigned char f)
{
    return a + 3LL * b + 7LL * c + 11LL * (long long)d + 13LL * e + 17LL * f;
}
int ints0(void) { return -42; }
static long long ints_sink;
void ints_store(int a, long long b) { ints_sink = a + b; }
long long ints_stored(void) { return ints_sink; }

/* Calls back twice, so a callback can reconfigure the function calling it. */
int apply_twice(int (*cb)(int), int x) { return cb(x) + cb(x + 1); }

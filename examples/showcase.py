#!/usr/bin/env python3
"""A guided tour of ferrotypes: CPython's ctypes, rebuilt in Rust.

Run it with ``bash scripts/showcase.sh`` (builds and installs first) or, once installed,
``python examples/showcase.py``. Every section calls real C code in libc/libm.

ferrotypes is grown feature by feature. Sections marked "core" must work; the others
(arrays, structures, callbacks, ...) print "pending" with the reason if the feature has
not landed yet, and the tour goes on. The exit status is non-zero only if a core section
fails.
"""

import os
import subprocess
import sys
import tempfile
import textwrap
import traceback

import ferrotypes as ctypes  # the ctypes API, under its own name: stdlib ctypes untouched
from ferrotypes import util

SECTIONS = []


def section(title, core=False):
    def register(fn):
        SECTIONS.append((title, core, fn))
        return fn
    return register


def show(code, value):
    """Print a line of code and what it gave, aligned."""
    print(f"    {code:<48} -> {value!r}")


LIBC = util.find_library("c")
LIBM = util.find_library("m")


@section("Where ferrotypes comes from", core=True)
def where():
    print(f"    ferrotypes           {ctypes.__file__}")
    print(f"    its _ctypes module   {ctypes._ctypes.__file__}")
    print(f"    ctypes API version   {ctypes.__version__}")
    print(f"    stdlib ctypes loaded? {'ctypes' in sys.modules}  (ferrotypes is a separate package)")


@section("Calling libc and libm", core=True)
def calls():
    libc = ctypes.CDLL(LIBC)
    libm = ctypes.CDLL(LIBM)
    print(f"    libc = CDLL({LIBC!r}); libm = CDLL({LIBM!r})")

    libc.abs.argtypes = [ctypes.c_int]
    libc.abs.restype = ctypes.c_int
    show("libc.abs(-42)", libc.abs(-42))

    libm.hypot.argtypes = [ctypes.c_double, ctypes.c_double]
    libm.hypot.restype = ctypes.c_double
    show("libm.hypot(3.0, 4.0)", libm.hypot(3.0, 4.0))

    libc.strlen.argtypes = [ctypes.c_char_p]
    libc.strlen.restype = ctypes.c_size_t
    show('libc.strlen(b"ferrotypes")', libc.strlen(b"ferrotypes"))

    # Without argtypes, ints and bytes are converted by their Python type, as in ctypes.
    show("libc.labs(-7)  # no argtypes", libc.labs(-7))

    try:
        libc.abs("not a number")
    except ctypes.ArgumentError as exc:
        show('libc.abs("not a number")', f"ArgumentError: {exc}")


@section("snprintf into a create_string_buffer", core=True)
def formatting():
    libc = ctypes.CDLL(LIBC)
    buf = ctypes.create_string_buffer(64)
    # A variadic function: floats must be passed as c_double explicitly.
    n = libc.snprintf(buf, ctypes.sizeof(buf), b"%s: %d items at %.2f each",
                      b"apples", 3, ctypes.c_double(0.5))
    show("libc.snprintf(buf, 64, b'%s: %d items at %.2f each', ...)", n)
    show("buf.value", buf.value)
    show("sizeof(buf), len(buf.raw)", (ctypes.sizeof(buf), len(buf.raw)))


@section("errno, saved around the call", core=True)
def errno_demo():
    libc = ctypes.CDLL(LIBC, use_errno=True)
    ctypes.set_errno(0)
    fd = libc.open(b"/nonexistent/ferrotypes", os.O_RDONLY)
    err = ctypes.get_errno()
    show('libc.open(b"/nonexistent/...", O_RDONLY)', fd)
    show("get_errno()", f"{err} ({os.strerror(err)})")


@section("Output parameters with byref")
def out_params():
    libc = ctypes.CDLL(LIBC)
    number, ratio = ctypes.c_int(), ctypes.c_double()
    count = libc.sscanf(b"42 0.75", b"%d %lf", ctypes.byref(number), ctypes.byref(ratio))
    show('libc.sscanf(b"42 0.75", b"%d %lf", byref(i), byref(d))', count)
    show("i.value, d.value", (number.value, ratio.value))

    end = ctypes.c_char_p()
    libc.strtol.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
    libc.strtol.restype = ctypes.c_long
    value = libc.strtol(b"0x1fz rest", ctypes.byref(end), 16)
    show('libc.strtol(b"0x1fz rest", byref(end), 16)', value)
    show("end.value  # where parsing stopped", end.value)


@section("Arrays and raw memory")
def arrays():
    IntArray5 = ctypes.c_int * 5
    arr = IntArray5(5, 3, 1, 4, 2)
    show("(c_int * 5)(5, 3, 1, 4, 2)[:]", arr[:])
    show("sizeof(arr)", ctypes.sizeof(arr))

    raw = bytearray(b"hello, world")
    view = (ctypes.c_char * len(raw)).from_buffer(raw)  # shares raw's memory
    view[0] = b"H"
    show("from_buffer(bytearray); view[0] = b'H'; raw", bytes(raw))
    show("string_at(addressof(view), 5)", ctypes.string_at(ctypes.addressof(view), 5))

    dst = ctypes.create_string_buffer(8)
    ctypes.memmove(dst, b"ferro\0", 6)
    show('memmove(dst, b"ferro\\0", 6); dst.value', dst.value)


@section("qsort with a Python comparator (a C-callable callback)")
def callbacks():
    libc = ctypes.CDLL(LIBC)
    CMPFUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
    calls = []

    def compare(a, b):
        calls.append(1)
        return a[0] - b[0]

    values = (ctypes.c_int * 8)(50, 12, 99, 3, 41, 7, 88, 23)
    libc.qsort.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, CMPFUNC]
    libc.qsort.restype = None
    libc.qsort(values, len(values), ctypes.sizeof(ctypes.c_int), CMPFUNC(compare))
    show("qsort(values, 8, sizeof(c_int), CMPFUNC(compare))", values[:])
    show("comparator calls", len(calls))


@section("Structures: returned by value, and filled in by libc")
def structures():
    libc = ctypes.CDLL(LIBC)

    class div_t(ctypes.Structure):
        _fields_ = [("quot", ctypes.c_int), ("rem", ctypes.c_int)]

    libc.div.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.div.restype = div_t
    result = libc.div(17, 5)
    show("libc.div(17, 5)  # returns a struct div_t", (result.quot, result.rem))

    class tm(ctypes.Structure):
        _fields_ = [(name, ctypes.c_int) for name in
                    ("tm_sec", "tm_min", "tm_hour", "tm_mday", "tm_mon", "tm_year",
                     "tm_wday", "tm_yday", "tm_isdst")] + [
                    ("tm_gmtoff", ctypes.c_long), ("tm_zone", ctypes.c_char_p)]

    stamp = ctypes.c_long(1_000_000_000)
    when = tm()
    libc.gmtime_r(ctypes.byref(stamp), ctypes.byref(when))
    text = ctypes.create_string_buffer(64)
    libc.strftime(text, ctypes.sizeof(text), b"%Y-%m-%d %H:%M:%S UTC", ctypes.byref(when))
    show("gmtime_r(1e9) + strftime", text.value)
    show("tm.tm_zone.offset, sizeof(tm)", (tm.tm_zone.offset, ctypes.sizeof(tm)))


@section("Pointers and casts")
def pointers():
    x = ctypes.c_int(7)
    p = ctypes.pointer(x)
    p.contents.value = 8
    show("p = pointer(x); p.contents.value = 8; x.value", x.value)
    raw = ctypes.cast(p, ctypes.c_void_p)
    show("cast(p, c_void_p).value == addressof(x)", raw.value == ctypes.addressof(x))
    as_bytes = ctypes.cast(p, ctypes.POINTER(ctypes.c_ubyte * 4)).contents
    show("the int's bytes (little-endian)", bytes(as_bytes))


@section("install(): `import ctypes` becomes ferrotypes (fresh process)", core=True)
def install_demo():
    code = textwrap.dedent("""\
        import ferrotypes
        ferrotypes.install()
        import ctypes, _ctypes, ctypes.util
        print("ctypes is ferrotypes:", ctypes is ferrotypes)
        print("_ctypes is ferrotypes._ctypes:", _ctypes is ferrotypes._ctypes)
        print("ctypes.util is ferrotypes.util:", ctypes.util is ferrotypes.util)
        print("libc abs(-3) =", ctypes.CDLL(ctypes.util.find_library("c")).abs(-3))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        print(f"    {line}")
    if "ctypes is ferrotypes: True" not in out.stdout:
        raise AssertionError("install() did not make `import ctypes` resolve to ferrotypes")


@section("python -m ferrotypes run SCRIPT: an unchanged ctypes program on ferrotypes")
def run_demo():
    program = textwrap.dedent("""\
        import ctypes, ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        print("this script imported ctypes from", ctypes.__name__, "- strlen:",
              libc.strlen(b"unchanged program"))
    """)
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "plain_ctypes_program.py")
        with open(script, "w") as f:
            f.write(program)
        out = subprocess.run([sys.executable, "-m", "ferrotypes", "run", script],
                             capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else
                           f"exit status {out.returncode}")
    for line in out.stdout.splitlines():
        print(f"    {line}")


@section("The fast lane, and keeping the GIL for a tiny function")
def fast_lane():
    import timeit
    libc = ctypes.CDLL(LIBC)
    labs = libc.labs
    labs.argtypes, labs.restype = [ctypes.c_long], ctypes.c_long
    per_call = min(timeit.repeat("labs(-5)", globals={"labs": labs}, number=100_000, repeat=3)) / 100_000
    show("labs(-5), typed: ns per call", round(per_call * 1e9, 1))
    labs.release_gil = False
    per_call = min(timeit.repeat("labs(-5)", globals={"labs": labs}, number=100_000, repeat=3)) / 100_000
    show("... with labs.release_gil = False", round(per_call * 1e9, 1))


@section("cdef: bind <zlib.h> from the header and round-trip data")
def cdef_demo():
    z = ctypes.cdef("#include <zlib.h>", util.find_library("z") or "libz.so.1")
    data = b"ferrotypes " * 200
    size = z.uLongf(z.compressBound(len(data)))
    packed = ctypes.create_string_buffer(size.value)
    show("z.compress(...) == Z_OK", z.compress(packed, ctypes.byref(size), data, len(data)) == z.Z_OK)
    show("compressed size of 2,200 bytes", size.value)
    out_size = z.uLongf(len(data))
    unpacked = ctypes.create_string_buffer(len(data))
    z.uncompress(unpacked, ctypes.byref(out_size), packed, size.value)
    show("round trip equal", unpacked.raw[:out_size.value] == data)


@section("verify: a Structure checked against the C compiler")
def verify_demo():
    report = ctypes.verify(ctypes.c_long, "long", headers=["stddef.h"])
    show("verify(c_long, 'long')", report.ok)
    class Wrong(ctypes.Structure):  # deliberately wrong: ldiv_t holds two longs
        _fields_ = [("quot", ctypes.c_int), ("rem", ctypes.c_int)]
    try:
        ctypes.verify(Wrong, "ldiv_t", headers=["stdlib.h"])
    except ctypes.LayoutMismatch as exc:
        print("    verify(Wrong, 'ldiv_t') raised LayoutMismatch:")
        for line in str(exc).splitlines()[1:6]:
            print(f"      {line}")


@section("Checked mode: a bad read becomes a Python exception")
def checked_demo():
    with ctypes.checked():
        try:
            ctypes.string_at(1, 8)
        except ValueError as exc:
            show("string_at(1, 8) in checked()", f"ValueError: {exc}")
    print("    (outside checked(), the same call would end the process with SIGSEGV)")


def main():
    pending, broken = [], []
    for number, (title, core, fn) in enumerate(SECTIONS, 1):
        print(f"\n== {number}. {title}{'' if not core else '  [core]'}")
        try:
            fn()
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if core:
                broken.append(title)
                print(f"    FAILED: {reason}")
                traceback.print_exc(limit=3)
            else:
                pending.append((title, reason))
                print(f"    pending: {reason}")

    print()
    if pending:
        print("Pending (not implemented in ferrotypes yet, or not working):")
        for title, reason in pending:
            print(f"  - {title}: {reason}")
    if broken:
        print("Core sections that FAILED: " + "; ".join(broken))
        return 1
    print(f"Tour done: {len(SECTIONS) - len(pending)} of {len(SECTIONS)} sections ran.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""ferrotypes.cdef: C declarations to ferrotypes types, bound against real system headers,
and the variadic marker in argtypes."""

import os
import platform
import subprocess
import sys
import time

import pytest

import ferrotypes as ct
from ferrotypes.util import find_library

pytestmark = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v cc"], capture_output=True).returncode != 0,
    reason="needs a C compiler")

LIBC = ct.CDLL("libc.so.6")
LIBM = ct.CDLL("libm.so.6")


# ---------------------------------------------------------------------------
# The pieces

def test_scalars_and_fixed_width_names():
    ns = ct.cdef("""
        typedef unsigned short int us; typedef long double ld; typedef signed char sc;
        typedef size_t sz; typedef ssize_t ssz; typedef wchar_t wc; typedef bool b;
        typedef int8_t i8; typedef uint64_t u64; typedef unsigned u; typedef long long int ll;
    """)
    assert ns.us is ct.c_ushort and ns.ld is ct.c_longdouble and ns.sc is ct.c_byte
    assert ns.sz is ct.c_size_t and ns.ssz is ct.c_ssize_t and ns.wc is ct.c_wchar
    assert ns.b is ct.c_bool and ns.i8 is ct.c_int8 and ns.u64 is ct.c_uint64
    assert ns.u is ct.c_uint and ns.ll is ct.c_longlong


def test_enum_sizing_and_constants():
    ns = ct.cdef("""
        enum color { RED, GREEN = 5, BLUE };
        enum sign { NEG = -1, POS = 1 };
        enum wide { BIG = 0x100000000 };
        enum shifted { F1 = 1 << 3, F2 = F1 | 1, F3 = sizeof(int) * 2, F4 = 'A' };
        struct s { enum color c; enum sign k; };
    """)
    assert (ns.RED, ns.GREEN, ns.BLUE) == (0, 5, 6)
    assert ns.enum("color") is ct.c_uint  # as GCC: unsigned without negative values
    assert ns.enum("sign") is ct.c_int
    assert ns.enum("wide") is ct.c_ulong and ns.BIG == 2**32
    assert (ns.F1, ns.F2, ns.F3, ns.F4) == (8, 9, 8, 65)
    assert ct.sizeof(ns.s) == 8


def test_struct_union_nested_anonymous_bitfields_flexible():
    ns = ct.cdef("""
        struct inner { short a; char b; };
        struct outer {
            struct inner in;
            union { int i; float f; };
            struct { unsigned lo:4, hi:4; } bits;
            unsigned flag:1;
            int :3;
            unsigned char tail[3];
            double data[];
        };
    """)
    o = ns.outer()
    assert ns.outer._anonymous_ == ["_anon_1"]
    o.f = 1.0
    assert o.i == 0x3F800000          # the anonymous union's members, directly
    o.bits.lo, o.bits.hi = 3, 12
    assert ct.string_at(ct.addressof(o.bits), 1) == bytes([0xC3])
    assert ns.outer.flag.size == (1 << 16) | 0
    assert ns.outer.data.size == 0 and ns.outer.data.offset == ct.sizeof(ns.outer)
    assert ct.sizeof(ns.outer) == 16  # data[] at 16, aligned for double: as gcc


def test_function_pointer_typedefs_and_qsort():
    ns = ct.cdef("""
        typedef int (*compar_fn)(const void *, const void *);
        void qsort(void *base, size_t nmemb, size_t size, compar_fn compar);
        typedef void handler(int);
        void (*signal_like(int sig, handler *h))(int);
    """, LIBC)
    assert issubclass(ns.compar_fn, ct._CFuncPtr)
    assert ns.compar_fn._argtypes_ == (ct.c_void_p, ct.c_void_p)
    assert ns.compar_fn._restype_ is ct.c_int
    values = (ct.c_int * 5)(5, 1, 4, 2, 3)

    def compare(a, b):
        x, y = ct.c_int.from_address(a).value, ct.c_int.from_address(b).value
        return (x > y) - (x < y)

    ns.qsort(values, 5, ct.sizeof(ct.c_int), ns.compar_fn(compare))
    assert list(values) == [1, 2, 3, 4, 5]
    assert "signal_like" in ns._missing_


def test_const_volatile_and_pointers():
    ns = ct.cdef("""
        struct node { const char *name; struct node *volatile next; void *data;
                      const wchar_t *w; int **pp; unsigned char *bytes; };
        const char *strchr(const char *s, int c);
    """, LIBC)
    f = dict((n, t) for n, t in ns.node._fields_)
    assert f["name"] is ct.c_char_p and f["data"] is ct.c_void_p and f["w"] is ct.c_wchar_p
    assert f["next"] is ct.POINTER(ns.node)           # self-referential
    assert f["pp"] is ct.POINTER(ct.POINTER(ct.c_int))
    assert f["bytes"] is ct.POINTER(ct.c_ubyte)      # fields keep the exact type
    assert ns.strchr(b"hello", ord("l")) == b"llo"


def test_incomplete_struct_completed_later():
    ns = ct.cdef("""
        struct later;
        typedef struct later later_t;
        struct holder { struct later *p; };
        struct later { int x; };
    """)
    assert ns.later_t is ns.struct("later")
    assert ct.sizeof(ns.later) == 4
    assert ns.holder._fields_[0][1] is ct.POINTER(ns.later)


def test_opaque_struct_stays_incomplete():
    ns = ct.cdef("typedef struct handle handle_t; handle_t *open_handle(void);")
    assert ct.sizeof(ns.handle_t) == 0 and not hasattr(ns.handle_t, "_fields_")


def test_name_clash_struct_and_function():
    ns = ct.cdef(open_header("sys/stat.h"), LIBC)
    assert isinstance(ns.stat, ct._CFuncPtr)          # the function takes the plain name
    assert issubclass(ns.struct("stat"), ct.Structure)
    with pytest.raises(KeyError):
        ns.union("stat")


def test_pragma_pack():
    ns = ct.cdef("""
        #pragma pack(push, 1)
        struct packed { char c; int i; };
        #pragma pack(pop)
        struct natural { char c; int i; };
    """, preprocess=True)
    assert ct.sizeof(ns.packed) == 5 and ct.sizeof(ns.natural) == 8


def test_defines_and_include_dirs(tmp_path):
    (tmp_path / "mine.h").write_text(
        "#define WIDTH 640\n#define HEIGHT (WIDTH / 2)\n#define NAME \"mine\"\n"
        "#ifdef BIG\ntypedef long num;\n#else\ntypedef short num;\n#endif\n")
    ns = ct.cdef('#include "mine.h"', include_dirs=[tmp_path], defines=["BIG"])
    assert ns.num is ct.c_long and ns.WIDTH == 640 and ns.NAME == b"mine"
    ns = ct.cdef('#include "mine.h"', include_dirs=[tmp_path])
    assert ns.num is ct.c_short


def test_parse_error_reports_file_line_column():
    with pytest.raises(ct.CDefError) as info:
        ct.cdef("int ok;\nint f(int a,\n      int b c);\n", filename="decls.h")
    e = info.value
    assert (e.filename, e.lineno, e.column) == ("decls.h", 3, 13)
    assert str(e).startswith("decls.h:3:13:")


# Each of these raised something other than CDefError (ValueError, TypeError, KeyError,
# AttributeError, OverflowError, MemoryError, pycparser's AssertionError) or exhausted
# memory; found by fuzz/python/cdef_fuzz.py.
BAD_DECLARATIONS = [
    ("int a[-3];", "size of array is negative"),
    ("int a[1.5];", "array size is not an integer constant"),
    ('int a["s"];', "string literal"),
    ("char a[1L << 62][1 << 20];", "size of array is too large"),
    ("int a[1 << -1];", "shift count out of range"),
    ("int a[1 << 2000000000];", "shift count out of range"),
    ("int a[1.0 >> 2];", "invalid operands to binary >>"),
    ("int a[(int)(2.5 % 2)];", "invalid operands to binary %"),
    ("int a[~1.5];", "invalid operand to unary ~"),
    ("enum e { A = 1.5 };", "enumerator value is not an integer constant"),
    ('enum e { A = "x" };', "string literal"),
    ("struct s { int b : 40; };", "struct s: number of bits invalid for bit field"),
    ("struct s { int b : -1; };", "struct s: number of bits invalid for bit field"),
    ("struct s { float f : 3; };", "struct s:"),
    ("struct s { int b : 1.5; };", "bit-field width is not an integer constant"),
    ("#pragma pack(3)\nstruct s { int a; };", "invalid #pragma pack argument '3'"),
    ("#pragma pack(push, x)\nstruct s { int a; };", "invalid #pragma pack argument 'x'"),
    # pycparser 3 trips over the stray '}' internally; pycparser 2 reports the token.
    ("int a; }\nint b;", ("cannot parse this", "before: }")),
    ("s { int x; };", "'s' is defined with a body but is not a function"),
]


@pytest.mark.parametrize("source, message", BAD_DECLARATIONS)
def test_bad_declarations_are_cdef_errors(source, message):
    with pytest.raises(ct.CDefError) as info:
        ct.cdef(source, preprocess=False, filename="bad.h")
    wording = message if isinstance(message, tuple) else (message,)
    assert any(w in str(info.value) for w in wording), str(info.value)
    assert info.value.filename == "bad.h" and info.value.lineno is not None


def test_generated_module_spells_gnu_dollar_identifiers():
    # Found by fuzz/python/cdef_fuzz.py: GNU C's '$' in identifiers made the module that
    # `python -m ferrotypes cdef` writes a SyntaxError.
    from ferrotypes import _cdef
    source = ("enum e$1 { A$B = 3 };\nstruct s$ { int x$; };\ntypedef struct s$ t$;\n"
              "int f$(t$ *p);\n")
    builder, macros = _cdef.parse(source, preprocess=False)
    namespace = {}
    exec(compile(_cdef.generate_module(builder, macros), "<generated>", "exec"), namespace)
    assert namespace["A_x24_B"] == 3 and namespace["enum_e_x24_1"] is ct.c_uint
    assert [f[0] for f in namespace["s_x24_"]._fields_] == ["x$"]
    assert namespace["t_x24_"] is namespace["s_x24_"]


def test_deeply_nested_expression_is_a_cdef_error():
    with pytest.raises(ct.CDefError) as info:
        ct.cdef("int a[%s1%s];" % ("(" * 5000, ")" * 5000), preprocess=False)
    assert "nested too deeply" in str(info.value)


def test_parse_error_inside_included_header(tmp_path):
    (tmp_path / "bad.h").write_text("/* line 1 */\nstruct s { int a; };\nint x = ;\n")
    with pytest.raises(ct.CDefError) as info:
        ct.cdef('#include "bad.h"\n', include_dirs=[tmp_path])
    assert info.value.filename.endswith("bad.h") and info.value.lineno == 3
    assert info.value.column is not None


def test_missing_include_is_reported():
    with pytest.raises(ct.CDefError) as info:
        ct.cdef("#include <no_such_header_here.h>\n", filename="x.h")
    assert "no_such_header_here.h" in str(info.value) and info.value.lineno == 1


def test_import_ferrotypes_does_not_load_pycparser():
    code = "import sys, ferrotypes; assert 'pycparser' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


# ---------------------------------------------------------------------------
# Real headers

def open_header(name):
    return "#include <%s>\n" % name


def test_math_h():
    m = ct.cdef(open_header("math.h"), LIBM)
    assert m.sin(0.5) == pytest.approx(0.479425538604203)
    assert m.cos.argtypes == [ct.c_double] and m.cos.restype is ct.c_double
    assert m.pow(2.0, 10) == 1024.0
    e = ct.c_int()
    assert m.frexp(48.0, ct.byref(e)) == 0.75 and e.value == 6
    assert m.sinf(0.5) == pytest.approx(0.479425538604203, rel=1e-6)  # float in and out
    assert m.M_PI == pytest.approx(3.141592653589793)


def test_string_h():
    s = ct.cdef(open_header("string.h"), LIBC)
    assert s.strlen(b"ferrotypes") == 10 and s.strlen.restype is ct.c_size_t
    assert s.strchr(b"key=value", ord("=")) == b"=value"
    dst = ct.create_string_buffer(8)
    s.memcpy(dst, b"abcdefg", 7)
    assert dst.value == b"abcdefg"


def test_time_h_struct_tm():
    import time as pytime
    t = ct.cdef(open_header("time.h"), LIBC)
    now = int(pytime.time())
    tm = t.struct("tm")()
    stamp = t.time_t(now)
    assert t.localtime_r(ct.byref(stamp), ct.byref(tm))
    py = pytime.localtime(now)
    assert (tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) == py[:3]
    assert (tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_yday + 1) == (py[3], py[4], py[5], py[7])
    buf = ct.create_string_buffer(64)
    n = t.strftime(buf, len(buf), b"%Y-%m-%d %H:%M:%S", ct.byref(tm))
    assert buf.value.decode() == pytime.strftime("%Y-%m-%d %H:%M:%S", py) and n == 19
    assert t.mktime(ct.byref(tm)) == now


def test_sys_stat_h(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"x" * 12345)
    st = ct.cdef(open_header("sys/stat.h"), LIBC)
    buf = st.struct("stat")()
    assert st.stat(str(path).encode(), ct.byref(buf)) == 0
    ref = os.stat(path)
    assert buf.st_size == ref.st_size == 12345
    assert buf.st_mode == ref.st_mode and buf.st_ino == ref.st_ino
    assert buf.st_nlink == ref.st_nlink and buf.st_uid == ref.st_uid
    assert buf.st_mtim.tv_sec * 10**9 + buf.st_mtim.tv_nsec == ref.st_mtime_ns


def test_zlib_h_round_trip():
    z = ct.cdef(open_header("zlib.h"), find_library("z"))
    data = b"ferrotypes binds zlib from its header. " * 200
    size = ct.c_ulong(z.compressBound(len(data)))
    packed = ct.create_string_buffer(size.value)
    assert z.compress(packed, ct.byref(size), data, len(data)) == z.Z_OK
    assert size.value < len(data) // 10
    out = ct.create_string_buffer(len(data))
    out_len = ct.c_ulong(len(data))
    assert z.uncompress(out, ct.byref(out_len), packed, size.value) == z.Z_OK
    assert out.raw[:out_len.value] == data
    assert z.zlibVersion() == z.ZLIB_VERSION


def test_lib_as_name_and_missing_symbols():
    ns = ct.cdef("int compress2(void); int no_such_function_xyz(int);", "z")
    assert ns._missing_ == ["no_such_function_xyz"]
    with pytest.raises(AttributeError):
        ns.no_such_function_xyz
    assert ns._signatures_["no_such_function_xyz"].argtypes == (ct.c_int,)


def test_without_lib_functions_are_prototypes():
    ns = ct.cdef("double hypot(double, double);")
    f = ns.hypot(("hypot", LIBM))
    assert f(3.0, 4.0) == 5.0


def test_struct_by_value_argument_and_result():
    ns = ct.cdef(open_header("stdlib.h"), LIBC)
    r = ns.div(17, 5)
    assert type(r) is ns.div_t and (r.quot, r.rem) == (3, 2)
    r = ns.ldiv(-17, 5)
    assert (r.quot, r.rem) == (-3, -2)


# ---------------------------------------------------------------------------
# Variadic functions

def test_snprintf_mixed_variadic_doubles_and_ints():
    io = ct.cdef(open_header("stdio.h"), LIBC)
    assert io.snprintf.argtypes[-1] is ct.VARIADIC
    buf = ct.create_string_buffer(200)
    fmt = b"%d %.3f %ld %g %s %u %.1f %c"
    expected = "%d %.3f %d %g %s %u %.1f %c" % (-42, 3.14159, 2**40, 1e-5, "str", 7, 2.5, "z")
    n = io.snprintf(buf, len(buf), fmt, -42, 3.14159, ct.c_long(2**40), 1e-5, b"str", 7,
                    2.5, ord("z"))
    assert buf.value.decode() == expected and n == len(expected)
    # Twelve doubles: more than the eight vector registers, so some go on the stack.
    doubles = [i + 0.25 for i in range(12)]
    n = io.snprintf(buf, len(buf), b" %.2f" * 12, *doubles)
    assert buf.value.decode() == "".join(" %.2f" % d for d in doubles)


def test_printf_through_subprocess():
    code = ("import ferrotypes as ct\n"
            "io = ct.cdef('#include <stdio.h>\\n', 'c')\n"
            "io.printf(b'%s=%d %.2f|', b'x', 42, 0.5)\n"
            "io.printf(b'no args|')\n"
            "io.fflush(None)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout == "x=42 0.50|no args|", out.stderr


def test_variadic_marker_plain_ctypes_style():
    f = LIBC.snprintf
    argtypes = [ct.c_char_p, ct.c_size_t, ct.c_char_p, ct.VARIADIC]
    f.argtypes = argtypes
    assert f.argtypes is argtypes                       # reads back what was set
    assert ct.VARIADIC is Ellipsis
    buf = ct.create_string_buffer(100)
    assert f(buf, 100, b"only fixed") == 10 and buf.value == b"only fixed"
    # C's default promotions: float -> double, char/short/bool -> int.
    f(buf, 100, b"%.2f %d %d %d %u", ct.c_float(1.5), ct.c_char(b"A"), ct.c_short(-3),
      ct.c_bool(True), ct.c_ushort(65535))
    assert buf.value == b"1.50 65 -3 1 65535"
    f(buf, 100, b"%.3f", 0.125)                         # a Python float is a double
    assert buf.value == b"0.125"


def test_variadic_marker_must_be_last():
    f = LIBC.snprintf
    with pytest.raises(TypeError, match="last item"):
        f.argtypes = [ct.c_char_p, ..., ct.c_int]


def test_without_marker_float_still_rejected_as_in_ctypes():
    f = LIBC.snprintf
    f.argtypes = [ct.c_char_p, ct.c_size_t, ct.c_char_p]
    buf = ct.create_string_buffer(10)
    with pytest.raises(ct.ArgumentError):
        f(buf, 10, b"%f", 1.5)


# ---------------------------------------------------------------------------
# The command line

def test_cli_generates_importable_zlib_module(tmp_path):
    out = tmp_path / "zlib_gen.py"
    proc = subprocess.run([sys.executable, "-m", "ferrotypes", "cdef", "zlib.h",
                           "--library", "z", "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import ferrotypes as ct, zlib_gen as z\n"
            "data = bytes(range(256)) * 40\n"
            "n = ct.c_ulong(z.compressBound(len(data)))\n"
            "buf = ct.create_string_buffer(n.value)\n"
            "assert z.compress2(buf, ct.byref(n), data, len(data), z.Z_BEST_COMPRESSION) == z.Z_OK\n"
            "out = ct.create_string_buffer(len(data)); m = ct.c_ulong(len(data))\n"
            "assert z.uncompress(out, ct.byref(m), buf, n.value) == z.Z_OK\n"
            "assert out.raw == data\n"
            "assert ct.sizeof(z.z_stream) == 112 and z.z_stream.msg.offset == 48\n"
            "assert z._functions['gzprintf'][1][-1] is ct.VARIADIC\n"
            "print('ok')\n" % str(tmp_path))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "ok", run.stderr


def test_cli_self_referential_structs(tmp_path):
    header = tmp_path / "list.h"
    header.write_text("struct item { int v; struct item *next; };\n"
                      "typedef struct { struct item *head; unsigned count:8; } list_t;\n")
    out = tmp_path / "list_gen.py"
    subprocess.run([sys.executable, "-m", "ferrotypes", "cdef", str(header), "-o", str(out)],
                   check=True)
    text = out.read_text()
    assert text.index("class item(") < text.index("item._fields_")
    code = ("import sys; sys.path.insert(0, %r)\nimport ferrotypes as ct, list_gen as g\n"
            "a = g.item(1); b = g.item(2, ct.pointer(a)); l = g.list_t(ct.pointer(b), 2)\n"
            "assert l.head[0].next[0].v == 1 and l.count == 2\nprint('ok')\n" % str(tmp_path))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "ok", run.stderr


# ---------------------------------------------------------------------------
# Speed

def test_parse_speed_of_a_5000_line_header():
    headers = ["stdio.h", "stdlib.h", "string.h", "zlib.h", "sys/stat.h", "time.h", "math.h"]
    source = "".join(open_header(h) for h in headers)
    from ferrotypes import _cdef
    text = _cdef.preprocess(source)
    assert text.count("\n") > 4500
    start = time.perf_counter()
    ns = ct.cdef(text, preprocess=False)
    elapsed = time.perf_counter() - start
    assert len(ns._signatures_) > 500 and not ns._skipped_
    assert elapsed < 5.0


def test_without_marker_small_ints_keep_ctypes_behavior():
    f = LIBC.snprintf
    f.argtypes = [ct.c_char_p, ct.c_size_t, ct.c_char_p]
    buf = ct.create_string_buffer(10)
    with pytest.raises(RuntimeError, match="ffi_prep_cif_var"):
        f(buf, 10, b"%hd", ct.c_short(-2))


# ---------------------------------------------------------------------------
# Layout attributes, zero-width bit fields, special types, variadic prototypes

LAYOUT_SOURCE = r"""
struct Z { char a; int : 0; char b; };
struct Z2 { int a:3; int :0; int b:4; char c; };
struct Z3 { char a; long long :0; char b; short : 0; char c; };
union ZU { char a; int : 0; short b; };
struct P { char c; int i; } __attribute__((packed));
struct __attribute__((__packed__)) P2 { char c; int i; short s; };
struct A { int a; } __attribute__((aligned(16)));
struct M { char c; int i __attribute__((__aligned__(8))); char d; long v[2] __attribute__((aligned)); };
typedef struct { char c; long long m __attribute__ ((__aligned__ (__alignof__ (long long)))); }
    __attribute__((packed)) T;
struct Outer { char c; struct P p; struct A a; struct Z z; };
"""
LAYOUT_TYPES = {"Z": "struct Z", "Z2": "struct Z2", "Z3": "struct Z3", "ZU": "union ZU",
                "P": "struct P", "P2": "struct P2", "A": "struct A", "M": "struct M", "T": "T",
                "Outer": "struct Outer"}


@pytest.fixture(scope="module")
def layout_header(tmp_path_factory):
    path = tmp_path_factory.mktemp("cdef_layout") / "layout.h"
    path.write_text(LAYOUT_SOURCE)
    return str(path)


@pytest.mark.parametrize("name", sorted(LAYOUT_TYPES))
def test_packed_aligned_and_zero_width_match_the_compiler(layout_header, name):
    # GCC's packed/aligned attributes and zero-width bit fields used to be dropped
    # silently (a wrong layout); every type here is checked member by member against cc.
    ns = ct.cdef(LAYOUT_SOURCE)
    assert ns._skipped_ == []
    ct.verify(getattr(ns, name), LAYOUT_TYPES[name], headers=[layout_header])


def test_layout_attributes_reach_the_generated_module(tmp_path, layout_header):
    out = tmp_path / "gen_layout.py"
    subprocess.run([sys.executable, "-m", "ferrotypes", "cdef", layout_header, "-o", str(out)],
                   check=True, capture_output=True)
    text = out.read_text()
    assert "_pack_ = 1" in text and "_align_ = 16" in text and "_cdef_padding_" in text
    namespace = {}
    exec(compile(text, str(out), "exec"), namespace)
    ns = ct.cdef(LAYOUT_SOURCE)
    for name in ("P", "A", "M", "Z3"):
        generated = namespace[name]
        assert (ct.sizeof(generated), ct.alignment(generated)) == \
            (ct.sizeof(getattr(ns, name)), ct.alignment(getattr(ns, name)))


def test_packed_member_in_a_plain_structure_is_reported():
    ns = ct.cdef("struct Q { char c; int i __attribute__((packed)); };")
    assert ns._skipped_ and "packed" in ns._skipped_[0][1]


def test_unevaluable_alignment_is_reported():
    ns = ct.cdef("struct Q { char c; int i __attribute__((aligned(sizeof(struct Q *) * 2))); };")
    assert ns._skipped_ and "aligned attribute" in ns._skipped_[0][1]


def test_int128_is_a_clear_error():
    ns = ct.cdef("struct I { __int128 x; }; typedef unsigned __int128 u128;")
    reasons = dict(ns._skipped_)
    assert "128-bit" in reasons["struct I"] and "128-bit" in reasons["u128"]


def test_complex_members(tmp_path):
    # The complex types exist on every version (CPython 3.14's, here on 3.11 too).
    source = "struct C { char c; double _Complex z; float _Complex f; long double _Complex l; };\n"
    ns = ct.cdef(source)
    assert ns._skipped_ == []
    assert [f[1] for f in ns.C._fields_] == [ct.c_char, ct.c_double_complex, ct.c_float_complex,
                                             ct.c_longdouble_complex]
    header = tmp_path / "complex_members.h"
    header.write_text(source)
    ct.verify(ns.C, "struct C", headers=[str(header)])


def test_mode_attribute_and_va_list():
    # GCC's mode attribute sizes an integer typedef (glibc's register_t is a word), and
    # va_list is 24 bytes of storage on x86-64 while a va_list parameter is a pointer.
    ns = ct.cdef("typedef int word_t __attribute__((__mode__(__word__)));\n"
                 "typedef unsigned int u8m __attribute__((mode(QI)));\n"
                 "typedef int big __attribute__((__mode__(__TI__)));\n"
                 "struct holder { char c; va_list ap; };\n"
                 "int vf(const char *fmt, va_list ap);\n")
    assert ct.sizeof(ns.word_t) == ct.sizeof(ct.c_void_p) and ns.word_t(-1).value == -1
    assert ns.u8m is ct.c_ubyte
    assert "128-bit" in dict(ns._skipped_)["big"]
    assert ns._signatures_["vf"].argtypes[1] is ct.c_void_p
    if platform.machine() == "x86_64":
        assert ct.sizeof(ns.holder) == 32


def test_variadic_function_pointer_prototype():
    ns = ct.cdef("typedef int (*fmt_t)(char *, unsigned long, const char *, ...);")
    assert ns.fmt_t._argtypes_[-1] is ct.VARIADIC
    snprintf = ns.fmt_t(ct.cast(LIBC.snprintf, ct.c_void_p).value)
    buf = ct.create_string_buffer(64)
    assert snprintf(buf, 64, b"%s=%g %d", b"pi", 3.5, ct.c_short(-3)) == 9
    assert buf.value == b"pi=3.5 -3"


def test_variadic_marker_in_cfunctype():
    proto = ct.CFUNCTYPE(ct.c_int, ct.c_char_p, ct.c_size_t, ct.c_char_p, ct.VARIADIC)
    f = proto(ct.cast(LIBC.snprintf, ct.c_void_p).value)
    buf = ct.create_string_buffer(32)
    assert f(buf, 32, b"%.2f|%ld|%s", 2.5, ct.c_long(2**40), b"x") == 20
    assert buf.value == b"2.50|1099511627776|x"
    assert f(buf, 32, b"plain") == 5 and buf.value == b"plain"
    with pytest.raises(TypeError, match="variadic marker must be the last item"):
        ct.CFUNCTYPE(ct.c_int, ct.VARIADIC, ct.c_int)


# ---------------------------------------------------------------------------
# verify() on every type cdef builds from the headers above

HEADERS = ["math.h", "string.h", "time.h", "sys/stat.h", "zlib.h", "stdlib.h", "stdio.h",
           "sys/types.h", "stdarg.h"]


def _built_types(ns):
    """(C name, type) of every structure, union, array and scalar typedef ``ns`` holds:
    tagged aggregates as ``struct X``/``union X``, typedefs under their names."""
    seen = []
    for (kind, tag), t in sorted(ns._tags.items(), key=lambda item: item[0]):
        if kind in ("struct", "union") and "_fields_" in t.__dict__:
            seen.append(("%s %s" % (kind, tag), t))
    for name, t in sorted(ns._builder.typedefs.items()):
        if not isinstance(t, type) or not issubclass(t, (ct.Structure, ct.Union, ct.Array,
                                                         ct._SimpleCData)):
            continue
        if issubclass(t, (ct.Structure, ct.Union)) and "_fields_" not in t.__dict__:
            continue  # incomplete (opaque) in this header
        seen.append((name, t))
    return seen


@pytest.mark.parametrize("header", HEADERS)
def test_verify_every_built_type(header):
    ns = ct.cdef(open_header(header))
    built = _built_types(ns)
    assert built and not ns._skipped_, (built, ns._skipped_)
    for c_name, t in built:
        ct.verify(t, c_name, headers=[header])

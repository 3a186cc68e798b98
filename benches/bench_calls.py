#!/usr/bin/env python3
"""ferrotypes vs stdlib ctypes vs cffi (ABI and compiled API mode), in one process.

    python benches/bench_calls.py [--quick] [--png PATH] [--json PATH]

The chart of this one interpreter goes to --png (none by default); --json saves the times
and ratios for ``benches/all_versions.py``, which runs this on every CPython found and
draws the README chart (docs/bench-ratios.png) with all of them.

Every row is timed the way ``timeit`` does it: the statement is compiled into the timing
loop, the loop count is chosen so one repeat takes a while, and the best of 5 repeats is
kept (3 shorter ones with ``--quick``). Times are nanoseconds per call, or per element /
per callback where the row says so. Before a row is timed, its statement runs once and the
result is checked, so a fast wrong answer shows up as an error, not as a win.

The C side: libc and libm, plus a tiny shared library compiled here with ``cc`` (``add6``,
``out_int``, ``sum_s3``, ``call_n``), and for cffi's API mode an extension module built on
the fly with ``ffi.set_source`` + ``ffi.compile``. Rows whose code raises print
``n/a (error: ...)`` (full messages under the table); rows that have no counterpart in cffi
(untyped calls, ``import``) print ``-``. A segfault still ends the run; faulthandler prints
the Python stack, which names the row. Nothing here asserts a timing: this is a
measurement, not a test.

``--alias-stock`` (development only) uses the stdlib ``ctypes`` in the ferrotypes column,
to check that every row works before ferrotypes implements it; a real run needs ferrotypes.
"""

from __future__ import annotations

import argparse
import array
import ctypes
import ctypes.util
import faulthandler
import importlib
import math
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import timeit

COLUMNS = ("ctypes", "cffi-ABI", "cffi-API", "ferrotypes")
NOOP_CALLS = 100_000
ARRAY_LEN = 1000

C_SOURCE = r"""
typedef struct { int a; double b; int c; } S3;
int add6(int a, int b, int c, int d, int e, int f) { return a + b + c + d + e + f; }
void out_int(int *p) { *p = 42; }
double sum_s3(S3 s) { return s.a + s.b + s.c; }
void call_n(void (*cb)(void), int n) { for (int i = 0; i < n; i++) cb(); }
"""

# Declarations shared by cffi's ABI and API modes.
CDEF = """
typedef struct { int x; double y; } Point;
typedef struct { int a; double b; int c; } S3;
int abs(int);
double hypot(double, double);
size_t strlen(const char *);
void qsort(void *base, size_t nmemb, size_t size, int (*compar)(const void *, const void *));
int add6(int, int, int, int, int, int);
void out_int(int *);
double sum_s3(S3);
void call_n(void (*cb)(void), int);
"""
CDEF_API_CALLBACKS = """
extern "Python" int bench_cmp(const void *, const void *);
extern "Python" void bench_noop(void);
"""


class NotApplicable(Exception):
    """The row has no counterpart in this column (printed as '-')."""


class Case:
    """One column's side of a row: a statement, its globals, and a check of its effect."""

    def __init__(self, stmt: str, ns: dict, check=None, inner: int = 1):
        self.stmt, self.ns, self.check, self.inner = stmt, ns, check, inner

    @classmethod
    def expect(cls, stmt: str, ns: dict, value, inner: int = 1, convert=lambda v: v):
        def check():
            got = convert(eval(stmt, ns))
            if got != value:
                raise AssertionError(f"{stmt} gave {got!r}, expected {value!r}")
        return cls(stmt, ns, check, inner)


# --- the things being compared ----------------------------------------------------------


class CtypesTarget:
    """stdlib ctypes or ferrotypes: the same API, so the same row code serves both."""

    kind = "ctypes"

    def __init__(self, name: str, api, bench_so: str | None):
        self.name, self.api = name, api
        self.libc = api.CDLL(find_lib("c"))
        self.libm = api.CDLL(find_lib("m"))
        self._bench_so = bench_so

    @property
    def bench(self):
        if self._bench_so is None:
            raise RuntimeError("the C helper library could not be compiled")
        return self.api.CDLL(self._bench_so)


class CffiTarget:
    kind = "cffi"

    def __init__(self, name: str, ffi, libc, libm, bench, api_mode: bool):
        self.name, self.ffi, self.api_mode = name, ffi, api_mode
        self.libc, self.libm, self._bench = libc, libm, bench

    @property
    def bench(self):
        if self._bench is None:
            raise RuntimeError("the C helper library could not be compiled")
        return self._bench


def find_lib(name: str) -> str:
    path = ctypes.util.find_library(name)
    if path is None:
        raise RuntimeError(f"lib{name} not found")
    return path


def build_helpers(tmp: str) -> str | None:
    """Compile the C helper library; None (and a note) if there is no compiler."""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        print(f"note: no C compiler ({cc}); rows using the helper library are n/a", file=sys.stderr)
        return None
    src = os.path.join(tmp, "ferrobench.c")
    out = os.path.join(tmp, "libferrobench.so")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    proc = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", out, src], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"note: compiling the helper library failed:\n{proc.stderr}", file=sys.stderr)
        return None
    return out


def make_cffi_targets(tmp: str, bench_so: str | None) -> dict:
    targets = {}
    try:
        import cffi
    except ImportError as exc:
        print(f"note: cffi is not importable ({exc}); the cffi columns are n/a", file=sys.stderr)
        return targets

    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    targets["cffi-ABI"] = CffiTarget(
        "cffi-ABI", ffi, ffi.dlopen(find_lib("c")), ffi.dlopen(find_lib("m")),
        ffi.dlopen(bench_so) if bench_so else None, api_mode=False,
    )

    if bench_so is None:
        return targets
    api_ffi = cffi.FFI()
    api_ffi.cdef(CDEF + CDEF_API_CALLBACKS)
    api_ffi.set_source(
        "_ferrobench_api",
        "#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n"
        "typedef struct { int x; double y; } Point;\n"
        "typedef struct { int a; double b; int c; } S3;\n"
        "int add6(int, int, int, int, int, int);\nvoid out_int(int *);\n"
        "double sum_s3(S3);\nvoid call_n(void (*cb)(void), int);\n",
        libraries=["ferrobench", "m"],
        library_dirs=[tmp],
        extra_link_args=[f"-Wl,-rpath,{tmp}"],
    )
    try:
        api_ffi.compile(tmpdir=tmp, verbose=False)
        sys.path.insert(0, tmp)
        module = importlib.import_module("_ferrobench_api")
    except Exception as exc:  # a missing compiler or Python.h: report and go on
        print(f"note: building the cffi API-mode module failed ({exc}); cffi-API is n/a", file=sys.stderr)
        return targets

    @module.ffi.def_extern(name="bench_cmp")
    def _bench_cmp(a, b):
        cast = module.ffi.cast
        return cast("int *", a)[0] - cast("int *", b)[0]

    @module.ffi.def_extern(name="bench_noop")
    def _bench_noop():
        pass

    lib = module.lib
    targets["cffi-API"] = CffiTarget("cffi-API", module.ffi, lib, lib, lib, api_mode=True)
    return targets


# --- the rows ---------------------------------------------------------------------------

ROWS = []


def row(name: str, unit: str = "ns"):
    def register(fn):
        ROWS.append((name, unit, fn))
        return fn
    return register


@row("abs(int)")
def _(t):
    if t.kind == "ctypes":
        f = t.libc["abs"]
        f.argtypes, f.restype = [t.api.c_int], t.api.c_int
    else:
        f = t.libc.abs
    return Case.expect("f(-5)", {"f": f}, 5)


@row("hypot(double, double)")
def _(t):
    if t.kind == "ctypes":
        f = t.libm["hypot"]
        f.argtypes, f.restype = [t.api.c_double, t.api.c_double], t.api.c_double
    else:
        f = t.libm.hypot
    return Case.expect("f(3.0, 4.0)", {"f": f}, 5.0)


TEXT = b"hello, ferrotypes"


@row("strlen(char *) on bytes")
def _(t):
    if t.kind == "ctypes":
        f = t.libc["strlen"]
        f.argtypes, f.restype = [t.api.c_char_p], t.api.c_size_t
    else:
        f = t.libc.strlen
    return Case.expect("f(b)", {"f": f, "b": TEXT}, len(TEXT))


@row("add6(int x 6), own .so")
def _(t):
    f = t.bench.add6
    if t.kind == "ctypes":
        f.argtypes, f.restype = [t.api.c_int] * 6, t.api.c_int
    return Case.expect("f(1, 2, 3, 4, 5, 6)", {"f": f}, 21)


@row("abs(-5) untyped")
def _(t):
    if t.kind != "ctypes":
        raise NotApplicable
    return Case.expect("f(-5)", {"f": t.libc["abs"]}, 5)


@row("strlen(bytes) untyped")
def _(t):
    if t.kind != "ctypes":
        raise NotApplicable
    return Case.expect("f(b)", {"f": t.libc["strlen"], "b": TEXT}, len(TEXT))


@row("out_int(byref(c_int))")
def _(t):
    f = t.bench.out_int
    if t.kind == "ctypes":
        api = t.api
        f.argtypes, f.restype = [api.POINTER(api.c_int)], None
        x = api.c_int(0)
        ns = {"f": f, "byref": api.byref, "x": x}
        stmt, value = "f(byref(x))", lambda: x.value
    else:
        p = t.ffi.new("int *", 0)
        ns = {"f": f, "p": p}
        stmt, value = "f(p)", lambda: p[0]

    def check():
        exec(stmt, ns)
        if value() != 42:
            raise AssertionError(f"out parameter is {value()}, expected 42")
    return Case(stmt, ns, check)


@row("c_int(5)")
def _(t):
    if t.kind == "ctypes":
        return Case.expect("c_int(5)", {"c_int": t.api.c_int}, 5, convert=lambda v: v.value)
    return Case.expect("new('int *', 5)", {"new": t.ffi.new}, 5, convert=lambda v: v[0])


NUMBERS = list(range(ARRAY_LEN))


@row("(c_int * 1000)(*range(1000))")
def _(t):
    if t.kind == "ctypes":
        ns = {"A": t.api.c_int * ARRAY_LEN, "L": NUMBERS}
        return Case.expect("A(*L)", ns, NUMBERS, convert=list)
    return Case.expect("new('int[1000]', L)", {"new": t.ffi.new, "L": NUMBERS}, NUMBERS, convert=list)


def _int_array(t):
    if t.kind == "ctypes":
        return (t.api.c_int * ARRAY_LEN)(*NUMBERS)
    return t.ffi.new("int[1000]", NUMBERS)


def _array_bytes() -> bytes:
    return array.array("i", NUMBERS).tobytes()


@row("bytes(arr), 1000 ints")
def _(t):
    arr = _int_array(t)
    if t.kind == "ctypes":
        return Case.expect("bytes(arr)", {"arr": arr}, _array_bytes())
    return Case.expect("buffer(arr)[:]", {"arr": arr, "buffer": t.ffi.buffer}, _array_bytes())


@row("arr[:], 1000 ints")
def _(t):
    arr = _int_array(t)
    if t.kind == "ctypes":
        return Case.expect("arr[:]", {"arr": arr}, NUMBERS)
    return Case.expect("unpack(arr, 1000)", {"arr": arr, "unpack": t.ffi.unpack}, NUMBERS)


@row("arr[i] in a loop, per element")
def _(t):
    arr = _int_array(t)
    ns = {"arr": arr, "R": range(ARRAY_LEN)}
    return Case.expect("[arr[i] for i in R]", ns, NUMBERS, inner=ARRAY_LEN)


MB = 1 << 20


@row("from_buffer(bytearray 1 MB)")
def _(t):
    ba = bytearray(MB)
    if t.kind == "ctypes":
        return Case.expect("T.from_buffer(ba)", {"T": t.api.c_char * MB, "ba": ba}, MB,
                           convert=t.api.sizeof)
    return Case.expect("from_buffer(ba)", {"from_buffer": t.ffi.from_buffer, "ba": ba}, MB,
                       convert=len)


PAGE = bytes(range(256)) * 16  # 4096 bytes


@row("string_at(addr, 4096)")
def _(t):
    if t.kind == "ctypes":
        buf = t.api.create_string_buffer(PAGE, len(PAGE))
        ns = {"string_at": t.api.string_at, "addr": t.api.addressof(buf), "buf": buf}
        return Case.expect("string_at(addr, 4096)", ns, PAGE)
    buf = t.ffi.new("char[]", PAGE)
    ns = {"unpack": t.ffi.unpack, "cp": t.ffi.cast("char *", buf), "buf": buf}
    return Case.expect("unpack(cp, 4096)", ns, PAGE)


def _point(t):
    if t.kind == "ctypes":
        class Point(t.api.Structure):
            _fields_ = [("x", t.api.c_int), ("y", t.api.c_double)]
        return Point, Point(1, 2.0)
    return None, t.ffi.new("Point *", (1, 2.0))


@row("struct field get (p.x)")
def _(t):
    _, p = _point(t)
    return Case.expect("p.x", {"p": p}, 1)


@row("struct field set (p.x = 5)")
def _(t):
    _, p = _point(t)
    ns = {"p": p}

    def check():
        exec("p.x = 5", ns)
        if p.x != 5:
            raise AssertionError(f"p.x is {p.x} after p.x = 5")
    return Case("p.x = 5", ns, check)


@row("Point(1, 2.0)")
def _(t):
    if t.kind == "ctypes":
        Point, _ = _point(t)
        return Case.expect("Point(1, 2.0)", {"Point": Point}, (1, 2.0), convert=lambda p: (p.x, p.y))
    return Case.expect("new('Point *', (1, 2.0))", {"new": t.ffi.new}, (1, 2.0),
                       convert=lambda p: (p.x, p.y))


@row("(c_int * 16)()")
def _(t):
    if t.kind == "ctypes":
        return Case.expect("A()", {"A": t.api.c_int * 16}, [0] * 16, convert=list)
    return Case.expect("new('int[16]')", {"new": t.ffi.new}, [0] * 16, convert=list)


@row("sum_s3(struct {int; double; int})")
def _(t):
    f = t.bench.sum_s3
    if t.kind == "ctypes":
        api = t.api

        class S3(api.Structure):
            _fields_ = [("a", api.c_int), ("b", api.c_double), ("c", api.c_int)]
        f.argtypes, f.restype = [S3], api.c_double
        s = S3(1, 2.0, 3)
    else:
        s = t.ffi.new("S3 *", (1, 2.0, 3))[0]
    return Case.expect("f(s)", {"f": f, "s": s}, 6.0)


SHUFFLED = random.Random(1234).sample(range(ARRAY_LEN), ARRAY_LEN)


@row("qsort 1000 ints, Python comparator")
def _(t):
    if t.kind == "ctypes":
        api = t.api
        A = api.c_int * ARRAY_LEN
        src, work = A(*SHUFFLED), A()
        CMP = api.CFUNCTYPE(api.c_int, api.POINTER(api.c_int), api.POINTER(api.c_int))
        cb = CMP(lambda a, b: a[0] - b[0])
        q = t.libc["qsort"]
        q.argtypes, q.restype = [api.c_void_p, api.c_size_t, api.c_size_t, CMP], None
        ns = {"q": q, "cb": cb, "src": src, "work": work, "memmove": api.memmove}
    else:
        ffi = t.ffi
        src, work = ffi.new("int[1000]", SHUFFLED), ffi.new("int[1000]")
        if t.api_mode:
            cb = t.libc.bench_cmp
        else:
            cast = ffi.cast
            cb = ffi.callback("int(const void *, const void *)",
                              lambda a, b: cast("int *", a)[0] - cast("int *", b)[0])
        ns = {"q": t.libc.qsort, "cb": cb, "src": src, "work": work, "memmove": ffi.memmove}
    stmt = "memmove(work, src, 4000); q(work, 1000, 4, cb)"

    def check():
        exec(stmt, ns)
        if list(work) != NUMBERS:
            raise AssertionError("qsort left the array unsorted")
    return Case(stmt, ns, check)


@row("C loop -> no-op callback, per callback")
def _(t):
    f = t.bench.call_n
    calls = []
    if t.kind == "ctypes":
        CB = t.api.CFUNCTYPE(None)
        f.argtypes, f.restype = [CB, t.api.c_int], None
        cb, counting = CB(lambda: None), CB(lambda: calls.append(1))
    elif t.api_mode:
        cb = t.bench.bench_noop
        counting = t.ffi.callback("void(void)", lambda: calls.append(1))
    else:
        cb = t.ffi.callback("void(void)", lambda: None)
        counting = t.ffi.callback("void(void)", lambda: calls.append(1))
    ns = {"f": f, "cb": cb, "N": NOOP_CALLS}

    def check():
        f(counting, 10)
        exec("f(cb, N)", ns)
        if len(calls) != 10:
            raise AssertionError(f"callback ran {len(calls)} times, expected 10")
    return Case("f(cb, N)", ns, check, inner=NOOP_CALLS)


def keep_gil_variant(name: str) -> None:
    """Repeats the row `name` with ferrotypes' opt-in `release_gil = False` on every function
    object of its statement (ctypes and cffi always release the GIL: their cells are the
    same measurement as in the original row)."""
    base = next(fn for row_name, _, fn in ROWS if row_name == name)

    @row(f"{name} [ferrotypes release_gil=False]")
    def _(t):
        case = base(t)
        if t.name == "ferrotypes":
            for value in case.ns.values():
                if isinstance(value, t.api._CFuncPtr):
                    value.release_gil = False
        return case


for _name in ("abs(int)", "strlen(char *) on bytes", "qsort 1000 ints, Python comparator",
              "C loop -> no-op callback, per callback"):
    keep_gil_variant(_name)


@row("import (fresh process, -X importtime)", unit="import")
def _(t):
    if t.kind != "ctypes":
        raise NotApplicable
    return t.import_name


@row("sys.getsizeof(c_int())", unit="B")
def _(t):
    if t.kind == "ctypes":
        return sys.getsizeof(t.api.c_int())
    return sys.getsizeof(t.ffi.new("int *"))


# --- measuring --------------------------------------------------------------------------


def calibrate(case: Case, min_time: float) -> tuple[timeit.Timer, int]:
    """A timer and a loop count that makes one repeat last at least `min_time` seconds."""
    timer = timeit.Timer(case.stmt, globals=case.ns)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= min_time:
            return timer, number
        if elapsed > 0.002:  # measurable: extrapolate instead of overshooting tenfold
            number = max(number + 1, math.ceil(number * min_time * 1.05 / elapsed))
        else:
            number *= 10


def import_time(module: str) -> float:
    """Cumulative import time of `module` in a fresh interpreter, in nanoseconds."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          capture_output=True, text=True, check=True)
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\S.*)$", line)
        if match and match.group(3).strip() == module:
            # A float, as every cell under measurement is: `measure` takes the best of its
            # runs only while the cell is a float (an int here ended the series after one).
            return float(int(match.group(2)) * 1000)
    raise RuntimeError(f"no -X importtime line for {module}")


def measure(targets: dict, repeats: int, min_time: float, import_runs: int, only: str | None = None):
    """Yields (row name, unit, {column: value or Exception or NotApplicable}).

    The repeats of one row go round-robin over the columns, so that a burst of load on the
    machine hits every column's samples alike instead of one column's whole series.
    """
    for name, unit, build in ROWS:
        if only and not re.search(only, name):
            continue
        cells, timers, imports = {}, {}, {}
        for column in COLUMNS:
            target = targets.get(column)
            if target is None:
                cells[column] = NotApplicable()
                continue
            try:
                built = build(target)
                if unit == "import":
                    imports[column] = built
                    cells[column] = float("inf")
                elif unit == "B":
                    cells[column] = float(built)
                else:
                    if built.check is not None:
                        built.check()
                    timer, number = calibrate(built, min_time)
                    timers[column] = (timer, number, built.inner)
                    cells[column] = float("inf")
            except Exception as exc:  # NotApplicable included: shown as "-"
                cells[column] = exc
        for _ in range(import_runs if imports else 0):
            for column, module in imports.items():
                if not isinstance(cells[column], float):
                    continue  # an earlier run failed
                try:
                    cells[column] = min(cells[column], import_time(module))
                except Exception as exc:
                    cells[column] = exc
        for _ in range(repeats):
            for column, (timer, number, inner) in timers.items():
                try:
                    per_call = timer.timeit(number) / number / inner * 1e9
                except Exception as exc:
                    cells[column] = exc
                    continue
                if isinstance(cells[column], float):
                    cells[column] = min(cells[column], per_call)
        yield name, unit, cells


# --- reporting --------------------------------------------------------------------------


def format_value(value, unit: str) -> str:
    if isinstance(value, NotApplicable):
        return "-"
    if isinstance(value, BaseException):
        message = (f"{type(value).__name__}: {value}".splitlines() or ["?"])[0]
        short = message if len(message) <= 40 else message[:37] + "..."
        return f"n/a (error: {short})"  # the full message is listed under the table
    if unit == "B":
        return f"{value:.0f} B"
    if value < 1_000:
        return f"{value:.1f} ns"
    if value < 1_000_000:
        return f"{value / 1e3:.2f} us"
    return f"{value / 1e6:.2f} ms"


def ratio(a, b) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0:
        return a / b
    return None


def print_table(results, banner: list[str]) -> list[tuple]:
    header = ["row", *COLUMNS, "ferro/ctypes", "ferro/cffi-API"]
    lines, ratios = [], []
    for name, unit, cells in results:
        r_ctypes = ratio(cells["ferrotypes"], cells["ctypes"])
        r_api = ratio(cells["ferrotypes"], cells["cffi-API"])
        ratios.append((name, r_ctypes, r_api))
        lines.append([name, *(format_value(cells[c], unit) for c in COLUMNS),
                      f"{r_ctypes:.2f}x" if r_ctypes else "-",
                      f"{r_api:.2f}x" if r_api else "-"])
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(cells):
        return "  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])])

    for line in banner:
        print(line)
    print(fmt(header))
    print("-" * len(fmt(header)))
    for line in lines:
        print(fmt(line))
    print("ratios < 1 mean ferrotypes is faster (or smaller); '-' = no counterpart / not measured")
    return ratios


def write_png(path: str, ratios: list[tuple]) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print(f"matplotlib is not importable: no chart written to {path} (pip install matplotlib)")
        return
    nan = float("nan")  # a row without a ratio gets no bar
    names = [name for name, _, _ in ratios]
    vs_ctypes = [r or nan for _, r, _ in ratios]
    vs_api = [r or nan for _, _, r in ratios]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(names) + 1.5))
    ys = range(len(names))
    ax.barh([y - 0.2 for y in ys], vs_ctypes, height=0.4, label="ferrotypes / ctypes")
    ax.barh([y + 0.2 for y in ys], vs_api, height=0.4, label="ferrotypes / cffi API mode")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks([0.1, 0.2, 0.5, 1, 2, 5, 10])
    ax.set_xlabel("ferrotypes ÷ other (time or size): < 1 is faster; no bar: no counterpart")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"chart written to {path}")


def write_json(path: str, results, ratios: list[tuple], quick: bool) -> None:
    """One interpreter's run: per row its unit, each column's value (None where the column
    has no counterpart or failed) and the two ratios."""
    import json

    rows = []
    for (name, unit, cells), (_, r_ctypes, r_api) in zip(results, ratios):
        values = {column: cells[column] if isinstance(cells[column], float) else None
                  for column in COLUMNS}
        rows.append({"row": name, "unit": unit, "values": values,
                     "ferro/ctypes": r_ctypes, "ferro/cffi-API": r_api})
    document = {"python": platform.python_version(), "quick": quick, "rows": rows}
    with open(path, "w") as f:
        json.dump(document, f, indent=1)
    print(f"results written to {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (3 short repeats)")
    parser.add_argument("--png", metavar="PATH", default="",
                        help="bar chart of this interpreter's ratios (needs matplotlib); the "
                             "README's chart of every version comes from benches/all_versions.py")
    parser.add_argument("--json", metavar="PATH", default="",
                        help="save the times and ratios as JSON (benches/all_versions.py reads it)")
    parser.add_argument("--rows", metavar="REGEX",
                        help="only the rows whose name matches (no chart is written then)")
    parser.add_argument("--alias-stock", action="store_true",
                        help="development check: the ferrotypes column uses stdlib ctypes")
    args = parser.parse_args(argv)
    faulthandler.enable()  # a crash inside an FFI call still says which row it was in

    if args.alias_stock:
        ferro, ferro_import = ctypes, "ctypes"
    else:
        try:
            import ferrotypes as ferro
        except ImportError as exc:
            print(f"error: ferrotypes is not importable ({exc}); build it with bash scripts/build.sh "
                  "(or pass --alias-stock to check the rows against stdlib ctypes)", file=sys.stderr)
            return 2
        ferro_import = "ferrotypes"

    repeats, min_time, import_runs = (3, 0.02, 3) if args.quick else (5, 0.15, 15)
    tmp = tempfile.mkdtemp(prefix="ferrobench-")
    try:
        bench_so = build_helpers(tmp)
        targets = {"ctypes": CtypesTarget("ctypes", ctypes, bench_so)}
        targets["ctypes"].import_name = "ctypes"
        targets.update(make_cffi_targets(tmp, bench_so))
        try:
            targets["ferrotypes"] = CtypesTarget("ferrotypes", ferro, bench_so)
            targets["ferrotypes"].import_name = ferro_import
        except Exception as exc:
            print(f"note: ferrotypes cannot load libc/libm ({type(exc).__name__}: {exc})", file=sys.stderr)

        cffi_version = getattr(sys.modules.get("cffi"), "__version__", "not importable")
        banner = [
            f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"{_cpu_model()}; cffi {cffi_version}",
            f"ferrotypes: {getattr(ferro, '__file__', '?')}"
            + ("   ** ALIASED to stdlib ctypes (--alias-stock) **" if args.alias_stock else ""),
            f"best of {repeats} repeats{' (--quick)' if args.quick else ''}; ns per call unless noted",
            "",
        ]
        results = list(measure(targets, repeats, min_time, import_runs, args.rows))
        ratios = print_table(results, banner)
        errors = [(name, column, cells[column]) for name, _, cells in results for column in COLUMNS
                  if isinstance(cells[column], Exception) and not isinstance(cells[column], NotApplicable)]
        if errors:
            print("\nerrors:")
            for name, column, exc in errors:
                print("  " + textwrap.shorten(f"{column:10} {name}: {type(exc).__name__}: {exc}", 300))
        if args.png and not args.rows:
            write_png(args.png, ratios)
        if args.json:
            write_json(args.json, results, ratios, quick=args.quick)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())

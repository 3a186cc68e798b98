#!/usr/bin/env python3
"""Instruction counts per row, stdlib ctypes vs ferrotypes, under callgrind.

    python benches/callgrind_rows.py [ROW ...] [--which ctypes,ferrotypes]

Wall-clock ratios move by ±15 % on a shared machine; instruction counts do not. For each
row and each module, the statement runs in a loop under ``valgrind --tool=callgrind`` twice
(LOW and HIGH iterations, in fresh processes); the difference divided by HIGH - LOW is the
cost of one iteration, with the set-up cancelled out. That cost is split into:

* **own**: instructions executed inside the extension module's shared object
  (``_ctypes*.so`` of the stdlib, or ferrotypes' ``_ctypes*.so``), libffi's functions
  excepted,
* **libffi**: instructions executed in libffi: the stdlib's ``libffi.so`` (a separate
  shared object, stripped, so counted by object), and in ferrotypes, which links libffi
  statically into its ``_ctypes*.so``, the functions named ``ffi_*`` (the closure entry
  ``ffi_closure_unix64*``, ``ffi_call*``, ...) plus libffi's two static x86-64 helpers
  ``classify_argument`` and ``examine_argument``. Separated so that "own" compares the
  two modules' own code like with like (before, ferrotypes' own count included libffi's
  closure trampoline, which stock ctypes runs in ``libffi.so``),
* **total**: everything (interpreter, allocator, libffi, libc included).

The **floor** of a row is ``(ctypes total - ctypes own) / ctypes total``: what any
implementation pays even if its own code cost nothing. The table printed is the one in
``docs/performance.md``. Needs valgrind (``$VALGRIND`` names the binary if it is not on
``PATH``, e.g. a copy bound into a chroot, with ``$VALGRIND_LIB`` its tools); runs with the
interpreter it is started with.

A third column, **cffi**, runs the rows that have a counterpart (``CFFI_ROWS``) in cffi's
compiled API mode (a module built on the fly; needs cffi, setuptools and a C compiler, else
the column is left out); its own instructions are those of the built module and
``_cffi_backend``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

LOW, HIGH = 2_000, 12_000
VALGRIND = os.environ.get("VALGRIND", "valgrind")

HELPER_C = (
    "void call_n(void (*cb)(void), int n) { for (int i = 0; i < n; i++) cb(); }\n"
    "typedef struct { int a; double b; int c; } S3;\n"
    "void out_int(int *p) { *p = 42; }\n"
    "double sum_s3(S3 s) { return s.a + s.b + s.c; }\n")

# cffi's compiled API mode, the "cffi" column (built when cffi and setuptools are there):
# the module `_cgrows_api` over libc, libm and the helper library.
CFFI_CDEF = """
typedef struct { int a; double b; int c; } S3;
int abs(int);
void out_int(int *);
double sum_s3(S3);
"""

# name -> (set-up, statement, iterations per loop pass). The set-up may use `ct` (the
# module under test), `libc` and `helper` (the compiled call_n library).
ROWS = {
    "c_int(5)": ("", "ct.c_int(5)", 1),
    "Point(1, 2.0)": (
        "class Point(ct.Structure):\n    _fields_ = [('x', ct.c_int), ('y', ct.c_double)]",
        "Point(1, 2.0)", 1),
    "(c_int*16)()": ("A16 = ct.c_int * 16", "A16()", 1),
    "arr[i]": ("arr = (ct.c_int * 16)(*range(16))", "arr[3]", 1),
    "bytes(arr)": ("arr = (ct.c_int * 1000)()", "bytes(arr)", 1),
    "from_buffer": ("A16 = ct.c_int * 16\nbuf = bytearray(64)", "A16.from_buffer(buf)", 1),
    # Not a ctypes operation: what the memoryview from_buffer keeps in `_objects` costs the
    # interpreter (the same in both modules; the floor of from_buffer against cffi's).
    "memoryview(bytearray)": ("buf = bytearray(64)", "memoryview(buf)", 1),
    "typed abs(-5)": ("f = libc.abs\nf.argtypes = (ct.c_int,)\nf.restype = ct.c_int", "f(-5)", 1),
    "out_int(byref(c_int))": (
        "f = helper.out_int\nf.argtypes = (ct.POINTER(ct.c_int),)\nf.restype = None\n"
        "x = ct.c_int(0)\nbyref = ct.byref", "f(byref(x))", 1),
    "sum_s3 (struct by value)": (
        "class S3(ct.Structure):\n    _fields_ = [('a', ct.c_int), ('b', ct.c_double), ('c', ct.c_int)]\n"
        "f = helper.sum_s3\nf.argtypes = (S3,)\nf.restype = ct.c_double\ns = S3(1, 2.0, 3)", "f(s)", 1),
    "string_at": ("buf = ct.create_string_buffer(b'hello world, ' * 4)\naddr = ct.addressof(buf)",
                  "ct.string_at(addr, 48)", 1),
    "field get p.x": (
        "class Point(ct.Structure):\n    _fields_ = [('x', ct.c_int), ('y', ct.c_double)]\np = Point(1, 2.0)",
        "p.x", 1),
    "field set p.x = 5": (
        "class Point(ct.Structure):\n    _fields_ = [('x', ct.c_int), ('y', ct.c_double)]\np = Point(1, 2.0)",
        "p.x = 5", 1),
    "C loop -> no-op callback": (
        "CB = ct.CFUNCTYPE(None)\ncb = CB(lambda: None)\n"
        "call_n = helper.call_n\ncall_n.argtypes = (CB, ct.c_int)\ncall_n.restype = None",
        "call_n(cb, 100)", 100),
    "qsort, per comparison": (
        "import random\nrandom.seed(1)\nvalues = [random.randrange(10**6) for _ in range(1000)]\n"
        "CMP = ct.CFUNCTYPE(ct.c_int, ct.POINTER(ct.c_int), ct.POINTER(ct.c_int))\n"
        "cmp = CMP(lambda a, b: a[0] - b[0])\nA = ct.c_int * 1000\n"
        "qsort = libc.qsort\nqsort.argtypes = (ct.c_void_p, ct.c_size_t, ct.c_size_t, CMP)\nqsort.restype = None\n"
        "arr = A()\nn_cmp = [0]\n"
        "def counting(a, b):\n    n_cmp[0] += 1\n    return a[0] - b[0]\n"
        "arr[:] = values\nqsort(arr, 1000, 4, CMP(counting))\nPER_SORT = n_cmp[0]",
        "arr[:] = values; qsort(arr, 1000, 4, cmp)", None),
}


# The same rows in cffi's compiled API mode (`ffi`, `lib`): cffi's own way to say them.
CFFI_ROWS = {
    # Not a ctypes operation: what the memoryview from_buffer keeps in `_objects` costs the
    # interpreter (the same in both modules; the floor of from_buffer against cffi's).
    "memoryview(bytearray)": ("buf = bytearray(64)", "memoryview(buf)", 1),
    "typed abs(-5)": ("f = lib.abs", "f(-5)"),
    "out_int(byref(c_int))": ("f = lib.out_int\np = ffi.new('int *', 0)", "f(p)"),
    "sum_s3 (struct by value)": ("f = lib.sum_s3\ns = ffi.new('S3 *', (1, 2.0, 3))[0]", "f(s)"),
    "string_at": ("buf = ffi.new('char[]', b'hello world, ' * 4)\nunpack = ffi.unpack", "unpack(buf, 48)"),
    "from_buffer": ("buf = bytearray(64)\nfrom_buffer = ffi.from_buffer", "from_buffer('int[16]', buf)"),
}


def build_cffi(tmp: str, helper: str) -> bool:
    """Compiles the cffi API-mode module into `tmp`; False when cffi cannot build here."""
    try:
        import cffi
        ffi = cffi.FFI()
        ffi.cdef(CFFI_CDEF)
        ffi.set_source("_cgrows_api", "#include <stdlib.h>\ntypedef struct { int a; double b; int c; } S3;\n"
                       "void out_int(int *);\ndouble sum_s3(S3);\n",
                       libraries=[":" + os.path.basename(helper)], library_dirs=[tmp],
                       extra_link_args=[f"-Wl,-rpath,{tmp}"])
        ffi.compile(tmpdir=tmp, verbose=False)
        return True
    except Exception as exc:  # no cffi, setuptools or compiler: the column is n/a
        print(f"note: cffi column n/a ({exc})", file=sys.stderr)
        return False


def child(module: str, row: str, iterations: int, helper: str) -> None:
    """Runs one row's loop (inside callgrind)."""
    if module == "cffi":
        sys.path.insert(0, os.path.dirname(helper))
        api = __import__("_cgrows_api")
        ns = {"ffi": api.ffi, "lib": api.lib}
        setup, stmt = CFFI_ROWS[row]
    else:
        ct = __import__(module)
        ns = {"ct": ct, "libc": ct.CDLL(None), "helper": ct.CDLL(helper) if helper else None}
        setup, stmt, _ = ROWS[row]
    exec(setup, ns)
    # Inside a function, as real code runs: the loop variable is a local, the set-up's
    # names are globals (cached lookups), not module-level dict stores and loads.
    exec(compile(f"def _loop():\n    for _ in range({iterations}):\n        {stmt}\n", "<loop>", "exec"), ns)
    ns["_loop"]()
    if "PER_SORT" in ns:
        print("PER_SORT", ns["PER_SORT"])


_COST = re.compile(r"^([+\-]?\d|\*)")


_LIBFFI_OBJECT = re.compile(r"/libffi[^/]*\.so[^/]*$")
_LIBFFI_STATIC = {"classify_argument", "examine_argument"}


def is_libffi(obj: str, fn: str) -> bool:
    """Whether a function (by object file and name) is libffi's."""
    return bool(_LIBFFI_OBJECT.search(obj)) or fn.startswith("ffi_") or fn in _LIBFFI_STATIC


def _decompress(line: str, table: dict) -> str:
    """The name on a callgrind `ob=`/`cob=`/`fn=`/`cfn=` line. Names are compressed: one is
    given once, with its number, on its first line; later lines give only the number."""
    m = re.match(r"c?(?:ob|fn)=(\(\d+\))?\s*(.*)", line.rstrip("\n"))
    key, name = m.group(1), m.group(2)
    if key and name:
        table[key] = name
    return name or table.get(key, "")


def split_costs(path: str, own_pattern: re.Pattern) -> tuple[int, int, int]:
    """(total, own, libffi) instructions of a callgrind output file; own = self cost of
    functions whose object file matches `own_pattern`, libffi's excepted; libffi = self cost
    of libffi's functions wherever they live (see the module notes)."""
    names: dict[str, str] = {}
    fn_names: dict[str, str] = {}
    total = own = libffi = 0
    current_ob = fn_ob = fn_name = ""
    counted_libffi = False
    after_calls = False
    with open(path) as f:
        for line in f:
            if after_calls:  # the inclusive cost of a call: not this function's own
                after_calls = False
                continue
            if line.startswith(("ob=", "cob=")):
                name = _decompress(line, names)
                if line.startswith("ob="):
                    current_ob = name
            elif line.startswith(("fn=", "cfn=")):
                name = _decompress(line, fn_names)
                if line.startswith("fn="):
                    fn_ob = current_ob
                    fn_name = name
                    counted_libffi = is_libffi(fn_ob, fn_name)
            elif line.startswith("calls="):
                after_calls = True
            elif _COST.match(line):
                parts = line.split()
                if len(parts) >= 2:
                    cost = int(parts[1])
                    total += cost
                    if counted_libffi:
                        libffi += cost
                    elif own_pattern.search(fn_ob):
                        own += cost
    return total, own, libffi


def measure(python: str, module: str, row: str, helper: str, tmp: str) -> tuple[float, float, float]:
    own_pattern = {"ctypes": re.compile(r"/(ferrotypes/)?_ctypes[^/]*\.so$"),
                   "cffi": re.compile(r"/(_cgrows_api|_cffi_backend)[^/]*\.so$")}.get(
        module, re.compile(r"/ferrotypes/_ctypes[^/]*\.so$"))
    results = []
    per_sort = None
    for n in (LOW, HIGH):
        n_loop = n // 100 if ROWS[row][2] != 1 else n
        out = os.path.join(tmp, f"cg.{module}.{n}")
        proc = subprocess.run(
            [VALGRIND, "--tool=callgrind", f"--callgrind-out-file={out}", python,
             os.path.abspath(__file__), "--child", module, row, str(n_loop), helper],
            capture_output=True, text=True, cwd=tmp,
            # One hash seed for every run: string hashes decide dict probe sequences.
            env={**os.environ, "PYTHONHASHSEED": "0"})
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
        m = re.search(r"PER_SORT (\d+)", proc.stdout)
        if m:
            per_sort = int(m.group(1))
        results.append(split_costs(out, own_pattern))
    (t0, o0, l0), (t1, o1, l1) = results
    iterations = HIGH - LOW
    if ROWS[row][2] == 100:
        pass  # 100 callbacks per statement, loops of n/100: per callback = diff / (HIGH-LOW)
    elif ROWS[row][2] is None:  # qsort: per comparison
        iterations = (HIGH - LOW) // 100 * per_sort
    return (t1 - t0) / iterations, (o1 - o0) / iterations, (l1 - l0) / iterations


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", nargs="*", help="row names (default: all)")
    ap.add_argument("--which", default="ctypes,ferrotypes,cffi")
    args = ap.parse_args()
    if shutil.which(VALGRIND) is None:
        sys.exit("valgrind is not installed")
    rows = args.rows or list(ROWS)
    modules = args.which.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        helper = ""
        if shutil.which(os.environ.get("CC", "cc")):
            src, helper = os.path.join(tmp, "h.c"), os.path.join(tmp, "libh.so")
            with open(src, "w") as f:
                f.write(HELPER_C)
            subprocess.run([os.environ.get("CC", "cc"), "-O2", "-shared", "-fPIC", "-o", helper, src], check=True)
        if "cffi" in modules and not (helper and build_cffi(tmp, helper)):
            modules.remove("cffi")
        print(f"CPython {sys.version.split()[0]}: instructions per iteration (total / own / libffi)")
        print("| row | ctypes total / own / libffi | floor | ferrotypes total / own / libffi "
              "| instr. ratio | own + libffi | cffi API total / own / libffi | ferrotypes ÷ cffi |")
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            got = {}
            for module in modules:
                if module == "cffi" and row not in CFFI_ROWS:
                    continue
                try:
                    got[module] = measure(sys.executable, module, row, helper, tmp)
                except Exception as exc:  # report and go on with the other rows
                    print(f"{row} / {module}: error {exc}", file=sys.stderr)
            cell = lambda m: f"{got[m][0]:,.0f} / {got[m][1]:,.0f} / {got[m][2]:,.0f}" if m in got else "n/a"  # noqa: E731
            own_ffi = lambda m: f"{got[m][1] + got[m][2]:,.0f}" if m in got else "n/a"  # noqa: E731
            floor = ratio = "-"
            if "ctypes" in got:
                # The floor: what ctypes spends outside its own code (libffi included, as
                # any implementation needs a closure trampoline and a call sequence).
                t, o, _ = got["ctypes"]
                floor = f"{(t - o) / t:.2f}"
                if "ferrotypes" in got:
                    ratio = f"{got['ferrotypes'][0] / t:.2f}"
            vs_cffi = "-"
            if "cffi" in got and "ferrotypes" in got:
                vs_cffi = f"{got['ferrotypes'][0] / got['cffi'][0]:.2f}"
            print(f"| {row} | {cell('ctypes')} | {floor} | {cell('ferrotypes')} | {ratio} "
                  f"| {own_ffi('ctypes')} vs {own_ffi('ferrotypes')} | {cell('cffi')} | {vs_cffi} |",
                  flush=True)


if __name__ == "__main__":
    main()

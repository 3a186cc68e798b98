#!/usr/bin/env python3
"""The interpreter's share of a typed scalar call: how near cffi any function *object* can get.

    python benches/call_floor.py [--repeat N] [--number CALLS]

cffi's compiled API mode hands out `lib.abs` as a builtin function, which the interpreter's
call instruction runs directly. A ctypes function is an object (it carries `argtypes`,
`restype`, `errcheck`), and the interpreter calls objects through its generic path: on 3.11
and 3.12 nothing specializes such a call, and from 3.13 it gets the general specialization,
still more work than a builtin's. This script measures what that costs, apart from anyone's
own code: it compiles (with the running interpreter's headers and `cc`) a tiny extension
with two callables whose body is the least a typed `abs(int)` call does, the same body for
both: an exact `int` argument, the GIL released around `abs()` (as cffi and ferrotypes do
by default), a new `int` result.

* `builtin_abs`: a builtin function (`METH_O`), called the way cffi's `lib.abs` is;
* `object_abs`: an instance of a type with the vectorcall protocol, called the way every
  ctypes function object is, ferrotypes' included.

It times both, cffi's `lib.abs` (built on the fly, when cffi and a compiler are there) and
ferrotypes' typed `abs`, interleaved, keeping each one's best of N rounds. The line to read
is `object_abs ÷ cffi`: a function object whose own code took no time at all would still
take that share of cffi's time: the floor of the "typed abs vs cffi" row of
`bench_calls.py`. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import timeit

C_SOURCE = r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdlib.h>

/* The body both callables share: exact int in, GIL released around the C call, int out. */
static PyObject *abs_body(PyObject *arg) {
    if (!PyLong_CheckExact(arg)) {
        PyErr_SetString(PyExc_TypeError, "an int is required");
        return NULL;
    }
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) return NULL;
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = abs((int)v);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(r);
}

static PyObject *builtin_abs(PyObject *module, PyObject *arg) {
    (void)module;
    return abs_body(arg);
}

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
} AbsObject;

static PyObject *object_abs_call(PyObject *self, PyObject *const *args, size_t nargsf,
                                 PyObject *kwnames) {
    (void)self;
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "one positional argument");
        return NULL;
    }
    return abs_body(args[0]);
}

static PyObject *abs_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    (void)args; (void)kwds;
    AbsObject *self = (AbsObject *)type->tp_alloc(type, 0);
    if (self != NULL) self->vectorcall = object_abs_call;
    return (PyObject *)self;
}

static PyTypeObject AbsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_call_floor.AbsObject",
    .tp_basicsize = sizeof(AbsObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(AbsObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = abs_new,
};

static PyMethodDef methods[] = {
    {"builtin_abs", builtin_abs, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_call_floor", NULL, -1, methods};

PyMODINIT_FUNC PyInit__call_floor(void) {
    if (PyType_Ready(&AbsType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyObject *obj = PyObject_CallNoArgs((PyObject *)&AbsType);
    if (obj == NULL || PyModule_AddObject(m, "object_abs", obj) < 0) {
        Py_XDECREF(obj);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
"""


def build_floor_module(tmp: str) -> None:
    """Compiles `_call_floor` into `tmp` with the running interpreter's headers."""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        sys.exit(f"call_floor.py: no C compiler ({cc}) on PATH")
    src = os.path.join(tmp, "_call_floor.c")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    out = os.path.join(tmp, "_call_floor" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run([cc, "-O2", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}",
                    "-o", out, src], check=True)


def build_cffi_module(tmp: str) -> bool:
    """cffi's compiled API mode over libc's abs, as bench_calls.py builds it; False (and a
    note on stderr) when it cannot be built here: no cffi, or, from 3.12, no setuptools."""
    try:
        import cffi
        ffi = cffi.FFI()
        ffi.cdef("int abs(int);")
        ffi.set_source("_call_floor_cffi", "#include <stdlib.h>")
        ffi.compile(tmpdir=tmp, verbose=False)
        return True
    except Exception as exc:  # the cffi lines are left out, and this says why
        print(f"note: cffi column n/a ({exc})", file=sys.stderr)
        return False


def time_candidates(have_cffi: bool, args: argparse.Namespace) -> dict[str, float]:
    """Best ns per call of each candidate, over interleaved rounds (the modules built are
    importable: their directory is on sys.path)."""
    import ferrotypes
    import _call_floor

    ft_abs = ferrotypes.CDLL(None).abs
    ft_abs.argtypes = (ferrotypes.c_int,)
    ft_abs.restype = ferrotypes.c_int
    callables = {"builtin_abs": _call_floor.builtin_abs, "object_abs": _call_floor.object_abs,
                 "ferrotypes": ft_abs}
    if have_cffi:
        callables["cffi"] = __import__("_call_floor_cffi").lib.abs
    for name, f in callables.items():
        if f(-5) != 5:
            sys.exit(f"call_floor.py: {name}(-5) returned {f(-5)!r}")
    # Each statement in its own timeit loop (names are the loop's globals, as in
    # bench_calls.py); the rounds interleave the candidates so drift hits them alike.
    timers = {name: timeit.Timer("f(-5)", globals={"f": f}) for name, f in callables.items()}
    number = args.number
    best = {name: float("inf") for name in timers}
    for _ in range(args.repeat):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(number) / number * 1e9)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="rounds (default: %(default)s)")
    parser.add_argument("--number", type=int, default=200_000,
                        help="calls per candidate per round (default: %(default)s)")
    args = parser.parse_args()
    built_names = ("_call_floor", "_call_floor_cffi")
    with tempfile.TemporaryDirectory() as tmp:
        build_floor_module(tmp)
        have_cffi = build_cffi_module(tmp)
        # Imported from this directory only, and forgotten again afterwards: the directory
        # goes away, and a later run (in the same process) builds and imports its own.
        for name in built_names:
            sys.modules.pop(name, None)
        sys.path.insert(0, tmp)
        try:
            best = time_candidates(have_cffi, args)
        finally:
            sys.path.remove(tmp)
            for name in built_names:
                sys.modules.pop(name, None)

    print(f"CPython {sys.version.split()[0]}: ns per call, best of {args.repeat} rounds")
    for name, ns in best.items():
        print(f"  {name:12} {ns:7.1f}")
    print(f"  object_abs ÷ builtin_abs  {best['object_abs'] / best['builtin_abs']:.2f}"
          "   (the interpreter's generic call path, same body)")
    if "cffi" in best:
        print(f"  object_abs ÷ cffi         {best['object_abs'] / best['cffi']:.2f}"
              "   (the floor of a function object against cffi)")
        print(f"  ferrotypes ÷ cffi         {best['ferrotypes'] / best['cffi']:.2f}")
    print(f"  ferrotypes ÷ object_abs   {best['ferrotypes'] / best['object_abs']:.2f}"
          "   (what ferrotypes' own code adds)")


if __name__ == "__main__":
    main()

"""Helpers shared by the test modules (imported as ``support``: pytest puts this directory on
``sys.path``): building the small C libraries the tests call into, and what
``tests/clib/calls.c`` exports."""

import os
import shutil
import subprocess

import pytest

# The echo_<name> function of tests/clib/calls.c for each simple type: it returns its
# argument, so a call round-trips a value through argument conversion and result widening.
ECHO = {
    "c_bool": "bool", "c_byte": "schar", "c_ubyte": "uchar", "c_short": "short",
    "c_ushort": "ushort", "c_int": "int", "c_uint": "uint", "c_long": "long", "c_ulong": "ulong",
    "c_longlong": "longlong", "c_ulonglong": "ulonglong", "c_size_t": "size_t",
    "c_ssize_t": "ssize_t", "c_float": "float", "c_double": "double",
    "c_longdouble": "longdouble", "c_char": "char", "c_wchar": "wchar", "c_char_p": "char_p",
    "c_wchar_p": "wchar_p", "c_void_p": "void_p",
}


def compile_shared(source, target, *flags):
    """Builds the C file `source` into the shared library `target` with the system C
    compiler ($CC, else cc or gcc) and returns `target` as a str; skips the test when there
    is no compiler. `flags` come before the output (e.g. "-O1", "-pthread")."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build " + os.path.basename(str(source)))
    subprocess.run([compiler, "-shared", "-fPIC", *flags, "-o", str(target), str(source)], check=True)
    return str(target)


def require_stock(ctypes_module):
    """Returns `ctypes_module` after checking that it is the standard library's ctypes.

    The differential tests compare ferrotypes with the stdlib ctypes. Under
    `python -m ferrotypes run -m pytest` (or after `ferrotypes.install()`), `import ctypes`
    is ferrotypes itself, and they would compare ferrotypes with itself and pass. They
    refuse to run instead."""
    import _ctypes

    ext_file = os.path.realpath(getattr(_ctypes, "__file__", "") or "")
    ferrotypes_dir = os.path.dirname(os.path.dirname(ext_file)) if "ferrotypes" in ext_file else None
    if ctypes_module.__name__ != "ctypes" or _ctypes.__name__ != "_ctypes" or ferrotypes_dir:
        raise RuntimeError(
            "these tests compare ferrotypes with the standard library's ctypes, but `import "
            f"ctypes` gives {ctypes_module.__name__} (with _ctypes from {ext_file}): run them "
            "without ferrotypes.install() / `python -m ferrotypes run`")
    return ctypes_module

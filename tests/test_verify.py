"""ferrotypes.verify / verify_function: layouts and prototypes checked against the C
compiler, and `python -m ferrotypes verify`."""

import subprocess
import sys

import pytest

import ferrotypes as ct

pytestmark = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v cc"], capture_output=True).returncode != 0,
    reason="needs a C compiler")

HEADER = """\
#include <stddef.h>
struct record { int id; size_t length; const char *name; double weight; };
struct flags { unsigned ready:1; unsigned mode:3; int level:5; unsigned char tag;
               unsigned long long wide:40; };
struct outer { char c; struct { short a; union { int i; float f; }; } in; long tail; };
int takes_size(const char *s, size_t n);
"""


@pytest.fixture()
def header(tmp_path):
    path = tmp_path / "probe_types.h"
    path.write_text(HEADER)
    return str(path)


class RecordGood(ct.Structure):
    _fields_ = [("id", ct.c_int), ("length", ct.c_size_t), ("name", ct.c_char_p),
                ("weight", ct.c_double)]


class RecordBad(ct.Structure):  # size_t transcribed as int
    _fields_ = [("id", ct.c_int), ("length", ct.c_int), ("name", ct.c_char_p),
                ("weight", ct.c_double)]


def test_correct_struct_passes(header):
    report = ct.verify(RecordGood, "struct record", headers=[header])
    assert report.ok
    rows = {r[0]: r for r in report.rows}
    assert rows["length: offset"][1:] == (8, 8)
    assert rows["name: class"][1:] == ("pointer", "pointer")
    assert "agrees with C" in str(report)


def test_size_t_as_c_int_is_caught(header):
    with pytest.raises(ct.LayoutMismatch) as info:
        ct.verify(RecordBad, "struct record", headers=[header])
    text = str(info.value)
    assert "length: size" in text and "MISMATCH" in text
    bad = {r[0]: r[1:] for r in info.value.report.mismatches}
    assert bad["length: size"] == (4, 8)
    assert bad["length: class"] == ("int", "uint")
    assert bad["name: offset"] == (8, 16) and bad["sizeof"] == (24, 32)
    assert "id: offset" not in bad


def test_bit_fields(header):
    ns = ct.cdef(HEADER)
    report = ct.verify(ns.flags, "struct flags", headers=header)
    rows = {r[0]: r[1:] for r in report.rows}
    assert rows["mode: bit position"] == (1, 1) and rows["level: bit width"] == (5, 5)
    assert rows["wide: bit position"] == (24, 24)  # shares the first 64-bit unit

    class WrongBits(ct.Structure):
        _fields_ = [("ready", ct.c_uint, 1), ("mode", ct.c_uint, 2), ("level", ct.c_int, 5),
                    ("tag", ct.c_ubyte), ("wide", ct.c_ulonglong, 40)]
    with pytest.raises(ct.LayoutMismatch) as info:
        ct.verify(WrongBits, "struct flags", headers=header)
    bad = {r[0]: r[1:] for r in info.value.report.mismatches}
    assert bad["mode: bit width"] == (2, 3) and bad["level: bit position"] == (3, 4)


def test_nested_and_anonymous_members(header):
    ns = ct.cdef(HEADER)
    report = ct.verify(ns.outer, "struct outer", headers=header)
    names = [r[0] for r in report.rows]
    assert "in.a: offset" in names and "in.f: offset" in names and "tail: offset" in names


def test_missing_member_is_reported(header):
    class Extra(ct.Structure):
        _fields_ = [("id", ct.c_int), ("nonexistent", ct.c_int)]
    with pytest.raises(ct.LayoutMismatch) as info:
        ct.verify(Extra, "struct record", headers=header)
    assert ("nonexistent: member", "present", "absent") in info.value.report.mismatches


def test_system_header_types():
    ns = ct.cdef("#include <sys/stat.h>\n#include <time.h>\n#include <zlib.h>\n")
    assert ct.verify(ns.struct("stat"), "struct stat", headers="sys/stat.h").ok
    assert ct.verify(ns.struct("tm"), "struct tm", headers="<time.h>").ok
    assert ct.verify(ns.z_stream, "z_stream", headers="zlib.h").ok
    assert ct.verify(ct.c_size_t, "size_t", headers="stddef.h").ok
    with pytest.raises(ct.LayoutMismatch):
        ct.verify(ct.c_int, "size_t", headers="stddef.h")


def test_verify_function_catches_wrong_argtype():
    libz = ct.CDLL("libz.so.1")
    f = libz.compress
    f.argtypes = [ct.c_char_p, ct.POINTER(ct.c_ulong), ct.c_char_p, ct.c_int]  # uLong as int
    f.restype = ct.c_int
    with pytest.raises(ct.LayoutMismatch) as info:
        ct.verify_function(f, "compress", headers=["zlib.h"])
    bad = {r[0]: r[1:] for r in info.value.report.mismatches}
    assert bad == {"argument 4 (uLong): size": (4, 8), "argument 4 (uLong): alignment": (4, 8),
                   "argument 4 (uLong): class": ("int", "uint")}
    f.argtypes = [ct.c_char_p, ct.POINTER(ct.c_ulong), ct.c_char_p, ct.c_ulong]
    assert ct.verify_function(f, "compress", headers=["zlib.h"]).ok


def test_verify_function_result_count_and_variadic(header):
    libc = ct.CDLL("libc.so.6")
    f = libc.strlen
    f.argtypes = [ct.c_char_p]          # restype left as int: C says size_t
    with pytest.raises(ct.LayoutMismatch) as info:
        ct.verify_function(f, headers="string.h")
    assert ("result (size_t): size", 4, 8) in info.value.report.mismatches
    p = libc.snprintf
    p.argtypes = [ct.c_char_p, ct.c_size_t, ct.c_char_p]
    with pytest.raises(ct.LayoutMismatch) as info:
        ct.verify_function(p, headers="stdio.h")
    assert ("variadic (...)", "no", "yes") in info.value.report.mismatches
    p.argtypes = [ct.c_char_p, ct.c_size_t, ct.c_char_p, ct.VARIADIC]
    assert ct.verify_function(p, headers="stdio.h").ok
    io = ct.cdef("#include <stdio.h>\n", libc)
    assert ct.verify_function(io.fopen, headers="stdio.h").ok


def test_cli_verify_exit_status(tmp_path, header):
    (tmp_path / "mytypes.py").write_text(
        "import ferrotypes as ct\n"
        "class good(ct.Structure):\n"
        "    _fields_ = [('id', ct.c_int), ('length', ct.c_size_t), ('name', ct.c_char_p),"
        " ('weight', ct.c_double)]\n"
        "class bad(ct.Structure):\n"
        "    _fields_ = [('id', ct.c_int), ('length', ct.c_int)]\n")
    base = [sys.executable, "-m", "ferrotypes", "verify"]
    ok = subprocess.run(base + ["mytypes:good", "--header", header, "--c-name", "struct record"],
                        capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0 and "agrees with C" in ok.stdout, ok.stderr
    bad = subprocess.run(base + ["mytypes:bad", "--header", header, "--c-name", "struct record"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 1 and "length: size" in bad.stdout and "MISMATCH" in bad.stdout

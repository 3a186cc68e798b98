"""Checked mode (docs/guide/checked.md): ctypes' crashes become Python exceptions.

Every crash case runs in a subprocess (a regression would kill the test run otherwise),
asserts the exception and its message, and asserts that the process carries on afterwards
(prints "alive" and exits 0). The test library `tests/clib/checked.c` is compiled here.
"""

import gc
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import ferrotypes
from ferrotypes import (CDLL, CFUNCTYPE, POINTER, c_char, c_double, c_int, c_uint, c_void_p,
                        sizeof, Structure, Union)
from support import compile_shared

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def checked_lib(tmp_path_factory):
    so = tmp_path_factory.mktemp("checkedlib") / "libchecked.so"
    return compile_shared(HERE / "clib" / "checked.c", so, "-O0")


PRELUDE = """
import gc, sys
import ferrotypes
from ferrotypes import *
lib = CDLL({lib!r})
libc = CDLL(None)
"""


def run(code, lib=None, checked=True, env_extra=None, expect_alive=True):
    env = dict(os.environ)
    env.pop("FERROTYPES_CHECKED", None)
    if checked:
        env["FERROTYPES_CHECKED"] = "1"
    env.update(env_extra or {})
    source = PRELUDE.format(lib=lib) + textwrap.dedent(code)
    if expect_alive:
        source += "\nprint('alive')\n"
    proc = subprocess.run([sys.executable, "-c", source], env=env, capture_output=True, text=True, timeout=60)
    if expect_alive:
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.rstrip().endswith("alive"), proc.stdout
    return proc


def expect(exc, message):
    """Python source: assert that the statement in `{}` raises `exc` with `message`."""
    return textwrap.dedent(f"""
        try:
            {{}}
        except {exc} as e:
            assert {message!r} in str(e), str(e)
        else:
            raise AssertionError("no {exc}")
    """)


def raises(stmt, exc, message):
    return expect(exc, message).format(stmt)


# --- memory from Python -----------------------------------------------------------------


def test_string_at_address_1(checked_lib):
    run(
        raises("string_at(1)", "ValueError", "address 0x0000000000000001 is not readable")
        + raises("string_at(1, 16)", "ValueError", "address 0x0000000000000001 is not readable")
        + raises("wstring_at(1)", "ValueError", "is not readable")
        + raises("wstring_at(1, 3)", "ValueError", "is not readable")
        + "assert string_at(create_string_buffer(b'ok')) == b'ok'\n"
        + "assert wstring_at(create_unicode_buffer('ok')) == 'ok'\n"
        + "assert string_at(create_string_buffer(b'abc'), 2) == b'ab'\n",
        checked_lib,
    )


MMAP = """
libc.mmap.restype = c_void_p
libc.mmap.argtypes = [c_void_p, c_size_t, c_int, c_int, c_int, c_long]
libc.munmap.argtypes = [c_void_p, c_size_t]
libc.mprotect.argtypes = [c_void_p, c_size_t, c_int]
PAGE = 4096
def page(prot=3):
    addr = libc.mmap(None, PAGE, prot, 0x22, -1, 0)   # MAP_PRIVATE | MAP_ANONYMOUS
    assert addr and addr != 2**64 - 1
    return addr
"""


def test_contents_and_indexing_on_an_unmapped_page(checked_lib):
    run(
        MMAP
        + """
addr = page()
p = cast(addr, POINTER(c_int))
p[0] = 41
assert p.contents.value == 41
assert libc.munmap(addr, PAGE) == 0
"""
        + raises("p.contents", "ValueError", "is not readable")
        + raises("p[0]", "ValueError", "is not readable")
        + raises("p[3] = 1", "ValueError", "is not writable")
        + raises("POINTER(c_double).from_address(addr)", "ValueError", "is not readable")
        + "print(hex(addr))\n",
        checked_lib,
    )


@pytest.mark.parametrize("probe", ["fault", "vm", "maps"])
def test_each_memory_probe(checked_lib, probe):
    # fault: touch under the fault guard (the default); vm: process_vm_readv/writev;
    # maps: /proc/self/maps (a fresh mapping is a cache miss, so it is seen).
    run(
        MMAP
        + f"assert ferrotypes._ctypes._checked_probe() == {probe!r}\n"
        + """
ro = page(1)
gone = page()
libc.munmap(gone, PAGE)
buf = create_string_buffer(b'abc', 16)
assert string_at(buf) == b'abc' and string_at(ro, 4) == b'\\0' * 4
memset(buf, 1, 16)
"""
        + raises("string_at(gone)", "ValueError", "is not readable")
        + raises("string_at(gone + 100, 16)", "ValueError", "is not readable")
        + raises("memset(ro, 0, 1)", "ValueError", "is not writable")
        + raises("cast(gone, POINTER(c_int))[0]", "ValueError", "is not readable"),
        checked_lib,
        env_extra={"FERROTYPES_CHECKED_PROBE": probe},
    )


def test_message_names_the_first_bad_address(checked_lib):
    proc = run(
        MMAP
        + """
addr = page()
libc.munmap(addr, PAGE)
try:
    (c_char * 8).from_address(addr + 5)
except ValueError as e:
    print(e)
""",
        checked_lib,
    )
    first = proc.stdout.splitlines()[0]
    assert first.startswith("address 0x") and first.endswith(" is not readable")
    assert int(first.split()[1], 16) % 4096 == 5


def test_from_address_cast_and_in_dll(checked_lib):
    run(
        raises("c_int.from_address(8)", "ValueError", "address 0x0000000000000008 is not readable")
        + raises("cast(1, POINTER(c_int)).contents", "ValueError", "address 0x0000000000000001 is not readable")
        + raises("cast(16, POINTER(c_double))[0]", "ValueError", "address 0x0000000000000010 is not readable")
        + raises("cast(c_void_p(24), POINTER(c_int))[0] = 3", "ValueError", "is not writable")
        + raises("cast(1, c_char_p).value", "ValueError", "address 0x0000000000000001 is not readable")
        + raises("cast(2, c_wchar_p).value", "ValueError", "address 0x0000000000000002 is not readable")
        + "assert cast(create_string_buffer(b'hi'), c_char_p).value == b'hi'\n"
        + "memmove(None, None, 0); memset(0, 0, 0)\n"
        + "assert c_int.in_dll(lib, 'exported_value').value == 7\n"
        + "v = c_int(5); assert c_int.from_address(addressof(v)).value == 5\n",
        checked_lib,
    )


def test_memmove_and_memset(checked_lib):
    run(
        MMAP
        + """
buf = create_string_buffer(32)
ro = page(1)                                    # PROT_READ
"""
        + raises("memmove(buf, 1, 10)", "ValueError", "address 0x0000000000000001 is not readable")
        + raises("memmove(ro, buf, 10)", "ValueError", "is not writable")
        + raises("memset(ro, 0, 10)", "ValueError", "is not writable")
        + raises("memset(8, 0, 10)", "ValueError", "address 0x0000000000000008 is not writable")
        + raises("libc.memset(c_void_p(ro), 0, 10)", "ValueError", "is not writable")
        + """
memset(buf, ord('x'), 4)
memmove(addressof(buf) + 8, buf, 4)
assert buf.raw[:12] == b'xxxx\\0\\0\\0\\0xxxx'
memmove(buf, ro, 8)                               # reading a read-only page is fine
""",
        checked_lib,
    )


# --- faults inside foreign calls --------------------------------------------------------


def test_c_function_dereferencing_null(checked_lib):
    run(
        """
lib.read_int.argtypes = [POINTER(c_int)]
lib.write_int.argtypes = [POINTER(c_int), c_int]
"""
        + raises("lib.read_int(None)", "OSError", "access violation reading 0x0000000000000000")
        + raises("lib.write_int(None, 1)", "OSError", "access violation writing 0x0000000000000000")
        + raises("lib.read_int(cast(4096 * 3, POINTER(c_int)))", "OSError", "access violation reading 0x0000000000003000")
        + """
v = c_int(5)
assert lib.read_int(byref(v)) == 5            # the library still works
lib.write_int(byref(v), 9); assert v.value == 9
""",
        checked_lib,
    )


def test_fault_is_an_oserror_with_the_documented_text(checked_lib):
    proc = run(
        """
lib.read_int.argtypes = [c_void_p]
try:
    lib.read_int(None)
except OSError as e:
    print(type(e).__name__, e)
""",
        checked_lib,
    )
    assert proc.stdout.startswith("OSError access violation reading 0x0000000000000000 (SIGSEGV inside a foreign function call")


def test_stack_overflow_in_c_is_caught_twice(checked_lib):
    # The handler runs on the alternate signal stack; the second fault proves the signal
    # was unblocked after the first jump.
    run(
        raises("lib.recurse_forever(0)", "OSError", "access violation")
        + raises("lib.recurse_forever(0)", "OSError", "access violation"),
        checked_lib,
    )


def test_fault_on_another_thread(checked_lib):
    run(
        """
import threading
lib.read_int.argtypes = [c_void_p]
seen = []
def worker():
    try:
        lib.read_int(None)
    except OSError as e:
        seen.append(str(e))
threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert len(seen) == 4 and all('access violation reading' in s for s in seen), seen
""",
        checked_lib,
    )


def test_faults_on_eight_threads_beside_calls_and_callbacks(checked_lib):
    # The guard under load: 8 threads fault inside foreign calls and in guarded reads
    # (string_at, contents of a pointer to an inaccessible page) at once, while 2 threads
    # sort through libc's qsort with a Python comparator and others call plain functions.
    # Every fault must come back to its own thread as its own OSError; the normal calls
    # must all give the right answers.
    run(
        """
import mmap, threading
lib.read_int.argtypes = [c_void_p]
lib.write_int.argtypes = [c_void_p, c_int]
lib.write_int.restype = None
libc.abs.argtypes = [c_int]
libc.mmap.restype = c_void_p
libc.mmap.argtypes = [c_void_p, c_size_t, c_int, c_int, c_int, c_long]
hole = libc.mmap(None, mmap.PAGESIZE, 0, 0x22, -1, 0)   # PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS
assert hole not in (None, 2**64 - 1)
ROUNDS = 200
errors = []
def faulting(k):
    try:
        for i in range(ROUNDS):
            addr = hole + (k * 64 + i) % mmap.PAGESIZE
            # A fault inside a foreign call is an OSError; a guarded read by ferrotypes
            # itself is refused with a ValueError before it happens.
            for stmt, exc, text in ((lambda: lib.read_int(addr), OSError, "access violation reading"),
                                    (lambda: lib.write_int(addr, i), OSError, "access violation writing"),
                                    (lambda: string_at(addr, 8), ValueError, "is not readable"),
                                    (lambda: cast(addr, POINTER(c_int)).contents.value, ValueError, "is not readable")):
                try:
                    stmt()
                except exc as e:
                    assert text in str(e) and ("%x" % addr) in str(e).lower(), str(e)
                else:
                    raise AssertionError("no fault at %#x" % addr)
    except BaseException as e:
        errors.append(repr(e))
CMP = CFUNCTYPE(c_int, POINTER(c_int), POINTER(c_int))
libc.qsort.argtypes = [c_void_p, c_size_t, c_size_t, CMP]
libc.qsort.restype = None
def sorting(k):
    try:
        cmp = CMP(lambda a, b: (a[0] > b[0]) - (a[0] < b[0]))
        for i in range(ROUNDS // 4):
            data = (c_int * 50)(*[(j * 7919 + k + i) % 101 for j in range(50)])
            libc.qsort(data, 50, sizeof(c_int), cmp)
            assert list(data) == sorted(data), list(data)
    except BaseException as e:
        errors.append(repr(e))
def calling(k):
    try:
        v = c_int(k)
        for i in range(ROUNDS * 4):
            lib.write_int(addressof(v), i)
            assert lib.read_int(addressof(v)) == i
            assert libc.abs(-i) == i
    except BaseException as e:
        errors.append(repr(e))
threads = ([threading.Thread(target=faulting, args=(k,)) for k in range(8)]
           + [threading.Thread(target=sorting, args=(k,)) for k in range(2)]
           + [threading.Thread(target=calling, args=(k,)) for k in range(2)])
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
""",
        checked_lib,
    )


def test_fault_inside_a_callback_inside_a_foreign_call(checked_lib):
    # C -> Python callback -> foreign call that faults: the inner call's guard catches it,
    # the callback returns normally, and so does the outer call.
    run(
        """
lib.read_int.argtypes = [c_void_p]
lib.store_callback.argtypes = [CFUNCTYPE(c_int, c_int)]
def cb(x):
    try:
        lib.read_int(None)
    except OSError:
        return x + 100
    return -1
keep = CFUNCTYPE(c_int, c_int)(cb)
lib.store_callback(keep)
assert lib.call_stored(1) == 101
""",
        checked_lib,
    )


def test_checked_context_manager_guards_only_inside(checked_lib):
    run(
        """
lib.read_int.argtypes = [c_void_p]
assert not ferrotypes.is_checked()
with ferrotypes.checked():
    assert ferrotypes.is_checked()
    try:
        lib.read_int(None)
    except OSError as e:
        print('caught', e)
assert not ferrotypes.is_checked()
""",
        checked_lib,
        checked=False,
    )


def test_fault_outside_checked_mode_still_kills_with_sigsegv(checked_lib):
    proc = run("string_at(1)", checked_lib, checked=False, expect_alive=False)
    assert proc.returncode == -signal.SIGSEGV


def test_fault_outside_a_foreign_call_keeps_the_default_action(checked_lib):
    # Checked mode installed its handler, but a fault in the interpreter itself (not in a
    # foreign call) is passed on: default action, killed by SIGSEGV.
    proc = run("import faulthandler\nfaulthandler._sigsegv()", checked_lib, expect_alive=False)
    assert proc.returncode == -signal.SIGSEGV


def test_fault_outside_a_foreign_call_chains_to_faulthandler(checked_lib):
    code = """
import faulthandler
faulthandler.enable()
with ferrotypes.checked():
    faulthandler._sigsegv()
"""
    proc = run(code, checked_lib, checked=False, expect_alive=False)
    assert proc.returncode == -signal.SIGSEGV
    assert "Fatal Python error: Segmentation fault" in proc.stderr


def test_kill_with_sigsegv_is_not_swallowed(checked_lib):
    proc = run("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", checked_lib, expect_alive=False)
    assert proc.returncode == -signal.SIGSEGV


# --- dead callbacks ---------------------------------------------------------------------

DEAD_CALLBACK = """
PROTO = CFUNCTYPE(c_int, c_int)
lib.store_callback.argtypes = [PROTO]
def doubler(x):
    return 2 * x
cb = PROTO(doubler)
lib.store_callback(cb)
assert lib.call_stored(21) == 42
del cb
gc.collect()
"""


def test_callback_called_after_collection_reports_and_returns_zero(checked_lib):
    run(
        DEAD_CALLBACK
        + """
reports = []
sys.unraisablehook = reports.append
assert lib.call_stored(5) == 0
assert lib.call_stored(6) == 0
assert len(reports) == 2, reports
r = reports[0]
assert isinstance(r.exc_value, RuntimeError)
text = str(r.exc_value)
assert "ctypes callback 'doubler' CFUNCTYPE(c_int, c_int) called after it was garbage collected" in text, text
assert 'The callback was created at' in text and 'File "<string>", line 12' in text, text
""",
        checked_lib,
    )


def test_dead_callback_report_on_stderr(checked_lib):
    proc = run(DEAD_CALLBACK + "assert lib.call_stored(5) == 0\n", checked_lib)
    # Worded as the running version's own ctypes callback reports ("while" from 3.14).
    word = "while" if sys.version_info >= (3, 14) else "on"
    assert f"Exception ignored {word} calling ctypes callback function" in proc.stderr
    assert "RuntimeError: ctypes callback 'doubler' CFUNCTYPE(c_int, c_int) called after it was garbage collected" in proc.stderr
    assert "The callback was created at" in proc.stderr and 'File "<string>"' in proc.stderr


def test_callback_made_in_checked_mode_stays_safe_after_the_scope(checked_lib):
    run(
        """
PROTO = CFUNCTYPE(c_int, c_int)
lib.store_callback.argtypes = [PROTO]
with ferrotypes.checked():
    cb = PROTO(lambda x: x)
lib.store_callback(cb)
del cb
gc.collect()
sys.unraisablehook = lambda r: print('reported:', r.exc_value)
assert lib.call_stored(5) == 0
""",
        checked_lib,
        checked=False,
    )


def test_default_mode_warns_when_a_callback_passed_to_c_is_collected(checked_lib):
    lib = CDLL(checked_lib)
    proto = CFUNCTYPE(c_int, c_int)
    lib.call_stored.argtypes = [c_int]

    def named_callback(x):
        return x

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        never_passed = proto(named_callback)
        del never_passed
        gc.collect()
        assert not [w for w in seen if issubclass(w.category, ResourceWarning)]

        cb = proto(named_callback)
        lib.store_callback(cb)
        assert lib.call_stored(4) == 4
        lib.store_callback(None)          # C forgets it before it dies: the correct order
        del cb
        gc.collect()
    msgs = [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]
    assert len(msgs) == 1, msgs
    assert "ctypes callback 'test_default_mode_warns_when_a_callback_passed_to_c_is_collected.<locals>.named_callback'" in msgs[0]
    assert "was passed to C and is being garbage collected" in msgs[0]


# --- strict signatures ------------------------------------------------------------------


def test_untyped_calls_warn_once_per_function(checked_lib):
    lib = CDLL(checked_lib)
    SignatureWarning = ferrotypes.SignatureWarning
    assert issubclass(SignatureWarning, UserWarning)
    with ferrotypes.checked(), warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        p1 = lib.static_buffer()             # no restype: a pointer truncated to an int
        lib.static_buffer()
        lib.small_int()                      # an int result: fine
        lib.identity_ll(2**40 + 1)           # a pointer-sized int without argtypes
        lib.identity_ll(2**40 + 1)
        lib.half(c_double(3.0))              # a float without argtypes
        lib.identity_ll(-3)                  # a different function object? no: same, warned
        typed = CDLL(checked_lib).identity_ll
        typed.argtypes = [ferrotypes.c_longlong]
        typed.restype = ferrotypes.c_longlong
        assert typed(2**40) == 2**40         # fully typed: silent
    sig = [w for w in seen if w.category is SignatureWarning]
    texts = [str(w.message) for w in sig]
    assert len(sig) == 3, texts
    assert texts[0].startswith("static_buffer: restype is not set") and "set restype" in texts[0]
    assert texts[1].startswith("identity_ll: argument 1 (0x10000000001) does not fit in a C int")
    assert texts[2].startswith("half: argument 1 is a floating-point value but argtypes is not set")
    assert all(w.filename == __file__ for w in sig)
    # The untyped result is still what ctypes gives: the low 32 bits.
    lib.static_buffer.restype = c_void_p
    assert p1 == ferrotypes.c_int(lib.static_buffer() & 0xFFFFFFFF).value
    assert lib.small_int() == -5


def test_untyped_calls_are_silent_outside_checked_mode(checked_lib):
    lib = CDLL(checked_lib)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        lib.static_buffer()
        lib.identity_ll(2**40)
    assert not seen


# --- the switch -------------------------------------------------------------------------


def test_checked_nests_and_decorates():
    assert not ferrotypes.is_checked()
    with ferrotypes.checked():
        with ferrotypes.checked():
            assert ferrotypes.is_checked()
        assert ferrotypes.is_checked()
    assert not ferrotypes.is_checked()

    @ferrotypes.checked()
    def f():
        return ferrotypes.is_checked()

    @ferrotypes.checked
    def g():
        """doc"""
        raise KeyError("x")

    assert f() is True
    with pytest.raises(KeyError):
        g()
    assert g.__doc__ == "doc"
    assert not ferrotypes.is_checked()
    with pytest.raises(ValueError, match="not readable"):
        with ferrotypes.checked():
            ferrotypes.string_at(1)
    assert not ferrotypes.is_checked()


def test_environment_variable(checked_lib):
    proc = run("print(ferrotypes.is_checked())", checked_lib)
    assert proc.stdout.startswith("True")
    proc = run("print(ferrotypes.is_checked())", checked_lib, checked=False)
    assert proc.stdout.startswith("False")


def test_package_keeps_attribute_specialization_and_import_cost():
    # A module-level __getattr__ stops CPython 3.11 from specializing LOAD_ATTR on the
    # module (every `ferrotypes.c_int` in a loop gets slower), so these names are real
    # attributes: proxies that load `_extras` on first use; importing ferrotypes does not.
    names = ("checked", "owned", "check_null", "check_errno_nonzero", "Struct", "TypedUnion",
             "is_checked", "SignatureWarning")
    assert all(name in vars(ferrotypes) for name in names)
    code = "import sys, ferrotypes; print('ferrotypes._extras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]
    code = ("import sys, ferrotypes\n"
            "class P(ferrotypes.Struct):\n    x: ferrotypes.c_int\n"
            "assert issubclass(P, ferrotypes.Structure) and issubclass(P, ferrotypes.Struct)\n"
            "assert isinstance(P(), ferrotypes.Struct) and not isinstance(3, ferrotypes.Struct)\n"
            "o = ferrotypes.owned(0, free=print)\n"
            "assert isinstance(o, ferrotypes.owned) and 'checked' in repr(ferrotypes.checked)\n"
            "print('ferrotypes._extras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True"]
    assert ferrotypes.SignatureWarning.__module__ == "ferrotypes"


# --- ownership and errcheck helpers -----------------------------------------------------


def test_owned_frees_exactly_once(checked_lib):
    lib = CDLL(checked_lib)
    lib.make_buffer.restype = c_void_p
    lib.make_buffer.argtypes = [ferrotypes.c_size_t]
    lib.counting_free.argtypes = [c_void_p]
    start = lib.free_count()

    o = ferrotypes.owned(lib.make_buffer(16), free=lib.counting_free)
    assert o and o.value and not o.closed
    ferrotypes.memset(o, 1, 16)                      # usable as an argument
    o.close()
    o.close()
    assert lib.free_count() == start + 1
    assert o.closed
    for use in (lambda: o.value, lambda: o.ptr, lambda: ferrotypes.memset(o, 0, 1)):
        with pytest.raises((ValueError, ferrotypes.ArgumentError), match="after close"):
            use()

    with ferrotypes.owned(lib.make_buffer(8), free=lib.counting_free) as o2:
        assert ferrotypes.string_at(o2, 8) == b"\0" * 8
    assert lib.free_count() == start + 2

    o3 = ferrotypes.owned(lib.make_buffer(8), free=lib.counting_free)
    del o3
    gc.collect()
    assert lib.free_count() == start + 3

    lib.make_buffer.restype = POINTER(c_int)
    o4 = ferrotypes.owned(lib.make_buffer(8), free=lib.counting_free)
    assert o4.ptr[0] == 0 and isinstance(o4.ptr, POINTER(c_int))
    o4.close()
    assert lib.free_count() == start + 4

    ferrotypes.owned(None, free=lib.counting_free).close()     # NULL: nothing to free
    ferrotypes.owned(0, free=lib.counting_free).close()
    assert lib.free_count() == start + 4

    lib.make_buffer.restype = c_void_p
    o5 = ferrotypes.owned(lib.make_buffer(8), free=lib.counting_free)
    address = o5.detach()
    del o5
    gc.collect()
    assert lib.free_count() == start + 4
    lib.counting_free(address)
    with pytest.raises(TypeError, match="not a copy of the string"):
        ferrotypes.owned(b"abc", free=lib.counting_free)


def test_check_null_and_check_errno_nonzero(checked_lib):
    import errno

    for use_errno in (False, True):
        lib = CDLL(checked_lib, use_errno=use_errno)
        lib.null_with_errno.restype = c_void_p
        lib.null_with_errno.errcheck = ferrotypes.check_null
        with pytest.raises(OSError) as info:
            lib.null_with_errno(errno.ENOENT)
        assert info.value.errno == errno.ENOENT
        assert str(info.value) == f"[Errno {errno.ENOENT}] null_with_errno: {os.strerror(errno.ENOENT)}"

        lib.static_buffer.restype = c_void_p
        lib.static_buffer.errcheck = ferrotypes.check_null
        assert lib.static_buffer()

        lib.fail_with_errno.errcheck = ferrotypes.check_errno_nonzero
        with pytest.raises(OSError) as info:
            lib.fail_with_errno(errno.EACCES)
        assert info.value.errno == errno.EACCES and "fail_with_errno" in str(info.value)

        lib.return_code.errcheck = ferrotypes.check_errno_nonzero
        assert lib.return_code(0) == 0
        with pytest.raises(OSError) as info:
            lib.return_code(errno.EBUSY)                 # pthread style: the result is the error
        assert info.value.errno == errno.EBUSY

    lib.null_with_errno.restype = POINTER(c_int)
    with pytest.raises(OSError):
        lib.null_with_errno(errno.EPERM)


# --- annotated structures ---------------------------------------------------------------


def _layout(cls):
    return sizeof(cls), ferrotypes.alignment(cls), [
        (f[0], getattr(cls, f[0]).offset, getattr(cls, f[0]).size) for f in cls._fields_
    ]


def test_struct_from_annotations_matches_fields():
    from typing import Annotated, ClassVar
    from ferrotypes.fields import c_int as f_int, c_double as f_double

    class Point(ferrotypes.Struct):
        x: c_int
        y: c_double

    class ClassicPoint(Structure):
        _fields_ = [("x", c_int), ("y", c_double)]

    class TypedPoint(ferrotypes.Struct):
        x: f_int
        y: f_double
        registry: ClassVar[dict] = {}

    assert issubclass(Point, Structure)
    assert Point._fields_ == [("x", c_int), ("y", c_double)]
    assert _layout(Point) == _layout(ClassicPoint) == _layout(TypedPoint)
    p = Point(1, 2.5)
    assert (p.x, p.y) == (1, 2.5) and isinstance(p.x, int)
    assert bytes(p) == bytes(ClassicPoint(1, 2.5)) == bytes(TypedPoint(1, 2.5))

    class Rect(ferrotypes.Struct):
        origin: Point
        corners: c_int * 4
        next: POINTER(Point)

    class ClassicRect(Structure):
        _fields_ = [("origin", Point), ("corners", c_int * 4), ("next", POINTER(Point))]

    assert _layout(Rect) == _layout(ClassicRect)
    r = Rect(Point(3, 4.0))
    assert r.origin.x == 3

    class Flags(ferrotypes.Struct):
        _pack_ = 1
        a: Annotated[c_uint, 3]
        b: Annotated[int, c_uint, 5]
        c: Annotated[f_int, 7]
        d: c_char

    class ClassicFlags(Structure):
        _pack_ = 1
        _fields_ = [("a", c_uint, 3), ("b", c_uint, 5), ("c", c_int, 7), ("d", c_char)]

    assert _layout(Flags) == _layout(ClassicFlags)
    f = Flags(5, 17, -3, b"z")
    assert (f.a, f.b, f.c, f.d) == (5, 17, -3, b"z")
    assert bytes(f) == bytes(ClassicFlags(5, 17, -3, b"z"))

    class Either(ferrotypes.TypedUnion):
        i: c_int
        d: c_double

    assert issubclass(Either, Union) and sizeof(Either) == 8
    assert Either(d=1.0).i == 0

    class Point3(Point):          # subclass: adds its own annotated fields after the base's
        z: c_int

    assert sizeof(Point3) == sizeof(ClassicPoint) + 8 and Point3(1, 2.0, 3).z == 3


def test_struct_string_annotations_and_errors():
    ns = {}
    exec(
        textwrap.dedent(
            """
            from __future__ import annotations
            import ferrotypes
            from ferrotypes import c_short, c_long
            class Inner(ferrotypes.Struct):
                a: c_short
            class Outer(ferrotypes.Struct):
                inner: Inner
                b: c_long
            """
        ),
        ns,
    )
    Outer = ns["Outer"]
    assert [f[0] for f in Outer._fields_] == ["inner", "b"] and sizeof(Outer) == 16

    with pytest.raises(TypeError, match="field 'x': annotation <class 'int'> is not a ctypes type"):

        class Bad(ferrotypes.Struct):
            x: int

    class Explicit(ferrotypes.Struct):        # _fields_ given: annotations are left alone
        _fields_ = [("a", c_int)]
        a: int

    assert Explicit._fields_ == [("a", c_int)]

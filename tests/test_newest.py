"""The newest ctypes on every Python (issue #16).

* Every public name of the newest CPython's ``ctypes`` and ``ctypes.util`` (3.15) is in
  ``ferrotypes`` on every version, with its newest (additive) semantics: ``c_time_t``,
  ``SIZEOF_TIME_T``, ``CField`` and its attributes, ``memoryview_at``, ``util.dllist``,
  ``py_object[...]``, ``__pointer_type__``, the complex types.
* What a newer version *changed* keeps each interpreter's own behaviour unless the process
  opts in with ``FERROTYPES_BEHAVIOR`` (``3.N`` or ``newest``): then messages, warnings,
  stricter checks and buffer formats are the newer version's. Those run in subprocesses.
"""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

import ferrotypes as ct
import ferrotypes.util

# dir(ctypes) and dir(ctypes.util) of CPython 3.15, public names only, Linux.
NEWEST_CTYPES = """
ARRAY ArgumentError Array BigEndianStructure BigEndianUnion CDLL CFUNCTYPE CField
DEFAULT_MODE LibraryLoader LittleEndianStructure LittleEndianUnion POINTER PYFUNCTYPE PyDLL
RTLD_GLOBAL RTLD_LOCAL SIZEOF_TIME_T Structure Union addressof alignment byref c_bool
c_buffer c_byte c_char c_char_p c_double c_double_complex c_float c_float_complex c_int
c_int16 c_int32 c_int64 c_int8 c_long c_longdouble c_longdouble_complex c_longlong c_short
c_size_t c_ssize_t c_time_t c_ubyte c_uint c_uint16 c_uint32 c_uint64 c_uint8 c_ulong
c_ulonglong c_ushort c_void_p c_voidp c_wchar c_wchar_p cast cdll create_string_buffer
create_unicode_buffer get_errno memmove memoryview_at memset pointer py_object pydll
pythonapi resize set_errno sizeof string_at util wstring_at
""".split()
NEWEST_UTIL = ["dllist", "find_library", "test"]


def test_every_public_name_of_the_newest_ctypes():
    missing = [n for n in NEWEST_CTYPES if not hasattr(ct, n)]
    assert missing == []
    assert [n for n in NEWEST_UTIL if not hasattr(ferrotypes.util, n)] == []


@pytest.mark.skipif(sys.version_info < (3, 15), reason="the list above is 3.15's own")
def test_the_list_is_the_newest_stdlibs():
    import ctypes
    import ctypes.util
    import types
    # Submodules other tests imported (ctypes.wintypes, ...) are attributes too; util is
    # imported by ctypes itself.
    public = [n for n in dir(ctypes) if not n.startswith("_")
              and (n == "util" or not isinstance(getattr(ctypes, n), types.ModuleType))]
    assert sorted(public) == sorted(NEWEST_CTYPES)
    assert [n for n in NEWEST_UTIL if n in dir(ctypes.util)] == NEWEST_UTIL


def test_time_t_and_time():
    assert ct.sizeof(ct.c_time_t) == ct.SIZEOF_TIME_T == 8
    libc = ct.CDLL("libc.so.6")
    libc.time.argtypes = [ct.POINTER(ct.c_time_t)]
    libc.time.restype = ct.c_time_t
    out = ct.c_time_t()
    assert libc.time(ct.byref(out)) == out.value > 1_600_000_000


def test_cfield_is_public_with_its_attributes():
    class S(ct.Structure):
        _fields_ = [("a", ct.c_char), ("b", ct.c_uint32, 5), ("c", ct.c_double)]
    assert isinstance(S.a, ct.CField) and type(S.b) is ct.CField
    assert (S.b.name, S.b.type, S.b.byte_offset, S.b.byte_size) == ("b", ct.c_uint32, 0, 4)
    assert (S.b.bit_offset, S.b.bit_size, S.b.is_bitfield, S.b.is_anonymous) == (8, 5, True, False)
    assert (S.c.offset, S.c.size, S.c.bit_size, S.c.is_bitfield) == (8, 8, 64, False)


def test_memoryview_at():
    buf = ct.create_string_buffer(b"abcd")
    view = ct.memoryview_at(buf, 4)
    view[0] = ord("z")
    assert buf.value == b"zbcd" and not view.readonly
    assert ct.memoryview_at(ct.addressof(buf), 2, readonly=True).readonly
    with pytest.raises(ValueError):
        ct.memoryview_at(buf, -1)


def test_dllist():
    names = ferrotypes.util.dllist()
    assert "" in names or names[0] == ""  # the main program
    assert any("libc.so" in n for n in names)


def test_generic_py_object():
    alias = ct.py_object[int]
    assert alias.__origin__ is ct.py_object and alias.__args__ == (int,)


def test_pointer_type_attribute():
    class Point(ct.Structure):
        _fields_ = [("x", ct.c_int)]
    with pytest.raises(AttributeError):
        Point.__pointer_type__
    lp = ct.POINTER(Point)
    assert Point.__pointer_type__ is lp
    # Setting it is what POINTER() returns from then on.
    class Other(ct.Structure):
        _fields_ = [("y", ct.c_int)]
    mine = type("LP_Other_mine", (ct._Pointer,), {"_type_": Other})
    Other.__pointer_type__ = mine
    assert ct.POINTER(Other) is mine


def run_with_behavior(behavior, source):
    env = dict(os.environ, FERROTYPES_BEHAVIOR=behavior)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(source)], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


OBSERVE = """
    import json, warnings
    warnings.simplefilter("always")
    import ferrotypes as ct

    def outcome(thunk):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            try:
                result = ["ok", repr(thunk())]
            except Exception as exc:
                result = [type(exc).__name__, str(exc)]
        return result + [str(w.message) for w in seen]

    class S(ct.Structure):
        _fields_ = [("a", ct.c_char), ("b", ct.c_int)]

    class P(ct.Structure):
        _pack_ = 1
        _fields_ = [("a", ct.c_uint8, 4), ("b", ct.c_uint16, 12)]

    out = {
        "behavior": list(ct.behavior()),
        "char_p": outcome(lambda: ct.c_char_p.from_param(5)),
        "int": outcome(lambda: ct.c_int.from_param("x")),
        "library": outcome(lambda: ct.cdll.ferrotypes_no_such_library)[0],
        "cfield": repr(S.b),
        "format": memoryview(S()).format,
        "complex": [ct.c_double_complex._type_, memoryview(ct.c_double_complex()).format],
        "SetPointerType": hasattr(ct, "SetPointerType"),
        "version": outcome(lambda: ct.__version__),
        "pointer_str": outcome(lambda: ct.POINTER("incomplete_name").__name__),
        "pack": [ct.sizeof(P)],
    }
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        class Q(ct.Structure):
            _pack_ = 1
            _fields_ = [("a", ct.c_uint8, 4), ("b", ct.c_uint16, 12)]
    out["pack"] += [ct.sizeof(Q), [str(w.message)[:40] for w in seen]]
    print(json.dumps(out))
"""

NEWEST = {
    "behavior": [3, 15],
    "char_p": ["TypeError", "'int' object cannot be interpreted as ctypes.c_char_p"],
    "int": ["TypeError", "'str' object cannot be interpreted as an integer"],
    "library": "AttributeError",
    "cfield": "<ctypes.CField 'b' type=c_int, ofs=4, size=4>",
    "format": "T{<c:a:3x<i:b:}",
    "complex": ["Zd", "<Zd"],
    "SetPointerType": False,
    "version": ["ok", "'1.1.0'",
                "'__version__' is deprecated and slated for removal in Python 3.20"],
    "pointer_str": ["ok", "'LP_incomplete_name'",
                    "'ctypes.POINTER with string' is deprecated and slated for removal in Python 3.19"],
    # _pack_ without _layout_ means MSVC's rules from 3.14, with a warning.
    "pack": [3, 3, ["Due to '_pack_', the 'Q' Structure will "]],
}


def test_opting_in_to_the_newest_behaviour():
    seen = run_with_behavior("newest", OBSERVE)
    assert {k: seen[k] for k in NEWEST} == NEWEST


def test_each_version_keeps_its_own_behaviour_by_default():
    seen = run_with_behavior("", OBSERVE)
    assert seen["behavior"] == list(sys.version_info[:2])
    if sys.version_info >= (3, 15):
        assert seen == NEWEST
        return
    # Before 3.15 at least these differ from the newest.
    assert seen["complex"] != NEWEST["complex"] or sys.version_info < (3, 14)
    assert seen["SetPointerType"] and seen["version"] == ["ok", "'1.1.0'"]
    if sys.version_info < (3, 14):
        assert seen["cfield"] == "<Field type=c_int, ofs=4, size=4>"
        assert seen["pack"] == [2, 2, []]   # GCC's rules for _pack_, no warning
        assert seen["complex"] == ["Zd", "<Zd"]  # no complex types of its own: 3.15's codes
    if sys.version_info < (3, 12):
        assert seen["int"] == ["TypeError", "wrong type"]
        assert seen["library"] == "OSError"
        assert seen["format"] == "T{<c:a:<i:b:}"


def test_an_intermediate_version():
    seen = run_with_behavior("3.13", OBSERVE)
    assert seen["behavior"] == list(max(sys.version_info[:2], (3, 13)))
    assert seen["char_p"] == NEWEST["char_p"]
    if sys.version_info < (3, 14):
        assert seen["cfield"] == "<Field type=c_int, ofs=4, size=4>"
        assert seen["SetPointerType"]


@pytest.mark.parametrize("value", ["3.16", "2.7", "yes"])
def test_bad_behavior_values_are_refused(value):
    env = dict(os.environ, FERROTYPES_BEHAVIOR=value)
    proc = subprocess.run([sys.executable, "-c", "import ferrotypes"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "FERROTYPES_BEHAVIOR must be 'newest' or a version from 3.11 to 3.15" in proc.stderr


def test_behaviour_never_goes_below_the_interpreter():
    seen = run_with_behavior("3.11", "import json, ferrotypes; print(json.dumps(ferrotypes.behavior()))")
    assert seen == list(sys.version_info[:2])


def test_full_mode_has_the_newest_api():
    code = textwrap.dedent("""
        import ferrotypes, json
        ferrotypes.install()
        import ctypes, ctypes.util
        # memoryview_at does not keep the memory alive: the buffer must outlive the view.
        buf = ctypes.create_string_buffer(b"ab")
        print(json.dumps([ctypes.c_double_complex(1j).value.imag, ctypes.sizeof(ctypes.c_time_t),
                          ctypes.CField.__name__, bytes(ctypes.memoryview_at(buf, 2)).decode(),
                          callable(ctypes.util.dllist), str(ctypes.py_object[int])]))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "FERROTYPES_BEHAVIOR"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [1.0, 8, "CField", "ab", True, "ferrotypes.py_object[int]"]

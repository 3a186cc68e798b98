"""PEP 578 audit events (``crates/ferrotypes-py/src/interp/audit.rs``).

ferrotypes raises the ``ctypes.*`` events of CPython's ``_ctypes``, with the same arguments,
before the action they announce: a hook that raises stops the action. An audit hook cannot
be removed, so each case runs in a fresh interpreter: it imports the module under test,
does its set-up, installs a hook recording every ``ctypes.*`` event, runs the action and
prints the events, with addresses and objects normalised so that the two modules' outputs
can be compared.

The stock comparison runs the same case with the stdlib ctypes in the same interpreter.
Before 3.14 CPython raises ``ctypes.call_function`` only from ``_ctypes.call_function``;
from 3.14 on (gh-115322) from every foreign call. A change in behaviour: ferrotypes
follows the process's behaviour version, so before 3.14 ordinary calls raise no event (as
stock), and with ``FERROTYPES_BEHAVIOR=3.14`` (the opt-in to newer behaviour) every call
does, on every version. The per-call cases therefore run twice: as the interpreter's own
behaviour, compared with stock, and opted in to 3.14's, against the expected events.
"""

import ast
import os
import subprocess
import sys
import textwrap

import pytest

from support import compile_shared

STOCK_CALLS_AUDITED = sys.version_info >= (3, 14)
# The environment of a child that behaves as 3.14 (every call audited) on any version.
AS_314 = {**os.environ, "FERROTYPES_BEHAVIOR": "3.14"}
# The environment of a child with the interpreter's own behaviour.
OWN = {k: v for k, v in os.environ.items() if k != "FERROTYPES_BEHAVIOR"}

# Runs in the child: `MODULE`, `SETUP` and `ACTION` are filled in.
CHILD = r'''
import sys
{import_line}
import _ctypes as _stock_ctypes_ext
if {want_stock} and "ferrotypes" in (getattr(ctypes, "__file__", "") or ""):
    print("NOT-STOCK")
    raise SystemExit(0)
exec("from %s import *" % ctypes.__name__)
_ctypes = sys.modules[ctypes.__name__ + "._ctypes"] if ctypes.__name__ != "ctypes" else _stock_ctypes_ext
libc = ctypes.CDLL(None)
{setup}
events = []
def _hook(event, args):
    if event.startswith("ctypes."):
        events.append((event, args))
sys.addaudithook(_hook)
{action}
def _norm(x):
    if isinstance(x, bool) or x is None or isinstance(x, (str, bytes)):
        return x
    if isinstance(x, int):
        return x if -65536 < x < 65536 else "ADDR"
    if isinstance(x, tuple):
        return tuple(_norm(i) for i in x)
    return "<%s>" % type(x).__name__
print(repr([(e, _norm(a)) for e, a in events]))
'''


def events(action, setup="", stock=False, env=None):
    """The normalised events of `action` (after `setup`), with ferrotypes or the stdlib
    ctypes (the interpreter's own behaviour unless `env` says otherwise); None when the
    stdlib module is ferrotypes itself (installed)."""
    code = CHILD.format(
        import_line="import ctypes" if stock else "import ferrotypes as ctypes",
        want_stock=stock,
        setup=textwrap.dedent(setup),
        action=textwrap.dedent(action),
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env or OWN)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.strip().splitlines()
    if out and out[-1] == "NOT-STOCK":
        return None
    return ast.literal_eval(out[-1])


def without_calls(evs):
    return [e for e in evs if e[0] != "ctypes.call_function"]


# (name, setup, action, expected ferrotypes events, how to compare with stock)
# compare: "all" (every event), "no-calls" (per-call call_function events, raised from
# behaviour 3.14 on), "3.14" (the same, and stock has the API only from 3.14), None (no
# comparison).
CASES = [
    ("cdll", "", "ctypes.CDLL(None)", [("ctypes.dlopen", (None,))], "all"),
    ("dlopen-path", "import os; name = os.path.realpath('/proc/self/exe')",
     "try:\n    ctypes.CDLL(name)\nexcept OSError:\n    pass",
     None, "all"),
    ("attribute", "", "libc.abs", [("ctypes.dlsym", ("<CDLL>", "abs"))], "all"),
    ("item", "", "libc['labs']", [("ctypes.dlsym", ("<CDLL>", "labs"))], "all"),
    ("missing", "", "try:\n    libc.no_such_function_here\nexcept AttributeError:\n    pass",
     [("ctypes.dlsym", ("<CDLL>", "no_such_function_here"))], "all"),
    ("prototype", "proto = CFUNCTYPE(c_int, c_int)", "proto(('abs', libc))",
     [("ctypes.dlsym", ("<CDLL>", "abs"))], "all"),
    ("bytes-name", "proto = CFUNCTYPE(c_int, c_int)", "proto((b'abs', libc))",
     [("ctypes.dlsym", ("<CDLL>", "abs"))], "all"),
    ("fast-lane-call", "f = libc.abs; f.argtypes = [c_int]; f.restype = c_int; f(1)",
     "f(-5); f(-6)",
     [("ctypes.call_function", ("ADDR", (-5,))), ("ctypes.call_function", ("ADDR", (-6,)))],
     "no-calls"),
    ("untyped-call", "f = libc.labs; f(1)", "f(-3)",
     [("ctypes.call_function", ("ADDR", (-3,)))], "no-calls"),
    ("no-arguments", "f = libc.getpid; f()", "f()",
     [("ctypes.call_function", ("ADDR", ()))], "no-calls"),
    ("general-path-call", "f = libc.abs; f.argtypes = [c_int]; f.restype = c_int",
     "f(c_int(-5))", [("ctypes.call_function", ("ADDR", ("<c_int>",)))], "no-calls"),
    ("keyword-call", "proto = CFUNCTYPE(c_int, c_int); f = proto(('abs', libc), ((1, 'x'),))",
     "f(x=-4)", [("ctypes.call_function", ("ADDR", (-4,)))], "no-calls"),
    ("output-parameter",
     "proto = CFUNCTYPE(c_long, POINTER(c_long)); t = proto(('time', libc), ((2, 'out'),))",
     "t()", [("ctypes.call_function", ("ADDR", ("<c_long>",)))], "no-calls"),
    ("many-arguments", "f = libc.snprintf",
     "f(None, 0, b'%d' * 16, *range(16))",
     [("ctypes.call_function", ("ADDR", (None, 0, b"%d" * 16) + tuple(range(16))))], "no-calls"),
    ("callback-call", "cb = CFUNCTYPE(c_int, c_int)(lambda x: x)", "cb(4)",
     [("ctypes.call_function", ("ADDR", (4,)))], "no-calls"),
    ("get_errno", "", "ctypes.get_errno()", [("ctypes.get_errno", ())], "all"),
    ("set_errno", "", "ctypes.set_errno(3)", [("ctypes.set_errno", (3,))], "all"),
    ("addressof", "c = c_int(7)", "addressof(c)", [("ctypes.addressof", ("<c_int>",))], "all"),
    ("from_address", "c = c_int(7); a = addressof(c)", "c_int.from_address(a)",
     [("ctypes.cdata", ("ADDR",))], "all"),
    ("from_buffer", "b = bytearray(8)", "c_int.from_buffer(b, 4)",
     [("ctypes.cdata/buffer", ("ADDR", 8, 4)), ("ctypes.cdata", ("ADDR",))], "all"),
    ("from_buffer_copy", "", "c_int.from_buffer_copy(b'12345678', 2)",
     [("ctypes.cdata/buffer", ("ADDR", 8, 2))], "all"),
    ("in_dll", "", "c_void_p.in_dll(libc, 'environ')",
     [("ctypes.dlsym", ("<CDLL>", "environ")), ("ctypes.cdata", ("ADDR",))], "all"),
    ("string_at", "b = create_string_buffer(b'hey'); a = addressof(b)", "string_at(a, 2); string_at(a)",
     [("ctypes.call_function", ("ADDR", ("ADDR", 2))), ("ctypes.string_at", ("ADDR", 2)),
      ("ctypes.call_function", ("ADDR", ("ADDR", -1))), ("ctypes.string_at", ("ADDR", -1))],
     "no-calls"),
    ("string_at-converted", "b = create_string_buffer(b'hey')", "string_at(b, 2)",
     [("ctypes.call_function", ("ADDR", ("<c_char_Array_4>", 2))), ("ctypes.string_at", ("ADDR", 2))],
     "no-calls"),
    ("wstring_at", "w = create_unicode_buffer('hi')", "wstring_at(w, 2); wstring_at(addressof(w))",
     [("ctypes.call_function", ("ADDR", ("<c_wchar_Array_3>", 2))), ("ctypes.wstring_at", ("ADDR", 2)),
      ("ctypes.addressof", ("<c_wchar_Array_3>",)),
      ("ctypes.call_function", ("ADDR", ("ADDR", -1))), ("ctypes.wstring_at", ("ADDR", -1))],
     "no-calls"),
    ("memoryview_at", "c = c_int(7); a = addressof(c)", "memoryview_at(a, 4); memoryview_at(a, 4, True)",
     [("ctypes.call_function", ("ADDR", ("ADDR", 4, False))), ("ctypes.memoryview_at", ("ADDR", 4, 0)),
      ("ctypes.call_function", ("ADDR", ("ADDR", 4, True))), ("ctypes.memoryview_at", ("ADDR", 4, 1))],
     "3.14"),
    ("_ctypes.dlopen", "", "_ctypes.dlopen(None)", [("ctypes.dlopen", (None,))], "all"),
    ("_ctypes.dlsym", "h = _ctypes.dlopen(None)", "_ctypes.dlsym(h, 'abs')",
     [("ctypes.dlsym/handle", ("ADDR", "abs"))], "all"),
    ("_ctypes.call_function", "h = _ctypes.dlopen(None); a = _ctypes.dlsym(h, 'labs')",
     "_ctypes.call_function(a, (-3,))", [("ctypes.call_function", ("ADDR", (-3,)))], "all"),
    ("PyObj_FromPtr", "c = c_int(7); t = (1, 2)", "_ctypes.PyObj_FromPtr(id(c)); _ctypes.PyObj_FromPtr(id(t))",
     [("ctypes.PyObj_FromPtr", ("<c_int>",)), ("ctypes.PyObj_FromPtr", ((1, 2),))], "all"),
    ("buffers", "", "create_string_buffer(3); create_unicode_buffer('ab')",
     [("ctypes.create_string_buffer", (None, 3)), ("ctypes.create_unicode_buffer", ("ab", 3))], "all"),
]


@pytest.mark.parametrize("name,setup,action,expected,compare", CASES, ids=[c[0] for c in CASES])
def test_event(name, setup, action, expected, compare):
    # Behaving as 3.14 or newer: every event listed.
    if expected is not None:
        assert events(action, setup, env=AS_314) == expected
    # The interpreter's own behaviour: before 3.14 ordinary calls raise no event.
    mine = events(action, setup)
    per_call = compare in ("no-calls", "3.14")
    if expected is not None:
        assert mine == (without_calls(expected) if per_call and not STOCK_CALLS_AUDITED else expected)
    if compare is None or (compare == "3.14" and not STOCK_CALLS_AUDITED):
        return
    stock = events(action, setup, stock=True)
    if stock is None:
        pytest.skip("the stdlib ctypes is ferrotypes here (installed)")
    assert mine == stock


def test_cast_memmove_memset_like_stock():
    """cast(), memmove() and memset() are foreign calls of helper functions, in CPython
    too: their events match 3.14's (the type's metaclass aside); before 3.14, none."""
    action, setup = "cast(a, POINTER(c_int)); memmove(a, a, 0); memset(a, 0, 0)", "c = c_int(7); a = addressof(c)"
    mine = events(action, setup, env=AS_314)
    assert [e[0] for e in mine] == ["ctypes.call_function"] * 3
    if STOCK_CALLS_AUDITED:
        assert events(action, setup) == mine
        stock = events(action, setup, stock=True)
        if stock is not None:
            assert [(e, a[1][:2]) for e, a in mine] == [(e, a[1][:2]) for e, a in stock]
    else:
        assert events(action, setup) == []


def test_exact_arguments():
    """Addresses and objects are the real ones: the function's address, the instance."""
    code = textwrap.dedent("""
        import sys
        import ferrotypes as ctypes
        libc = ctypes.CDLL(None)
        f = libc.abs
        f.argtypes = [ctypes.c_int]; f.restype = ctypes.c_int; f(1)
        fa = ctypes.cast(f, ctypes.c_void_p).value
        c = ctypes.c_int(7)
        seen = []
        sys.addaudithook(lambda e, a: seen.append((e, a)) if e.startswith("ctypes.") else None)
        f(-5); f(c)
        ca = ctypes.addressof(c)
        ctypes.c_int.from_address(ca)
        b = bytearray(8)
        ctypes.c_int.from_buffer(b, 4)
        (call1, call2, addr, cdata, buf, cdata2) = seen
        assert call1 == ("ctypes.call_function", (fa, (-5,))), call1
        assert call2[1][0] == fa and call2[1][1][0] is c, call2
        assert addr == ("ctypes.addressof", (c,)), addr
        assert cdata == ("ctypes.cdata", (ca,)), cdata
        assert buf[1][1:] == (8, 4) and cdata2[1][0] == buf[1][0] + 4, (buf, cdata2)
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=AS_314)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


COUNTER_C = r"""
int counter;
int bump(int by) { counter += by; return counter; }
struct pair { long a, b; };
long bump_pair(struct pair p) { counter += 1; return p.a + p.b; }
"""

REFUSING = textwrap.dedent(r'''
    import sys
    import ferrotypes as ctypes
    from ferrotypes import c_int, c_long, Structure
    refuse = set()
    def hook(event, args):
        if event in refuse:
            raise RuntimeError("refused: " + event)
    sys.addaudithook(hook)
    def refused(fn, *args):
        try:
            fn(*args)
        except RuntimeError as e:
            assert str(e).startswith("refused"), e
            return True
        return False
''')


@pytest.fixture(scope="module")
def counter_lib(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit")
    src = d / "counter.c"
    src.write_text(COUNTER_C)
    return compile_shared(src, d / "libcounter.so")


def run_child(code, env=None):
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env or OWN)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_refused_load_is_not_loaded(counter_lib):
    out = run_child(REFUSING + textwrap.dedent(f'''
        path = {counter_lib!r}
        refuse.add("ctypes.dlopen")
        assert refused(ctypes.CDLL, path)
        assert refused(ctypes.cdll.LoadLibrary, path)
        import ferrotypes._ctypes as _ctypes
        assert refused(_ctypes.dlopen, path)
        with open("/proc/self/maps") as maps:
            assert path not in maps.read()
        refuse.clear()
        ctypes.CDLL(path)
        with open("/proc/self/maps") as maps:
            assert path in maps.read()
        print("ok")
    '''))
    assert out == "ok"


def test_refused_call_is_not_made(counter_lib):
    out = run_child(REFUSING + textwrap.dedent(f'''
        import ferrotypes._ctypes as _ctypes
        lib = ctypes.CDLL({counter_lib!r})
        counter = c_int.in_dll(lib, "counter")
        typed = lib.bump
        typed.argtypes = [c_int]
        typed.restype = c_int
        typed(0); typed(0)  # planned: the fast lane from now on
        untyped = lib["bump"]
        class Pair(Structure):
            _fields_ = [("a", c_long), ("b", c_long)]
        by_value = lib.bump_pair
        by_value.argtypes = [Pair]
        by_value.restype = c_long
        by_value(Pair(0, 0))
        counter.value = 0
        lanes = ctypes._ctypes._rs.fast_lane_calls()
        address = ctypes.cast(untyped, ctypes.c_void_p).value
        refuse.add("ctypes.call_function")
        assert refused(typed, 1)                # fast lane
        assert refused(typed, c_int(1))         # general path
        assert refused(untyped, 1)              # untyped fast lane
        assert refused(by_value, Pair(1, 2))    # fast lane with a call frame
        assert refused(_ctypes.call_function, address, (1,))
        assert counter.value == 0, counter.value
        assert ctypes._ctypes._rs.fast_lane_calls() == lanes
        refuse.clear()
        assert typed(2) == 2 and typed(c_int(3)) == 5 and untyped(4) == 9
        assert by_value(Pair(1, 2)) == 3 and counter.value == 10
        assert ctypes._ctypes._rs.fast_lane_calls() > lanes  # still the fast lane
        print("ok")
    '''), env=AS_314)
    assert out == "ok"


def test_calls_before_314_raise_no_event(counter_lib):
    """The interpreter's own behaviour before 3.14: ordinary calls raise no event (a hook
    refusing it does not stop them), `_ctypes.call_function` does, as in stock."""
    if STOCK_CALLS_AUDITED:
        pytest.skip("every call raises ctypes.call_function from 3.14 on")
    out = run_child(REFUSING + textwrap.dedent(f'''
        import ferrotypes._ctypes as _ctypes
        lib = ctypes.CDLL({counter_lib!r})
        counter = c_int.in_dll(lib, "counter")
        typed = lib.bump
        typed.argtypes = [c_int]
        typed.restype = c_int
        untyped = lib["bump"]
        address = ctypes.cast(untyped, ctypes.c_void_p).value
        refuse.add("ctypes.call_function")
        assert typed(1) == 1 and typed(c_int(1)) == 2 and untyped(1) == 3
        assert refused(_ctypes.call_function, address, (1,))
        assert counter.value == 3, counter.value
        print("ok")
    '''))
    assert out == "ok"


def test_refused_memory_access():
    out = run_child(REFUSING + textwrap.dedent('''
        c = c_int(7)
        a = ctypes.addressof(c)
        for event, fn, args in [
            ("ctypes.cdata", c_int.from_address, (a,)),
            ("ctypes.cdata/buffer", c_int.from_buffer, (bytearray(4),)),
            ("ctypes.cdata/buffer", c_int.from_buffer_copy, (bytes(4),)),
            ("ctypes.addressof", ctypes.addressof, (c,)),
            ("ctypes.string_at", ctypes.string_at, (a, 4)),
            ("ctypes.wstring_at", ctypes.wstring_at, (a, 1)),
            ("ctypes.memoryview_at", ctypes.memoryview_at, (a, 4)),
            ("ctypes.get_errno", ctypes.get_errno, ()),
            ("ctypes.set_errno", ctypes.set_errno, (1,)),
            ("ctypes.dlsym", getattr, (ctypes.CDLL(None), "abs")),
            ("ctypes.PyObj_FromPtr", ctypes._ctypes.PyObj_FromPtr, (id(c),)),
        ]:
            refuse.add(event)
            assert refused(fn, *args), event
            refuse.clear()
        assert ctypes.get_errno() == 0
        print("ok")
    '''))
    assert out == "ok"


def test_hook_keeping_arguments_and_reentering():
    """A hook may keep the arguments tuple, inspect every object (gc.get_objects) and make
    foreign calls itself: what it kept stays intact."""
    out = run_child(textwrap.dedent('''
        import gc, sys
        import ferrotypes as ctypes
        libc = ctypes.CDLL(None)
        f = libc.abs
        f.argtypes = [ctypes.c_int]; f.restype = ctypes.c_int
        g = libc.labs
        kept = []
        depth = [0]
        inspections = [3]
        def hook(event, args):
            if event != "ctypes.call_function" or depth[0]:
                return
            depth[0] += 1
            try:
                if inspections[0]:
                    inspections[0] -= 1
                    for o in gc.get_objects():
                        if type(o) is tuple:
                            repr(o)
                if args[1] and args[1][0] % 2:
                    kept.append(args[1])
                assert g(args[1][0] if args[1] else 0) >= 0  # a call from inside the hook
            finally:
                depth[0] -= 1
        sys.addaudithook(hook)
        for i in range(-20, 20):
            assert f(i) == abs(i)
            assert g(i, ) == abs(i)
        assert [t[0] for t in kept] == [i for i in range(-20, 20) for _ in (0, 1) if i % 2]
        assert all(len(t) == 1 for t in kept)
        gc.collect()
        print("ok")
    '''), env=AS_314)
    assert out == "ok"


def test_import_events_like_stock():
    """Importing the package raises what importing ctypes raises (pythonapi's dlopen)."""
    code = textwrap.dedent('''
        import sys
        seen = []
        sys.addaudithook(lambda e, a: seen.append((e, a)) if e.startswith("ctypes.") else None)
        import {module} as ctypes
        if {stock} and "ferrotypes" in ctypes.__file__:
            print("NOT-STOCK")
        else:
            print(repr(seen))
    ''')
    mine = run_child(code.format(module="ferrotypes", stock=False))
    stock = run_child(code.format(module="ctypes", stock=True))
    if stock == "NOT-STOCK":
        pytest.skip("the stdlib ctypes is ferrotypes here (installed)")
    assert mine == stock

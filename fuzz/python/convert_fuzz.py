"""Fuzzing ferrotypes' converters and memory entry points, in checked mode.

The input picks an operation and fuzzed arguments: building every simple type from a
value, assigning ``.value``, ``from_param``; ``string_at``, ``wstring_at``, ``memmove``,
``memset``, ``cast``, ``from_address``, ``from_buffer``/``from_buffer_copy``; array and
pointer indexing and slicing, reads and writes. Everything runs inside
``ferrotypes.checked()``.

Addresses come from a fixed arena: five pages mapped as [no access | read-write |
read-write | no access | read-only], plus addresses that are never mapped (0, low pages,
non-canonical and kernel addresses). Writes only ever start inside the arena, so whatever
length the fuzzer picks, they end at a page checked mode refuses: the process's own memory
is never the target. Reads may go anywhere.

Properties:

* the outcome is a value or one of the exceptions stock ctypes raises for bad arguments
  (``ArgumentError``, ``TypeError``, ``ValueError``, ``OverflowError``, ``IndexError``,
  ``MemoryError`` for a gigantic buffer) -- never another exception, a Rust panic
  (``PanicException``) or a crash;
* every operation that stock ctypes can run without touching unmapped memory is also run
  with stock ctypes (same arena, same arguments), and must give the same value or the same
  exception type;
* an access to a page that is not readable (writable) is a ``ValueError``, as
  docs/guide/checked.md says.
"""

import ctypes as stock
import mmap
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import provider  # noqa: E402

import ferrotypes as ft  # noqa: E402

PAGE = mmap.PAGESIZE
_libc = stock.CDLL(None, use_errno=True)
_libc.mmap.restype = stock.c_void_p
_libc.mmap.argtypes = [stock.c_void_p, stock.c_size_t, stock.c_int, stock.c_int, stock.c_int,
                       stock.c_long]
_libc.mprotect.argtypes = [stock.c_void_p, stock.c_size_t, stock.c_int]
PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
ARENA = _libc.mmap(None, 5 * PAGE, PROT_READ | PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                   -1, 0)
assert ARENA not in (None, 2**64 - 1), "mmap failed"
for page, prot in ((0, PROT_NONE), (3, PROT_NONE), (4, PROT_READ)):
    assert _libc.mprotect(ARENA + page * PAGE, PAGE, prot) == 0
RW_START, RW_END = ARENA + PAGE, ARENA + 3 * PAGE
RO_START, RO_END = ARENA + 4 * PAGE, ARENA + 5 * PAGE
UNMAPPED = [0, 1, 8, 4095, 4096, 65535, 0x0000800000000000, 0x00007fffffffffff + 1,
            0xffff800000000000, 0xffffffffffffff00, 2**64 - 1, ARENA, ARENA + 3 * PAGE + 17]

SIMPLE = ["c_bool", "c_byte", "c_ubyte", "c_short", "c_ushort", "c_int", "c_uint", "c_long",
          "c_ulong", "c_longlong", "c_ulonglong", "c_size_t", "c_ssize_t", "c_float",
          "c_double", "c_longdouble", "c_char", "c_wchar", "c_char_p", "c_wchar_p",
          "c_void_p", "c_int8", "c_uint16", "c_int32", "c_uint64"]
NUMERIC = SIMPLE[:16] + SIMPLE[21:]
ALLOWED = {"ArgumentError", "TypeError", "ValueError", "OverflowError", "IndexError", "MemoryError"}
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


class Index:
    def __init__(self, v):
        self.v = v

    def __index__(self):
        return self.v


class Float:
    def __init__(self, v):
        self.v = v

    def __float__(self):
        return self.v


def readable(addr, n):
    """Is [addr, addr + n) readable, as far as the arena tells? (None: unknown.)"""
    if n <= 0:
        return True
    if RW_START <= addr and addr + n <= RW_END or RO_START <= addr and addr + n <= RO_END:
        return True
    return None


def writable(addr, n):
    return n <= 0 or RW_START <= addr and addr + n <= RW_END


class Case:
    def __init__(self, data):
        self.p = provider.Provider(data)

    def address(self):
        p = self.p
        roll = p.int(4)
        if roll == 0:
            return p.pick(UNMAPPED)
        if roll == 1:
            return p.int(1 << 16)
        return ARENA + p.int(5 * PAGE)

    def length(self):
        p = self.p
        return p.pick([0, 1, 2, 7, 8, 16, -1, -2, PAGE, 2 * PAGE, 2**31, 2**63, 2**64,
                       p.int(3 * PAGE), p.signed(70)])

    def value(self, depth=0):
        p = self.p
        roll = p.int(14)
        if roll == 0:
            return p.signed(70)
        if roll == 1:
            return p.pick([0, 1, -1, 2**31 - 1, -2**31, 2**32, 2**63 - 1, -2**63, 2**64 - 1,
                           2**64, 255, 256, -129, 0x10FFFF, 0x110000])
        if roll == 2:
            return p.pick([0.0, -0.0, 1.5, 1e308, -1e-308, float("inf"), float("-inf"),
                           float("nan"), 3.4e38, 1e39])
        if roll == 3:
            return p.take(p.int(12))
        if roll == 4:
            return p.take(p.int(12)).decode("utf-8", "surrogateescape")
        if roll == 5:
            return None
        if roll == 6:
            return p.pick([True, False])
        if roll == 7:
            return Index(p.signed(66))
        if roll == 8:
            return Float(p.pick([1.5, float("nan"), -2.0]))
        if roll == 9 and depth < 2:
            return [self.value(depth + 1) for _ in range(p.int(3))]
        if roll == 10:
            return bytearray(p.take(p.int(8)))
        if roll == 11:
            return p.pick(["x", b"x", "\udc80", "\U0010ffff", b"\x00", ""])
        if roll == 12:
            return chr(p.int(0x110000))
        return object()


def outcome(fn):
    """('ok', normalized repr) or ('exc', exception type name)."""
    try:
        value = fn()
    except BaseException as exc:  # noqa: BLE001 - classified below
        return ("exc", type(exc).__name__, exc)
    text = _ADDRESS.sub("0x?", repr(value)).replace("ferrotypes", "ctypes")
    return ("ok", text, None)


def check(result, label):
    kind, name, exc = result
    if kind == "exc" and name not in ALLOWED:
        raise AssertionError("%s raised %s: %r" % (label, name, exc)) from exc


def compare(label, run, mod_pair=(stock, ft)):
    """Run `run(module)` with both modules; outcomes must agree."""
    a = outcome(lambda: run(mod_pair[0]))
    b = outcome(lambda: run(mod_pair[1]))
    check(b, label)
    if a[:2] != b[:2]:
        raise AssertionError("%s: stock %s, ferrotypes %s" % (label, a[:2], b[:2]))


def test_one_input(data):
    c = Case(data)
    p = c.p
    op = p.int(12)
    with ft.checked():
        if op == 0:  # construct, .value, from_param
            name = p.pick(SIMPLE)
            v = c.value()
            mode = p.int(3)
            derefs = name in ("c_char_p", "c_wchar_p") and not isinstance(
                v, (str, bytes, type(None)))
            if mode == 0 and derefs:
                # .value reads a string at an address made from v: stock ctypes would crash
                # on most; checked ferrotypes must refuse with ValueError or read it.
                r = outcome(lambda: getattr(ft, name)(v).value)
                check(r, "%s(%r).value" % (name, v))
            elif mode == 0:
                compare("%s(%r).value" % (name, v), lambda m: getattr(m, name)(v).value)
            elif mode == 1 and derefs:
                def assign_ft():
                    x = getattr(ft, name)()
                    x.value = v
                    return x.value
                check(outcome(assign_ft), "%s().value = %r" % (name, v))
            elif mode == 1:
                def assign(m):
                    x = getattr(m, name)()
                    x.value = v
                    return x.value
                compare("%s().value = %r" % (name, v), assign)
            else:
                compare("%s.from_param(%r)" % (name, v),
                        lambda m: type(getattr(m, name).from_param(v)).__name__)
        elif op == 1:  # string_at
            addr, n = c.address(), c.length()
            label = "string_at(%#x, %d)" % (addr, n)
            if n >= 0 and readable(addr, n):
                compare(label, lambda m: m.string_at(addr, n))
            else:
                check(outcome(lambda: ft.string_at(addr, n)), label)
        elif op == 2:  # wstring_at
            addr, n = c.address(), c.length()
            label = "wstring_at(%#x, %d)" % (addr, n)
            if n >= 0 and readable(addr, 4 * n):
                compare(label, lambda m: m.wstring_at(addr, n))
            else:
                check(outcome(lambda: ft.wstring_at(addr, n)), label)
        elif op == 3:  # memset
            addr, n, byte = c.address(), c.length(), p.signed(9)
            label = "memset(%#x, %d, %d)" % (addr, byte, n)
            if not (RW_START - PAGE <= addr < ARENA + 5 * PAGE) and addr not in UNMAPPED:
                return  # never write outside the arena
            # The count is a size_t, wrapped as ctypes wraps integer arguments.
            count = n % 2**64
            if writable(addr, count):
                compare(label, lambda m: m.memset(addr, byte, n) and None)
            else:
                r = outcome(lambda: ft.memset(addr, byte, n))
                check(r, label)
                assert r[0] == "exc", "%s wrote past writable memory" % label
        elif op == 4:  # memmove
            dst, src, n = c.address(), c.address(), c.length()
            label = "memmove(%#x, %#x, %d)" % (dst, src, n)
            if not (ARENA <= dst < ARENA + 5 * PAGE) and dst not in UNMAPPED:
                return
            count = n % 2**64
            if writable(dst, count) and readable(src, count):
                compare(label, lambda m: m.memmove(dst, src, n) and None)
            else:
                r = outcome(lambda: ft.memmove(dst, src, n))
                check(r, label)
                if not writable(dst, count):
                    assert r[0] == "exc", "%s copied into unwritable memory" % label
        elif op == 5:  # from_address and .value
            name = p.pick(NUMERIC)
            addr = c.address()
            label = "%s.from_address(%#x).value" % (name, addr)
            size = stock.sizeof(getattr(stock, name))
            if readable(addr, size):
                compare(label, lambda m: getattr(m, name).from_address(addr).value)
            else:
                check(outcome(lambda: getattr(ft, name).from_address(addr).value), label)
        elif op == 6:  # from_buffer / from_buffer_copy
            name = p.pick(NUMERIC)
            arr_len = p.int(4)
            buf = p.take(p.int(40))
            offset = p.pick([0, 1, 3, 8, -1, 2**63, len(buf), p.int(64)])
            copy = p.int(2)

            def run(m):
                t = getattr(m, name) * arr_len if arr_len else getattr(m, name)
                if copy:
                    x = t.from_buffer_copy(buf, offset)
                else:
                    x = t.from_buffer(bytearray(buf), offset)
                return bytes(x)
            compare("from_buffer%s(%s*%d, len %d, %d)" % ("_copy" if copy else "", name,
                                                         arr_len, len(buf), offset), run)
        elif op == 7:  # array indexing and slicing
            name = p.pick(NUMERIC)
            n = p.int(6)
            i, j, step = p.signed(66), p.signed(8), p.pick([None, 1, 2, -1, 0, 3, -2])
            v = c.value()
            mode = p.int(4)

            def run(m):
                a = (getattr(m, name) * n)()
                if mode == 0:
                    return a[i]
                if mode == 1:
                    a[i] = v
                    return list(a)
                if mode == 2:
                    return a[i:j:step]
                a[i:j:step] = [v] * len(range(*slice(i, j, step).indices(n)))
                return list(a)
            compare("(%s * %d)[%d:%d:%r] mode %d v=%r" % (name, n, i, j, step, mode, v), run)
        elif op == 8:  # pointer indexing into the arena (cast from an address)
            name = p.pick(NUMERIC)
            addr, i = c.address(), p.signed(24)
            write, v = p.int(2), c.value()
            size = stock.sizeof(getattr(stock, name))
            target = addr + i * size
            label = "cast(%#x, POINTER(%s))[%d]%s" % (addr, name, i, " = %r" % (v,) if write else "")

            def run(m):
                ptr = m.cast(addr, m.POINTER(getattr(m, name)))
                if write:
                    ptr[i] = v
                    return None
                return ptr[i]
            if write:
                if not (ARENA <= target < ARENA + 5 * PAGE) and target not in UNMAPPED:
                    return
                if writable(target, size):
                    compare(label, run)
                    return
            elif readable(target, size):
                compare(label, run)
                return
            check(outcome(lambda: run(ft)), label)
        elif op == 9:  # cast of Python objects
            name = p.pick(["c_void_p", "c_char_p", "POINTER(c_int)", "c_size_t", "c_int"])
            v = c.value()

            def run(m):
                t = m.POINTER(m.c_int) if name == "POINTER(c_int)" else getattr(m, name)
                return type(m.cast(v, t)).__name__
            compare("cast(%r, %s)" % (v, name), run)
        elif op == 10:  # pointer to a Python-owned object: reads, contents, byref
            name = p.pick(NUMERIC)
            v = c.value()

            def run(m):
                x = getattr(m, name)(v)
                ptr = m.pointer(x)
                return (ptr[0], ptr.contents.value, m.byref(x)._obj.value)
            compare("pointer(%s(%r))" % (name, v), run)
        else:  # create_string_buffer / create_unicode_buffer sizes and contents
            init, size = c.value(), p.pick([None, 0, 1, 5, -1, 2**63, p.int(20)])
            wide = p.int(2)
            if isinstance(init, int) and 1 << 20 < init < 1 << 40:
                return  # a real allocation of gigabytes, in both modules: not a finding

            def run(m):
                f = m.create_unicode_buffer if wide else m.create_string_buffer
                b = f(init) if size is None else f(init, size)
                return (len(b), b.raw if not wide else b.value)
            compare("create_%s_buffer(%r, %r)" % ("unicode" if wide else "string", init, size),
                    run)


if __name__ == "__main__":
    harness.main(test_one_input, "convert")

"""ferrotypes.util.find_library on ELF systems, without gcc, ld or ldconfig.

The real-system cases compare with what the standard ``ctypes.util`` says
(run in a subprocess so that this process never loads the standard ctypes).
The rest run on synthetic files: ld.so.cache images in the old, new and
combined formats, and minimal ELF shared objects written byte by byte.
"""

import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="ELF / ld.so.cache search")

from ferrotypes import util  # noqa: E402


# ---------------------------------------------------------------------------
# Synthetic files

def _interpreter_header():
    with open("/proc/self/exe", "rb") as f:
        return f.read(64)


def _elf_identity():
    """(class, data, machine) of the running interpreter."""
    header = _interpreter_header()
    order = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack_from(order + "H", header, 18)
    return header[4], header[5], machine


def make_elf_so(path, soname, machine=None):
    """Write a minimal ELF shared object for this interpreter's ABI.

    It has one PT_LOAD segment (at a non-zero address, so that DT_STRTAB
    must be translated to a file offset) and a PT_DYNAMIC segment holding
    DT_STRTAB, DT_SONAME (unless ``soname`` is None) and DT_NULL.
    """
    elfclass, data, own_machine = _elf_identity()
    machine = own_machine if machine is None else machine
    order = "<" if data == 1 else ">"
    is64 = elfclass == 2
    ehsize, phentsize = (64, 56) if is64 else (52, 32)
    dyn_entry = struct.Struct(order + ("qQ" if is64 else "iI"))
    base = 0x400000

    strtab = b"\0" + (soname.encode() if soname else b"") + b"\0"
    phoff = ehsize
    dyn_off = phoff + 2 * phentsize
    tags = [(5, 0)] + ([(14, 1)] if soname else []) + [(0, 0)]
    strtab_off = dyn_off + len(tags) * dyn_entry.size
    tags[0] = (5, base + strtab_off)
    total = strtab_off + len(strtab)

    ident = b"\x7fELF" + bytes([elfclass, data, 1, 0]) + bytes(8)
    if is64:
        header = ident + struct.pack(order + "HHIQQQIHHHHHH", 3, machine, 1, 0,
                                     phoff, 0, 0, ehsize, phentsize, 2, 64, 0, 0)
        load = struct.pack(order + "IIQQQQQQ", 1, 5, 0, base, base,
                           total, total, 0x1000)
        dynamic = struct.pack(order + "IIQQQQQQ", 2, 6, dyn_off, base + dyn_off,
                              base + dyn_off, len(tags) * dyn_entry.size,
                              len(tags) * dyn_entry.size, 8)
    else:
        header = ident + struct.pack(order + "HHIIIIIHHHHHH", 3, machine, 1, 0,
                                     phoff, 0, 0, ehsize, phentsize, 2, 40, 0, 0)
        load = struct.pack(order + "IIIIIIII", 1, 0, base, base,
                           total, total, 5, 0x1000)
        dynamic = struct.pack(order + "IIIIIIII", 2, dyn_off, base + dyn_off,
                              base + dyn_off, len(tags) * dyn_entry.size,
                              len(tags) * dyn_entry.size, 6, 4)
    body = header + load + dynamic + b"".join(dyn_entry.pack(*t) for t in tags)
    assert len(body) == strtab_off
    with open(path, "wb") as f:
        f.write(body + strtab)
    return path


class CacheImage:
    """Build ld.so.cache images.  Entries: (flags, key, value, hwcap)."""

    OLD_MAGIC = b"ld.so-1.7.0"
    NEW_MAGIC = b"glibc-ld.so.cache1.1"

    def __init__(self, entries):
        self.entries = entries

    @staticmethod
    def _strings(entries):
        table, offsets = bytearray(), {}
        for _flags, key, value, _hwcap in entries:
            for s in (key, value):
                if s not in offsets:
                    offsets[s] = len(table)
                    table += s.encode() + b"\0"
        return bytes(table), offsets

    def new(self):
        table, offsets = self._strings(self.entries)
        n = len(self.entries)
        strings_at = 48 + 24 * n
        header = self.NEW_MAGIC + struct.pack(
            "=IIB3xI12x", n, len(table),
            2 if sys.byteorder == "little" else 3, 0)
        assert len(header) == 48
        body = b"".join(
            struct.pack("=iIIIQ", flags, strings_at + offsets[key],
                        strings_at + offsets[value], 0, hwcap)
            for flags, key, value, hwcap in self.entries)
        return header + body + table

    def old(self):
        table, offsets = self._strings(self.entries)
        n = len(self.entries)
        header = self.OLD_MAGIC + b"\0" + struct.pack("=I", n)
        body = b"".join(struct.pack("=iII", flags, offsets[key], offsets[value])
                        for flags, key, value, _hwcap in self.entries)
        return header + body + table

    def combined(self, old_entries):
        """Old-format table of ``old_entries`` with this new one hidden
        behind it, as ldconfig's "compat" format lays them out."""
        new = self.new()
        n = len(old_entries)
        table_end = 16 + 12 * n
        pad = (-table_end) % 8
        old_strings, offsets = self._strings(old_entries)
        # Old string offsets count from the end of the old table, past the
        # padding and the whole new section.
        shift = pad + len(new)
        header = self.OLD_MAGIC + b"\0" + struct.pack("=I", n)
        body = b"".join(
            struct.pack("=iII", flags, shift + offsets[key], shift + offsets[value])
            for flags, key, value, _hwcap in old_entries)
        return header + body + bytes(pad) + new + old_strings


def own_cache_flags():
    """ld.so.cache flags for libraries of this interpreter's ABI."""
    arch = util._CACHE_ARCH
    return 0x0003 | (arch if arch is not None else 0)


def foreign_cache_flags():
    """Flags of an entry this interpreter cannot use."""
    if util._CACHE_ARCH is None:
        return 0x0001  # plain ELF, not libc6: never taken
    # A libc6 entry for another ABI (x32 beside x86-64, or vice versa).
    return 0x0003 | (0x0800 if util._CACHE_ARCH != 0x0800 else 0x0300)


# ---------------------------------------------------------------------------
# The real system

needs_glibc_cache = pytest.mark.skipif(
    not os.path.exists("/etc/ld.so.cache"), reason="no /etc/ld.so.cache")


@needs_glibc_cache
def test_libc_and_libm():
    assert util.find_library("c") == "libc.so.6"
    assert util.find_library("m") == "libm.so.6"


@needs_glibc_cache
def test_pthread():
    # glibc >= 2.34 keeps libpthread.so.0 as an empty compatibility library.
    assert util.find_library("pthread") == "libpthread.so.0"


def test_nonexistent_name():
    assert util.find_library("ferrotypes_no_such_library_xyz") is None


def test_hostile_name_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert util.find_library("; echo hello > injected") is None
    assert not os.path.exists(tmp_path / "injected")


def test_found_names_load():
    from ferrotypes import CDLL
    for name in ("c", "m"):
        soname = util.find_library(name)
        assert soname is not None
        CDLL(soname)


@pytest.mark.skipif(
    not any(os.path.exists(os.path.join(d, "libc.so"))
            for d in util._standard_directories()),
    reason="no libc.so (C development files) in the standard directories")
def test_directory_search_without_cache(monkeypatch):
    """With no linker cache, libc is still found through its ld script."""
    monkeypatch.setattr(util, "_LD_SO_CACHE", "/nonexistent/ld.so.cache")
    assert util.find_library("c") == "libc.so.6"
    assert util.find_library("m") == "libm.so.6"


@pytest.mark.skipif(shutil.which("ldconfig") is None
                    and not os.path.exists("/sbin/ldconfig"),
                    reason="the standard ctypes.util needs ldconfig")
def test_agrees_with_standard_ctypes_util():
    names = ["c", "m", "pthread", "dl", "rt", "z", "crypt", "bz2", "ffi",
             "stdc++", "gcc_s", "ssl", "crypto", "sqlite3", "expat", "uuid",
             "lzma", "ferrotypes_no_such_library_xyz"]
    code = ("import json, sys, ctypes.util\n"
            "print(json.dumps([ctypes.util.find_library(n) for n in sys.argv[1:]]))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-I", "-c", code] + names,
                         capture_output=True, text=True, check=True, env=env)
    expected = json.loads(out.stdout)
    assert [util.find_library(n) for n in names] == expected


# ---------------------------------------------------------------------------
# ld.so.cache parsing

@pytest.fixture
def libs(tmp_path):
    """Two real files to point cache entries at."""
    d = tmp_path / "lib"
    d.mkdir()
    paths = {}
    for name in ("libfttest.so.2", "libfttest.so.1", "libftother.so.5"):
        p = d / name
        p.write_bytes(b"")
        paths[name] = str(p)
    return paths


def _entries(libs):
    own, foreign = own_cache_flags(), foreign_cache_flags()
    return [
        # A foreign-ABI entry first: must be passed over.
        (foreign, "libfttest.so.3", libs["libfttest.so.2"], 0),
        (own, "libfttest.so.2", libs["libfttest.so.2"], 0),
        (own, "libfttest.so.1", libs["libfttest.so.1"], 0),
        (own, "libftother.so.5", libs["libftother.so.5"], 0),
    ]


def _expected(entries):
    return [(flags, key, value) for flags, key, value, _hwcap in entries]


@pytest.mark.parametrize("layout", ["new", "old"])
def test_parse_cache_formats(libs, layout):
    entries = _entries(libs)
    image = getattr(CacheImage(entries), layout)()
    assert util._parse_ld_so_cache(image) == _expected(entries)


@pytest.mark.parametrize("old_count", [0, 1, 2, 3])
def test_parse_combined_format_prefers_new(libs, old_count):
    entries = _entries(libs)
    stale = [(own_cache_flags(), "libstale.so.%d" % i, "/old/libstale.so", 0)
             for i in range(old_count)]
    image = CacheImage(entries).combined(stale)
    assert util._parse_ld_so_cache(image) == _expected(entries)


def test_parse_old_format_alone_with_odd_count(libs):
    entries = _entries(libs)[:3]
    assert util._parse_ld_so_cache(CacheImage(entries).old()) == _expected(entries)


@pytest.mark.parametrize("image", [b"", b"garbage", b"ld.so-1.7.0\0\xff\xff\xff\x7f",
                                   b"glibc-ld.so.cache1.1" + b"\xff" * 40])
def test_parse_damaged_cache(image):
    assert util._parse_ld_so_cache(image) == []


@pytest.mark.parametrize("layout", ["new", "old"])
def test_lookup_in_synthetic_cache(tmp_path, libs, layout):
    cache = tmp_path / "ld.so.cache"
    cache.write_bytes(getattr(CacheImage(_entries(libs)), layout)())
    lookup = util._findSoname_ldconfig
    assert lookup("fttest", str(cache)) == "libfttest.so.2"
    assert lookup("ftother", str(cache)) == "libftother.so.5"
    assert lookup("ftot", str(cache)) is None  # "lib<name>." must match
    assert lookup("nothere", str(cache)) is None


def test_lookup_skips_entries_whose_file_is_gone(tmp_path, libs):
    cache = tmp_path / "ld.so.cache"
    cache.write_bytes(CacheImage(_entries(libs)).new())
    os.unlink(libs["libfttest.so.2"])
    assert util._findSoname_ldconfig("fttest", str(cache)) == "libfttest.so.1"


def test_find_library_uses_cache(tmp_path, libs, monkeypatch):
    cache = tmp_path / "ld.so.cache"
    cache.write_bytes(CacheImage(_entries(libs)).new())
    monkeypatch.setattr(util, "_LD_SO_CACHE", str(cache))
    assert util.find_library("fttest") == "libfttest.so.2"
    # The cache is re-read when it changes.
    cache.write_bytes(CacheImage(_entries(libs)[2:]).new())
    os.utime(cache, ns=(1, 1))
    assert util.find_library("fttest") == "libfttest.so.1"


# ---------------------------------------------------------------------------
# ELF files and the directory search

def test_get_soname(tmp_path):
    so = make_elf_so(str(tmp_path / "libx.so"), "libx.so.7")
    assert util._get_soname(so) == "libx.so.7"
    bare = make_elf_so(str(tmp_path / "liby.so"), None)
    assert util._get_soname(bare) is None
    text = tmp_path / "libz.so"
    text.write_text("GROUP ( libz.so.1 )\n")
    assert util._get_soname(str(text)) is None
    assert util._get_soname(str(tmp_path / "missing.so")) is None
    assert util._get_soname(None) is None


def test_get_soname_of_real_libc():
    path = "/proc/self/maps"
    with open(path) as f:
        libc = next((line.split()[-1] for line in f
                     if "/libc.so.6" in line or "/libc-" in line), None)
    if libc is None:
        pytest.skip("libc.so.6 not mapped")
    assert util._get_soname(libc) == "libc.so.6"


@pytest.fixture
def no_cache(monkeypatch):
    monkeypatch.setattr(util, "_LD_SO_CACHE", "/nonexistent/ld.so.cache")
    monkeypatch.delenv("LIBRARY_PATH", raising=False)


def test_ld_library_path(tmp_path, monkeypatch, no_cache):
    name = "ferrotypes_test_dummy"
    make_elf_so(str(tmp_path / ("lib%s.so" % name)), "lib%s.so.4" % name)
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    assert util.find_library(name) is None
    monkeypatch.setenv("LD_LIBRARY_PATH", "/nonexistent:" + str(tmp_path))
    assert util.find_library(name) == "lib%s.so.4" % name


def test_library_path_is_searched(tmp_path, monkeypatch, no_cache):
    name = "ferrotypes_test_gccpath"
    make_elf_so(str(tmp_path / ("lib%s.so" % name)), "lib%s.so.1" % name)
    monkeypatch.setenv("LIBRARY_PATH", str(tmp_path))
    assert util.find_library(name) == "lib%s.so.1" % name


def test_incompatible_elf_is_skipped(tmp_path, monkeypatch, no_cache):
    name = "ferrotypes_test_arch"
    wrong, right = tmp_path / "wrong", tmp_path / "right"
    wrong.mkdir()
    right.mkdir()
    other_machine = 183 if _elf_identity()[2] != 183 else 62
    make_elf_so(str(wrong / ("lib%s.so" % name)), "lib%s.so.9" % name,
                machine=other_machine)
    make_elf_so(str(right / ("lib%s.so" % name)), "lib%s.so.1" % name)
    monkeypatch.setenv("LD_LIBRARY_PATH", "%s:%s" % (wrong, right))
    assert util.find_library(name) == "lib%s.so.1" % name


def test_linker_script(tmp_path, monkeypatch, no_cache):
    name = "ferrotypes_test_script"
    real = tmp_path / "real"
    real.mkdir()
    target = make_elf_so(str(real / ("lib%s.so.3" % name)), "lib%s.so.3" % name)
    (tmp_path / ("lib%s.so" % name)).write_text(
        "/* GNU ld script */\nOUTPUT_FORMAT(elf64-x86-64)\n"
        "GROUP ( %s AS_NEEDED ( /nonexistent/libother.so.1 ) )\n" % target)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    assert util.find_library(name) == "lib%s.so.3" % name


def test_library_without_soname_is_not_returned(tmp_path, monkeypatch, no_cache):
    name = "ferrotypes_test_nosoname"
    make_elf_so(str(tmp_path / ("lib%s.so" % name)), None)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    assert util.find_library(name) is None


def test_stages_can_be_patched(monkeypatch):
    """The hooks the standard library's own tests patch exist and are used."""
    monkeypatch.setattr(util, "_findSoname_ldconfig", lambda *a: None)
    assert util.find_library("c") is not None
    monkeypatch.setattr(util, "_findLib_gcc", lambda *a: None)
    assert util.find_library("c") is not None
    monkeypatch.setattr(util, "_findLib_ld", lambda *a: None)
    assert util.find_library("c") is None

"""Locate shared libraries by their short name: ``find_library("m")``.

``find_library`` returns what ``CDLL`` should be given, or None:

- Linux and other ELF systems: the library's SONAME (``"libm.so.6"``).
  Unlike the standard ``ctypes.util``, no external program is run (no gcc,
  ld, ldconfig or objdump); the same sources are read directly:

  1. the dynamic linker's cache, ``/etc/ld.so.cache`` (what ``ldconfig -p``
     prints), keeping entries built for this interpreter's ABI;
  2. where gcc looks besides: ``LIBRARY_PATH``, then gcc's private
     directory (``/usr/lib/gcc/<target>/<version>``, for libstdc++ & co);
  3. ``LD_LIBRARY_PATH``, then the linker's standard directories.

  In the directories the candidate is ``lib<name>.so``, as for ``-l<name>``:
  an ELF file for this machine, or a GNU ld script naming one.  Its SONAME
  is read from the ELF dynamic section.
- macOS: the path dyld would load, via ``ferrotypes.macholib``.
- Windows: a file on ``PATH``; ``"c"`` and ``"m"`` name the C runtime DLL
  (``find_msvcrt()``), which no longer exists for current compilers.
"""

import os
import struct
import sys

if os.name == "nt":

    def _get_build_version():
        """Return the MSVC version Python was built with, e.g. 14.2.

        sys.version carries the compiler as "MSC v.1929": 19 -> 13, and
        as Microsoft skipped version 13, anything from there is one higher.
        """
        marker = "MSC v."
        found = sys.version.find(marker)
        if found == -1:
            return 6
        code = sys.version[found + len(marker):].split(" ", 1)[0]  # "1929"
        major = int(code[:-2]) - 6
        tenths = int(code[2:3])
        if major >= 13:
            major += 1
        if major < 6:
            return None
        # Version 6 counts as 6.0 whatever its minor digit.
        return major if major == 6 else major + tenths / 10.0

    def find_msvcrt():
        """Return the file name of the C runtime DLL Python uses, or None.

        Only compilers up to Visual C++ 2010 had a loadable one (msvcrNN);
        for later builds the answer is None.
        """
        version = _get_build_version()
        if version is None or version > 13:
            return None
        stem = "msvcrt" if version <= 6 else "msvcr%d" % (version * 10)
        import importlib.machinery
        # A debug build of Python uses the debug runtime.
        debug = "_d.pyd" in importlib.machinery.EXTENSION_SUFFIXES
        return stem + ("d" if debug else "") + ".dll"

    def find_library(name):
        """Return the path of ``name`` (or ``name.dll``) on PATH, or None."""
        if name in ("c", "m"):
            return find_msvcrt()
        # Only PATH: the loader's full search order is not reproduced.
        for directory in os.environ.get("PATH", "").split(os.pathsep):
            path = os.path.join(directory, name)
            tries = [path]
            if not path.lower().endswith(".dll"):
                tries.append(path + ".dll")
            for candidate in tries:
                if os.path.isfile(candidate):
                    return candidate
        return None

elif sys.platform == "darwin":
    from .macholib.dyld import dyld_find as _dyld_find

    def _dyld_path(spelling):
        """The path dyld would load for ``spelling``, or None."""
        try:
            return _dyld_find(spelling)
        except ValueError:
            return None

    def find_library(name):
        """Return the path dyld would load for ``name``, or None."""
        spellings = ["lib%s.dylib" % name, "%s.dylib" % name,
                     "%s.framework/%s" % (name, name)]
        found = (_dyld_path(spelling) for spelling in spellings)
        return next((path for path in found if path is not None), None)

else:
    # -----------------------------------------------------------------------
    # ELF files

    _ELF_MAGIC = b"\x7fELF"
    _ELFCLASS32, _ELFCLASS64 = 1, 2
    _ELFDATA2LSB, _ELFDATA2MSB = 1, 2
    _PT_LOAD, _PT_DYNAMIC = 1, 2
    _DT_NULL, _DT_STRTAB, _DT_SONAME = 0, 5, 14

    # e_machine values
    _EM_SPARC, _EM_386, _EM_SPARC32PLUS, _EM_PPC, _EM_PPC64 = 2, 3, 18, 20, 21
    _EM_S390, _EM_ARM, _EM_SPARCV9, _EM_IA_64 = 22, 40, 43, 50
    _EM_X86_64, _EM_AARCH64, _EM_RISCV, _EM_LOONGARCH = 62, 183, 243, 258

    class _ElfInfo:
        """The parts of an ELF header that decide whether a library fits."""
        __slots__ = ("elfclass", "data", "machine", "flags",
                     "phoff", "phentsize", "phnum")

        def __init__(self, header):
            self.elfclass = header[4]
            self.data = header[5]
            order = "<" if self.data == _ELFDATA2LSB else ">"
            if self.elfclass == _ELFCLASS64:
                fmt = order + "HHIQQQIHHH"
            else:
                fmt = order + "HHIIIIIHHH"
            (_type, self.machine, _version, _entry, self.phoff, _shoff,
             self.flags, _ehsize, self.phentsize, self.phnum,
             ) = struct.unpack_from(fmt, header, 16)

        def abi(self):
            return (self.elfclass, self.data, self.machine)

    def _read_elf_info(f):
        """Parse the ELF header at the start of open file ``f``, or None."""
        header = f.read(64)
        if (len(header) < 52 or header[:4] != _ELF_MAGIC
                or header[4] not in (_ELFCLASS32, _ELFCLASS64)
                or header[5] not in (_ELFDATA2LSB, _ELFDATA2MSB)):
            return None
        if header[4] == _ELFCLASS64 and len(header) < 64:
            return None
        return _ElfInfo(header)

    def _elf_info(path):
        try:
            with open(path, "rb") as f:
                return _read_elf_info(f)
        except (OSError, ValueError):
            return None

    def _get_soname(path):
        """Return the DT_SONAME of the ELF shared object at ``path``, or None.

        Reads the PT_DYNAMIC segment, as the dynamic linker does, so it also
        works for libraries stripped of their section headers.
        """
        if not path:
            return None
        try:
            with open(path, "rb") as f:
                return _read_soname(f)
        except (OSError, ValueError, struct.error):
            return None

    def _read_soname(f):
        info = _read_elf_info(f)
        if info is None:
            return None
        order = "<" if info.data == _ELFDATA2LSB else ">"
        if info.elfclass == _ELFCLASS64:
            phdr = struct.Struct(order + "IIQQQQQQ")
            dyn = struct.Struct(order + "qQ")

            def segment(raw):
                p_type, _flags, offset, vaddr, _paddr, filesz = raw[:6]
                return p_type, offset, vaddr, filesz
        else:
            phdr = struct.Struct(order + "IIIIIIII")
            dyn = struct.Struct(order + "iI")

            def segment(raw):
                p_type, offset, vaddr, _paddr, filesz = raw[:5]
                return p_type, offset, vaddr, filesz

        if info.phentsize < phdr.size or not 0 < info.phnum < 0xFFFF:
            return None
        f.seek(info.phoff)
        table = f.read(info.phentsize * info.phnum)
        loads, dynamic = [], None
        for i in range(info.phnum):
            start = i * info.phentsize
            if start + phdr.size > len(table):
                return None
            p_type, offset, vaddr, filesz = segment(
                phdr.unpack_from(table, start))
            if p_type == _PT_LOAD:
                loads.append((vaddr, filesz, offset))
            elif p_type == _PT_DYNAMIC:
                dynamic = (offset, filesz)
        if dynamic is None:
            return None

        f.seek(dynamic[0])
        entries = f.read(min(dynamic[1], 1 << 20))
        strtab_addr = soname_index = None
        for tag, value in dyn.iter_unpack(
                entries[:len(entries) - len(entries) % dyn.size]):
            if tag == _DT_NULL:
                break
            if tag == _DT_STRTAB:
                strtab_addr = value
            elif tag == _DT_SONAME:
                soname_index = value
        if strtab_addr is None or soname_index is None:
            return None

        # DT_STRTAB is a virtual address; find the file offset backing it.
        for vaddr, filesz, offset in loads:
            if vaddr <= strtab_addr < vaddr + filesz:
                f.seek(strtab_addr - vaddr + offset + soname_index)
                break
        else:
            return None
        raw = f.read(4096)
        end = raw.find(b"\0")
        if end <= 0:
            return None
        return os.fsdecode(raw[:end])

    def _interpreter_elf_info():
        """The ELF header of the running interpreter, or None if unreadable."""
        for path in ("/proc/self/exe", sys.executable):
            if path:
                info = _elf_info(path)
                if info is not None:
                    return info
        return None

    _INTERPRETER = _interpreter_elf_info()

    def _is_compatible_elf(path):
        """True if ``path`` is an ELF file this interpreter could load."""
        info = _elf_info(path)
        if info is None:
            return False
        if _INTERPRETER is None:
            wanted = _ELFCLASS64 if sys.maxsize > 2**32 else _ELFCLASS32
            return info.elfclass == wanted
        return info.abi() == _INTERPRETER.abi()

    # -----------------------------------------------------------------------
    # /etc/ld.so.cache (glibc's dl-cache.h describes the layout)

    _LD_SO_CACHE = "/etc/ld.so.cache"
    _OLD_MAGIC = b"ld.so-1.7.0"
    _NEW_MAGIC = b"glibc-ld.so.cache1.1"

    _FLAG_TYPE_MASK = 0x00FF
    _FLAG_ELF_LIBC6 = 0x0003
    _FLAG_REQUIRED_MASK = 0xFF00

    def _cache_arch_flags(info):
        """The ld.so.cache arch bits of libraries for ABI ``info``.

        None means "not known here": then any libc6 entry is accepted.
        """
        if info is None:
            return None
        is64 = info.elfclass == _ELFCLASS64
        machine = info.machine
        if machine == _EM_X86_64:
            return 0x0300 if is64 else 0x0800  # x86-64, x32
        if machine == _EM_386:
            return 0x0000
        if machine == _EM_AARCH64:
            return 0x0A00
        if machine == _EM_PPC64:
            return 0x0500
        if machine == _EM_PPC:
            return 0x0000
        if machine == _EM_S390:
            return 0x0400 if is64 else 0x0000
        if machine == _EM_SPARCV9:
            return 0x0100
        if machine in (_EM_SPARC, _EM_SPARC32PLUS):
            return 0x0000
        if machine == _EM_IA_64:
            return 0x0200
        if machine == _EM_ARM:
            if info.flags & 0x400:  # EF_ARM_ABI_FLOAT_HARD
                return 0x0900
            if info.flags & 0x200:  # EF_ARM_ABI_FLOAT_SOFT
                return 0x0B00
            return None
        if machine == _EM_RISCV:
            float_abi = info.flags & 0x6
            return {0x0: 0x0F00, 0x4: 0x1000}.get(float_abi)
        if machine == _EM_LOONGARCH:
            return {0x1: 0x1100, 0x3: 0x1200}.get(info.flags & 0x7)
        return None

    _CACHE_ARCH = _cache_arch_flags(_INTERPRETER)

    def _parse_ld_so_cache(data):
        """Return the entries of an ld.so.cache image as (flags, key, path).

        ``key`` is the SONAME, ``path`` the file it resolves to, in file
        order (which is the order ``ldconfig -p`` prints).  Both formats are
        read: the new one ("glibc-ld.so.cache1.1", alone or hidden behind an
        old-format table) wins, as it does for the dynamic linker.  A
        damaged or unknown image gives an empty list.
        """
        try:
            if data.startswith(_NEW_MAGIC):
                return _parse_new_cache(data, 0)
            if data.startswith(_OLD_MAGIC):
                (nlibs,) = struct.unpack_from("=I", data, 12)
                table_end = 16 + 12 * nlibs
                # The new section follows, aligned for its 64-bit fields
                # (to 8 bytes on most ABIs, 4 on i386).
                for start in (table_end, (table_end + 7) & ~7):
                    if data.startswith(_NEW_MAGIC, start):
                        return _parse_new_cache(data, start)
                return _parse_old_cache(data, nlibs, table_end)
        except (struct.error, IndexError, ValueError):
            pass
        return []

    def _cache_string(data, offset):
        end = data.index(b"\0", offset)
        return os.fsdecode(data[offset:end])

    def _parse_old_cache(data, nlibs, strings):
        """Old format: 12-byte entries; strings relative to the table end."""
        entries = []
        for flags, key, value in struct.iter_unpack(
                "=iII", data[16:16 + 12 * nlibs]):
            entries.append((flags, _cache_string(data, strings + key),
                            _cache_string(data, strings + value)))
        return entries

    def _parse_new_cache(data, base):
        """New format: 24-byte entries; strings relative to its header."""
        endian = data[base + 28]
        order = {2: "<", 3: ">"}.get(endian, "=")
        (nlibs,) = struct.unpack_from(order + "I", data, base + 20)
        first = base + 48
        entries = []
        for flags, key, value, _osversion, _hwcap in struct.iter_unpack(
                order + "iIIIQ", data[first:first + 24 * nlibs]):
            entries.append((flags, _cache_string(data, base + key),
                            _cache_string(data, base + value)))
        return entries

    _cache_memo = (None, [])

    def _ld_so_cache_entries(path=None):
        """The parsed cache at ``path``, re-read only when the file changes."""
        global _cache_memo
        path = _LD_SO_CACHE if path is None else path
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return []
        stamp = (path, st.st_ino, st.st_size, st.st_mtime_ns)
        if _cache_memo[0] != stamp:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                return []
            _cache_memo = (stamp, _parse_ld_so_cache(data))
        return _cache_memo[1]

    def _cache_entry_fits(flags, arch=None):
        """True if a cache entry is a glibc library for this ABI."""
        if flags & _FLAG_TYPE_MASK != _FLAG_ELF_LIBC6:
            return False
        if arch is None:
            arch = _CACHE_ARCH
        return arch is None or flags & _FLAG_REQUIRED_MASK == arch

    def _findSoname_ldconfig(name, cache_path=None):
        """Return the SONAME the linker cache holds for ``lib<name>``, or None.

        The first entry called ``lib<name>.<something>`` for this ABI wins,
        as with ``ldconfig -p``; entries whose file is gone are skipped.
        """
        prefix = "lib%s." % name
        for flags, key, path in _ld_so_cache_entries(cache_path):
            if (key.startswith(prefix) and _cache_entry_fits(flags)
                    and os.path.exists(path)):
                return key
        return None

    # -----------------------------------------------------------------------
    # Directory search, as "ld -l<name>" does it

    def _split_path_list(value):
        return [d for d in (value or "").split(":") if d]

    def _musl_directories():
        """Directories from musl's ``/etc/ld-musl-<arch>.path``, if present."""
        try:
            arch = os.uname().machine
            with open("/etc/ld-musl-%s.path" % arch, "rb") as f:
                text = os.fsdecode(f.read())
        except (OSError, ValueError):
            return []
        return [d for d in text.replace(":", "\n").split() if d]

    def _standard_directories():
        """The directories the GNU linker searches by default."""
        dirs = _musl_directories()
        multiarch = getattr(sys.implementation, "_multiarch", None)
        if multiarch:
            dirs += ["/usr/local/lib/" + multiarch, "/lib/" + multiarch,
                     "/usr/lib/" + multiarch]
        bits = "64" if sys.maxsize > 2**32 else "32"
        dirs += ["/usr/local/lib" + bits, "/lib" + bits, "/usr/lib" + bits,
                 "/usr/local/lib", "/lib", "/usr/lib"]
        return dirs

    def _version_key(text):
        return [int(part) if part.isdigit() else -1 for part in text.split(".")]

    def _gcc_directories():
        """gcc's private library directory (libstdc++, libgcc_s, ...).

        That is ``/usr/lib/gcc/<target>/<version>`` for the newest version
        of a target for this machine; found by looking, not by running gcc.
        """
        machine = os.uname().machine
        multiarch = getattr(sys.implementation, "_multiarch", None)
        found = []
        for root in ("/usr/lib/gcc", "/usr/lib64/gcc", "/usr/local/lib/gcc"):
            try:
                targets = sorted(os.listdir(root))
            except OSError:
                continue
            for target in targets:
                if target != multiarch and not target.startswith(machine + "-"):
                    continue
                try:
                    versions = os.listdir(os.path.join(root, target))
                except OSError:
                    continue
                if versions:
                    newest = max(versions, key=_version_key)
                    found.append(os.path.join(root, target, newest))
        return found

    def _from_linker_script(path, name):
        """The first fitting library a GNU ld script for ``name`` names.

        Distributions install ``libc.so``, ``libm.so`` and others as scripts
        like ``GROUP ( /lib/x86_64-linux-gnu/libm.so.6 ... )``.  A name
        without a directory is looked up beside the script, then in the
        standard directories.
        """
        try:
            with open(path, "rb") as f:
                text = f.read(64 * 1024)
        except (OSError, ValueError):
            return None
        if b"\0" in text:
            return None  # binary, but not ELF
        prefix = "lib%s." % name
        tokens = os.fsdecode(text).replace("(", " ").replace(")", " ").split()
        for token in tokens:
            if not os.path.basename(token).startswith(prefix):
                continue
            if os.path.isabs(token):
                candidates = [token]
            else:
                candidates = [os.path.join(d, token) for d in
                              [os.path.dirname(path)] + _standard_directories()]
            for candidate in candidates:
                if _is_compatible_elf(candidate):
                    return candidate
        return None

    def _search_directories(name, directories):
        """Path of the first ``lib<name>.so`` for this ABI in ``directories``."""
        filename = "lib%s.so" % name
        for directory in directories:
            candidate = os.path.join(directory, filename)
            if not os.path.isfile(candidate):
                continue
            if _is_compatible_elf(candidate):
                return candidate
            found = _from_linker_script(candidate, name)
            if found:
                return found
        return None

    def _findLib_gcc(name):
        """Search where ``gcc -l`` looks beyond the linker's own directories.

        That is ``LIBRARY_PATH``, then gcc's private library directory.
        """
        directories = _split_path_list(os.environ.get("LIBRARY_PATH"))
        return _search_directories(name, directories + _gcc_directories())

    def _findLib_ld(name):
        """Search ``LD_LIBRARY_PATH``, then the standard directories."""
        directories = _split_path_list(os.environ.get("LD_LIBRARY_PATH"))
        return _search_directories(name, directories + _standard_directories())

    def find_library(name):
        """Return the SONAME of library ``name`` (``"m"`` -> ``"libm.so.6"``).

        None if no library for this interpreter's ABI is found.
        """
        return (_findSoname_ldconfig(name)
                or _get_soname(_findLib_gcc(name))
                or _get_soname(_findLib_ld(name)))


# 3.14 adds dllist(): the shared libraries loaded into this process, here on every version.
# Where the dynamic loader can list them (dl_iterate_phdr), the extension does; Windows and
# macOS would ask their own APIs, not written yet.
from ._ctypes import _rs as _newest

if hasattr(_newest, "dllist"):
    dllist = _newest.dllist
del _newest


def test():
    """Print what find_library and the loaders find on this system."""
    from . import cdll
    if os.name == "nt":
        print(cdll.msvcrt)
        print(cdll.LoadLibrary("msvcrt"))
        print(find_library("msvcrt"))
    if os.name != "posix":
        return
    for name in ("m", "c", "bz2"):
        print(find_library(name))
    if sys.platform == "darwin":
        for library in ("libm.dylib", "libcrypto.dylib", "libSystem.dylib",
                        "System.framework/System"):
            print(cdll.LoadLibrary(library))
        return
    # Load by the names found: the unversioned "libm.so" is often a linker
    # script that dlopen() cannot load.
    for name in ("m", "crypt"):
        soname = find_library(name)
        print(soname)
        if soname:
            print(cdll.LoadLibrary(soname))
    print(dllist() if "dllist" in globals() else "dllist() not available")


if __name__ == "__main__":
    test()

"""How the extension is linked: its unwinder is its own (build.rs), and it still works.

On Linux with glibc the extension carries GCC's static unwinder instead of loading the
shared ``libgcc_s.so.1``, whose constructor alone costs ``import ferrotypes`` tens of
microseconds in a virtual machine (docs/performance.md). A Rust panic must still reach
PyO3 and come out as a Python exception.
"""

import platform
import subprocess
import sys

import pytest

from ferrotypes._ctypes import _rs

LINUX_GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"


def test_a_panic_comes_out_as_a_python_exception():
    with pytest.raises(BaseException) as caught:
        _rs.panic_for_tests("unwound through the static unwinder")
    assert type(caught.value).__name__ == "PanicException"
    assert "unwound through the static unwinder" in str(caught.value)
    # The extension is intact after it: a second panic unwinds too, and calls still work.
    with pytest.raises(BaseException, match="again"):
        _rs.panic_for_tests("again")
    import ferrotypes
    assert ferrotypes.c_int(7).value == 7


def _shared_objects_after(statement):
    """The shared objects mapped in a fresh interpreter once it has run ``statement``."""
    code = statement + "\nprint(open('/proc/self/maps').read())\n"
    maps = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout
    return {line.split()[-1] for line in maps.splitlines() if ".so" in line}


@pytest.mark.skipif(not LINUX_GLIBC, reason="the static unwinder is linked on Linux/glibc only")
def test_import_loads_no_libgcc_s():
    # Relative to the bare interpreter: Debian's 3.15 links libgcc_s itself.
    before = _shared_objects_after("pass")
    after = _shared_objects_after("import ferrotypes")
    added = sorted(after - before)
    assert any("_ctypes" in o for o in added)  # the extension is mapped: the right listing
    assert not [o for o in added if "libgcc_s" in o], added

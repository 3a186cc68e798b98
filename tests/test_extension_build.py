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


@pytest.mark.skipif(not LINUX_GLIBC, reason="the static unwinder is linked on Linux/glibc only")
def test_import_loads_no_libgcc_s():
    code = ("import ferrotypes\n"
            "print(''.join(open('/proc/self/maps').read()))\n")
    maps = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout
    assert "_ctypes" in maps  # the extension itself is mapped: the listing is the right one
    assert "libgcc_s" not in maps

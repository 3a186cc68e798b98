#!/usr/bin/env python3
"""What `import ferrotypes` costs against `import ctypes`, in fresh interpreters.

    python benches/import_cost.py [--runs N] [--instructions]

Wall: the cumulative `-X importtime` figure of each package, the smallest over N fresh
processes (default 15), and their ratio. With `--instructions`, also the instructions
callgrind counts for `python -c "import X"` beyond `python -c pass` (needs valgrind; for
3.14/3.15 in the Debian root, run it as `benches/callgrind_rows.py` is run there, with
VALGRIND/VALGRIND_LIB naming the bound copy).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys


def import_time(module: str) -> int:
    """Cumulative -X importtime of `module` in a fresh interpreter, in microseconds."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                         capture_output=True, text=True, check=True).stderr
    for line in err.splitlines():
        match = re.match(r"import time:\s*\d+\s*\|\s*(\d+)\s*\|\s*(\S.*)$", line)
        if match and match.group(2) == module:
            return int(match.group(1))
    raise RuntimeError(f"no -X importtime line for {module}")


def instructions(code: str) -> int:
    """Instructions callgrind counts for `python -c code`."""
    valgrind = os.environ.get("VALGRIND", "valgrind")
    proc = subprocess.run([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           sys.executable, "-c", code], capture_output=True, text=True)
    match = re.search(r"refs:\s+([\d,]+)", proc.stderr)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"callgrind failed:\n{proc.stderr}")
    return int(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per package")
    parser.add_argument("--instructions", action="store_true", help="also count instructions")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    version = sys.version.split()[0]
    best = {m: min(import_time(m) for _ in range(args.runs)) for m in ("ctypes", "ferrotypes")}
    print(f"CPython {version}: import ctypes {best['ctypes']} us, import ferrotypes "
          f"{best['ferrotypes']} us (best of {args.runs}): ratio "
          f"{best['ferrotypes'] / best['ctypes']:.2f}")
    if args.instructions:
        base = instructions("pass")
        extra = {m: instructions(f"import {m}") - base for m in ("ctypes", "ferrotypes")}
        print(f"CPython {version}: instructions beyond `pass`: ctypes {extra['ctypes'] / 1e6:.2f} M, "
              f"ferrotypes {extra['ferrotypes'] / 1e6:.2f} M: ratio "
              f"{extra['ferrotypes'] / extra['ctypes']:.2f}")


if __name__ == "__main__":
    main()

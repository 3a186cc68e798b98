"""The Python package is written in its own words, not copied from CPython's Lib/ctypes.

The bar: no run of RUN_LENGTH or more consecutive code lines in python/ferrotypes is
identical to a run in any CPython ``ctypes`` package found on this machine (the running
interpreter's stdlib first, then other installed CPythons). Lines are compared after
dropping comments and blank lines and collapsing whitespace, so reindenting or
re-commenting a copied body does not hide it.

Run as a script to list the runs: ``python tests/test_own_words.py [CTYPES_DIR ...]``.
"""

from __future__ import annotations

import glob
import io
import os
import re
import sys
import sysconfig
import tokenize
from pathlib import Path

import pytest

RUN_LENGTH = 6
OLDEST_MINOR = 11
PACKAGE = Path(__file__).resolve().parent.parent / "python" / "ferrotypes"
# Other CPython installs that may sit on a development machine; FERROTYPES_STDLIB_CTYPES
# (os.pathsep-separated) adds more.
OTHER_STDLIBS = (
    "~/.pyenv/versions/*/lib/python3.*/ctypes",
    "/usr/lib/python3.*/ctypes",
    "/usr/local/lib/python3.*/ctypes",
    "/var/cache/ferrotypes/sid-root/usr/lib/python3.*/ctypes",
)


def _minor_version(path: Path) -> int:
    """11 for .../lib/python3.11/ctypes; -1 if the path does not say."""
    match = re.search(r"python3\.(\d+)", str(path))
    return int(match.group(1)) if match else -1


def stdlib_ctypes_dirs() -> list[Path]:
    """The stdlib ctypes packages to compare against, the running interpreter's first.

    Other installs count from OLDEST_MINOR on (the API ferrotypes provides).
    """
    candidates = [Path(sysconfig.get_paths()["stdlib"]) / "ctypes"]
    for pattern in OTHER_STDLIBS:
        found = map(Path, sorted(glob.glob(os.path.expanduser(pattern))))
        candidates += [p for p in found if _minor_version(p) >= OLDEST_MINOR]
    extra = os.environ.get("FERROTYPES_STDLIB_CTYPES", "")
    candidates += [Path(p) for p in extra.split(os.pathsep) if p]
    found, seen = [], set()
    for path in candidates:
        if not (path / "__init__.py").is_file():
            continue
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append(path)
    return found


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, normalized text) of every line with code or string content."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    cut = {}  # line number -> column where a comment starts
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                cut[tok.start[0]] = tok.start[1]
    except (tokenize.TokenError, SyntaxError):
        pass
    result = []
    for number, text in enumerate(lines, 1):
        text = " ".join(text[: cut.get(number, len(text))].split())
        if text:
            result.append((number, text))
    return result


def python_files(root: Path):
    for path in sorted(root.rglob("*.py")):
        if "test" in path.relative_to(root).parts[:-1] or "__pycache__" in path.parts:
            continue
        yield path


def copied_runs(ours: Path, theirs: list[Path], length: int = RUN_LENGTH):
    """[(our file, first line, last line, their file)] for each maximal copied run."""
    windows: dict[tuple[str, ...], Path] = {}
    for root in theirs:
        for path in python_files(root):
            text = [t for _, t in code_lines(path)]
            for i in range(len(text) - length + 1):
                windows.setdefault(tuple(text[i:i + length]), path)
    runs = []
    for path in python_files(ours):
        lines = code_lines(path)
        text = [t for _, t in lines]
        start = end = None
        source = None
        for i in range(len(text) - length + 1):
            hit = windows.get(tuple(text[i:i + length]))
            if hit is None:
                continue
            if end is not None and i <= end:
                end = i + length - 1
                continue
            if start is not None:
                runs.append((path, lines[start][0], lines[end][0], source))
            start, end, source = i, i + length - 1, hit
        if start is not None:
            runs.append((path, lines[start][0], lines[end][0], source))
    return runs


def describe(runs) -> str:
    def shown(path):
        return path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE.parent) else path
    return "\n".join(f"{shown(path)}:{first}-{last} (also in {other})"
                     for path, first, last, other in runs)


def test_no_copied_runs():
    theirs = stdlib_ctypes_dirs()
    if not theirs:
        pytest.skip("no CPython Lib/ctypes found (running interpreter's stdlib or "
                    "FERROTYPES_STDLIB_CTYPES) to compare the package against")
    runs = copied_runs(PACKAGE, theirs)
    assert not runs, (f"{len(runs)} run(s) of {RUN_LENGTH}+ code lines identical to "
                      f"CPython's ctypes ({', '.join(map(str, theirs))}):\n{describe(runs)}")


def test_checker_sees_through_layout(tmp_path):
    """Reindented, respaced and commented, a copied body is still found; five
    shared lines are not a run."""
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    theirs.mkdir()
    ours.mkdir()
    (theirs / "__init__.py").write_text(
        "def f(a, b):\n    if a:\n        return b\n    x = a + b\n    y = x * 2\n"
        "    return y\n")
    (ours / "mod.py").write_text(
        "class K:\n    # copied\n    def f(a,  b):\n        if a:\n\n"
        "            return b   # note\n        x = a + b\n        y = x * 2\n"
        "        return y\n")
    runs = copied_runs(ours, [theirs])
    assert [(p.name, first, last) for p, first, last, _ in runs] == [("mod.py", 3, 9)]
    (ours / "mod.py").write_text(
        "def f(a, b):\n    if a:\n        return b\n    x = a + b\n    y = x * 3\n"
        "    return y\n")
    assert copied_runs(ours, [theirs]) == []


if __name__ == "__main__":
    dirs = [Path(p) for p in sys.argv[1:]] or stdlib_ctypes_dirs()
    print("compared against:", *dirs, sep="\n  ")
    found = copied_runs(PACKAGE, dirs)
    print(describe(found) or "no copied runs")
    print(f"{len(found)} run(s)")

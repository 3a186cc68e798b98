"""Every ```python block of the user guide runs, under ferrotypes and under stock ctypes.

The guide is ``docs/guide.md`` plus the pages in ``docs/guide/``. Each ```python fenced
block is one test, named ``<page>:<line>`` after the line of its opening fence:

* a block whose first line starts with ``>>>`` is a doctest and must match its output;
* any other block is a script, executed in a fresh namespace; it checks itself with
  ``assert`` (or ``print``s what the reader should see).

Blocks run in this process, except those that call ``install()`` (which rewires
``import ctypes`` for the whole process and refuses once the stdlib ``ctypes`` is loaded)
or that are marked ``subprocess``: they run in a fresh interpreter.

Each block runs a second time against the standard library's ``ctypes``: the block's
source with ``ferrotypes`` rewritten to ``ctypes``. Everything the guide shows is
supposed to behave exactly like CPython 3.11's ctypes, so it must pass there too, except
where the guide says otherwise. An HTML comment on the line right above the fence (it is
not rendered) says so:

* ``<!-- stock: differs -->``: the block documents a difference from CPython; it must pass
  under ferrotypes and FAIL under stock ctypes, which checks the guide's claim;
* ``<!-- stock: skip -->``: not compared (it is about ferrotypes itself, e.g. install()).
  Blocks that call ``install()`` or run ``-m ferrotypes`` are never compared.
* ``<!-- subprocess -->``: run in a fresh interpreter.
* ``<!-- stock: differs before 3.N -->``: a difference CPython removed in 3.N: compared as
  ``stock: differs`` on older interpreters, as an ordinary block from 3.N on;
* ``<!-- python before 3.N -->``: the block shows an API that 3.N removed; it is a test only
  on older interpreters.

Failures name the guide file and the line, as doctest's "File ..., line N" or as the
line of the traceback in the Markdown file.

The module doubles as the subprocess driver: ``python tests/test_docs.py PAGE LINE
[--stock]`` runs one block and exits non-zero if it fails.
"""

from __future__ import annotations

import doctest
import gc
import importlib.util
import io
import re
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest  # imports no ctypes, so the subprocess driver can still call install()

ROOT = Path(__file__).resolve().parent.parent
GUIDE_INDEX = ROOT / "docs" / "guide.md"
GUIDE_DIR = ROOT / "docs" / "guide"

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
MARKER = re.compile(r"^\s*<!--\s*(?P<body>.*?)\s*-->\s*$")


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    source: str
    markers: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        docs = ROOT / "docs"
        shown = self.path.relative_to(docs) if self.path.is_relative_to(docs) else self.path
        return f"{shown}:{self.line}"

    @property
    def is_doctest(self) -> bool:
        first = next((ln for ln in self.source.splitlines() if ln.strip()), "")
        return first.lstrip().startswith(">>>")

    @property
    def calls_install(self) -> bool:
        return ".install()" in self.source or "-m ferrotypes" in self.source

    @property
    def needs_subprocess(self) -> bool:
        return self.calls_install or "subprocess" in self.markers

    @property
    def stock_mode(self) -> str:
        """'same', 'differs' or 'skip': how the block fares under stock ctypes."""
        if self.calls_install or "stock: skip" in self.markers:
            return "skip"
        if "stock: differs" in self.markers:
            return "differs"
        until = _version_marker(self.markers, "stock: differs before ")
        if until is not None and sys.version_info < until:
            return "differs"
        return "same"

    @property
    def applies(self) -> bool:
        """False when the block shows an API this interpreter no longer has."""
        until = _version_marker(self.markers, "python before ")
        return until is None or sys.version_info < until


def _version_marker(markers: set[str], prefix: str) -> tuple[int, int] | None:
    """The version ``3.N`` of a marker ``<prefix>3.N``, if the block has one."""
    for marker in markers:
        if marker.startswith(prefix):
            major, minor = marker[len(prefix):].strip().split(".")
            return int(major), int(minor)
    return None


def guide_pages() -> list[Path]:
    pages = [GUIDE_INDEX] if GUIDE_INDEX.exists() else []
    if GUIDE_DIR.is_dir():
        pages += sorted(GUIDE_DIR.glob("*.md"))
    return pages


def extract_blocks(path: Path) -> list[Block]:
    """Every ```python fenced block of one Markdown file (nested fences respected)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, indent = m["fence"], m["info"].lower(), len(m["indent"])
        start = i
        body = []
        i += 1
        while i < len(lines):
            close = FENCE.match(lines[i])
            if (close and close["fence"][0] == fence[0] and len(close["fence"]) >= len(fence)
                    and not close["info"]):
                break
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        else:
            raise ValueError(f"{path}:{start + 1}: unclosed code fence")
        i += 1
        if info not in ("python", "py", "python3", "pycon"):
            continue
        markers = set()
        j = start - 1
        while j >= 0 and (mm := MARKER.match(lines[j])):
            markers |= {part.strip() for part in mm["body"].split(";")}
            j -= 1
        blocks.append(Block(path, start + 1, "\n".join(body) + "\n", markers))
    return blocks


def all_blocks() -> list[Block]:
    return [block for page in guide_pages() for block in extract_blocks(page) if block.applies]


def find_block(page: str, line: int) -> Block:
    for block in extract_blocks(Path(page).resolve()):
        if block.line == line:
            return block
    raise LookupError(f"no ```python block at {page}:{line}")


# ---------------------------------------------------------------------------
# Running one block

STOCK_REWRITES = [
    # The guide imports ferrotypes as ctypes; stock runs import the real thing.
    (re.compile(r"\bimport ferrotypes as ctypes\b"), "import ctypes"),
    (re.compile(r"\bferrotypes\b"), "ctypes"),
]


def stock_source(source: str) -> str:
    for pattern, replacement in STOCK_REWRITES:
        source = pattern.sub(replacement, source)
    return source


def run_block(block: Block, stock: bool = False) -> str | None:
    """Run ``block`` in this process; return None on success, else a failure report.

    An exception that reaches ``sys.unraisablehook`` while the block runs (or when its
    objects are collected afterwards) fails it too, unless the block installs its own hook.
    """
    unraisable = []
    previous_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        report = _run_block(block, stock)
        gc.collect()
    finally:
        sys.unraisablehook = previous_hook
    if report is None and unraisable:
        u = unraisable[0]
        report = "".join([f"{u.err_msg or 'Exception ignored in'}: {u.object!r}\n",
                          *traceback.format_exception(u.exc_value)])
    return report


def _run_block(block: Block, stock: bool) -> str | None:
    source = stock_source(block.source) if stock else block.source
    filename = str(block.path)
    if block.is_doctest:
        globs = {"__name__": "__main__"}
        test = doctest.DocTestParser().get_doctest(
            source, globs, block.name, filename, block.line)  # examples start a line below
        out = io.StringIO()
        runner = doctest.DocTestRunner(
            optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        try:
            runner.run(test, out=out.write, clear_globs=True)
        finally:
            sys.stdout.flush()
        if runner.failures:
            return out.getvalue()
        return None
    # A script: pad it so tracebacks carry the Markdown file's line numbers.
    padded = "\n" * block.line + source
    namespace = {"__name__": "__main__", "__file__": filename}
    try:
        exec(compile(padded, filename, "exec"), namespace)
    except BaseException:  # noqa: BLE001 - report anything, SystemExit included
        return traceback.format_exc()
    finally:
        namespace.clear()
    return None


def run_block_in_subprocess(block: Block, stock: bool = False) -> str | None:
    cmd = [sys.executable, str(Path(__file__).resolve()), str(block.path), str(block.line)]
    if stock:
        cmd.append("--stock")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    if proc.returncode == 0:
        return None
    return f"exit status {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def run(block: Block, stock: bool = False) -> str | None:
    if block.needs_subprocess:
        return run_block_in_subprocess(block, stock)
    return run_block(block, stock)


# ---------------------------------------------------------------------------
# pytest

BLOCKS = all_blocks()
IDS = [block.name for block in BLOCKS]


def _skip_without_numpy(block: Block) -> None:
    if re.search(r"^\s*(>>> )?(import numpy|from numpy)", block.source, re.M):
        if importlib.util.find_spec("numpy") is None:
            pytest.skip("needs numpy")


def test_guide_has_blocks():
    pages = guide_pages()
    assert GUIDE_INDEX in pages, "docs/guide.md is missing"
    assert len(BLOCKS) > 0
    # Every page of the guide is reachable from the index.
    index = GUIDE_INDEX.read_text(encoding="utf-8")
    for page in pages[1:]:
        assert f"guide/{page.name}" in index, f"{page.name} is not linked from guide.md"


def _anchors(page: Path) -> set[str]:
    """GitHub-style anchors of a page's headings."""
    found = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^#{1,6}\s+(.*)", line):
            found.add(re.sub(r"[^\w\- ]", "", m[1].strip().lower()).replace(" ", "-"))
    return found


def test_guide_links_resolve():
    """Relative links between the guide's pages point at existing files and headings."""
    broken = []
    for page in guide_pages():
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            file_part, _, anchor = target.partition("#")
            linked = (page.parent / file_part).resolve() if file_part else page
            if not linked.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("block", BLOCKS, ids=IDS)
def test_block_runs_under_ferrotypes(block: Block):
    _skip_without_numpy(block)
    failure = run(block)
    if failure:
        pytest.fail(f"{block.name}: the example fails under ferrotypes\n{failure}",
                    pytrace=False)


@pytest.mark.parametrize("block", BLOCKS, ids=IDS)
def test_block_matches_stock_ctypes(block: Block):
    mode = block.stock_mode
    if mode == "skip":
        pytest.skip("about ferrotypes itself; not compared with stock ctypes")
    _skip_without_numpy(block)
    failure = run(block, stock=True)
    if mode == "same" and failure:
        pytest.fail(f"{block.name}: the example fails under stock ctypes, so the guide "
                    f"shows something CPython does differently; mark it "
                    f"'<!-- stock: differs -->' and explain, or fix it\n{failure}",
                    pytrace=False)
    if mode == "differs" and not failure:
        pytest.fail(f"{block.name}: marked 'stock: differs' but passes under stock "
                    f"ctypes too; the documented difference does not hold", pytrace=False)


if __name__ == "__main__":
    args = sys.argv[1:]
    use_stock = "--stock" in args
    args = [a for a in args if a != "--stock"]
    if len(args) != 2:
        sys.exit("usage: python tests/test_docs.py PAGE LINE [--stock]")
    report = run_block(find_block(args[0], int(args[1])), stock=use_stock)
    if report:
        sys.stderr.write(report)
        sys.exit(1)

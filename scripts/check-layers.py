#!/usr/bin/env python3
"""Checks that the rooms of crates/ferrotypes-py/src form layers.

Each top-level folder of the crate is a room; lib.rs and the other top-level files are the
module table ("module"), the highest layer. A file may refer to its own room and to rooms
listed before it in LAYERS, never to one after it, so there is no import circle between
rooms. References are read from the code with comments and string literals removed:

* ``crate::room`` (in paths and ``use`` lines, ``crate::{a, b::c}`` groups included); a
  ``crate::name`` that is not a room is an item of lib.rs, i.e. of the module table;
* ``super::`` in a room's ``mod.rs`` is the crate root (resolved like ``crate::``); in any
  other file it is the same room.

Also checked: only ``interp/private_api.rs`` declares foreign functions (``extern "C" {``),
so the CPython functions the crate borrows stay in one place.

Usage: ``python scripts/check-layers.py [SRC_DIR]``; exits 1 and lists every violation.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Lowest first. Keep in step with the list in crates/ferrotypes-py/src/lib.rs.
LAYERS = ["interp", "native", "checked", "data", "callbacks", "calls", "module"]
SEAM = "interp/private_api.rs"
DEFAULT_SRC = Path(__file__).resolve().parent.parent / "crates" / "ferrotypes-py" / "src"

_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'')
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_PATH = re.compile(r"\b(crate|super)::(\{|\w+)")


def code_of(text: str) -> str:
    """The text with string/char literals and comments blanked (newlines kept)."""
    blank = lambda m: re.sub(r"[^\n]", " ", m.group(0))  # noqa: E731
    return _COMMENT.sub(blank, _STRING.sub(blank, text))


def group_heads(code: str, start: int) -> list[str]:
    """First identifiers of the top-level items of the ``{...}`` group opening at ``start``."""
    depth, item, heads = 0, "", []
    for ch in code[start:]:
        if ch == "{":
            depth += 1
            if depth == 1:
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                break
        if depth == 1 and ch == ",":
            heads.append(item)
            item = ""
        else:
            item += ch
    heads.append(item)
    return [m.group(0) for h in heads if (m := re.match(r"\w+", h.strip()))]


def room_of(rel: Path) -> str:
    return rel.parts[0] if len(rel.parts) > 1 else "module"


def check(src: Path = DEFAULT_SRC) -> list[str]:
    """Every layering violation under ``src``, as ``file:line: message``."""
    problems = []
    files = sorted(src.rglob("*.rs"))
    if not files:
        return [f"{src}: no Rust files"]
    rooms = {room_of(f.relative_to(src)) for f in files}
    for unknown in sorted(rooms - set(LAYERS)):
        problems.append(f"{src / unknown}: room not in LAYERS (add it to scripts/check-layers.py and lib.rs)")
    rank = {room: i for i, room in enumerate(LAYERS)}
    for path in files:
        rel = path.relative_to(src)
        mine = room_of(rel)
        code = code_of(path.read_text())
        if "extern \"C\" {" in path.read_text() and rel.as_posix() != SEAM:
            problems.append(f"{rel}: declares foreign functions; CPython's belong in {SEAM}")
        for m in _PATH.finditer(code):
            kind, head = m.groups()
            if kind == "super" and rel.name != "mod.rs":
                continue  # a sibling in the same room
            names = group_heads(code, m.start(2)) if head == "{" else [head]
            for name in names:
                if name == "super":
                    problems.append(f"{rel}:{code.count(chr(10), 0, m.start()) + 1}: super::super; name the room with crate::")
                    continue
                target = name if name in rank else "module"
                if target != mine and rank.get(target, len(LAYERS)) > rank.get(mine, -1):
                    line = code.count("\n", 0, m.start()) + 1
                    problems.append(f"{rel}:{line}: room '{mine}' refers to higher room '{target}' ({kind}::{name})")
    return problems


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else DEFAULT_SRC
    problems = check(src)
    for p in problems:
        print(p)
    if not problems:
        print(f"layers ok: {' < '.join(LAYERS)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

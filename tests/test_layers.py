"""The extension crate's rooms form layers (scripts/check-layers.py): no room refers to a
higher one, and only the interpreter seam declares CPython functions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check-layers.py"
_spec = importlib.util.spec_from_file_location("check_layers", _SCRIPT)
check_layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_layers)


def test_crate_rooms_form_layers():
    assert check_layers.check() == []


def test_checker_sees_an_upward_reference(tmp_path):
    # The checker itself: a data file reaching up into calls, through a `use` group, and a
    # foreign declaration outside the seam are reported; comments and strings are not.
    (tmp_path / "data").mkdir()
    (tmp_path / "calls").mkdir()
    (tmp_path / "lib.rs").write_text("mod data;\nmod calls;\n")
    (tmp_path / "calls" / "mod.rs").write_text("use crate::data::cdata;\n")
    (tmp_path / "data" / "mod.rs").write_text("pub mod cdata;\n")
    (tmp_path / "data" / "cdata.rs").write_text(
        '// crate::calls in a comment\nconst S: &str = "crate::calls";\n'
        "use crate::{interp, calls::funcptr};\nunsafe extern \"C\" {\n}\n"
    )
    problems = check_layers.check(tmp_path)
    assert problems == [
        "data/cdata.rs: declares foreign functions; CPython's belong in interp/private_api.rs",
        "data/cdata.rs:3: room 'data' refers to higher room 'calls' (crate::calls)",
    ]

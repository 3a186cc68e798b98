"""The built extension declares that it needs the GIL (``Py_mod_gil = Py_MOD_GIL_USED``).

ferrotypes' shared state is guarded by the GIL (docs/architecture.md, "Free-threaded
builds"), so a free-threaded CPython must re-enable the GIL when it imports
``ferrotypes._ctypes``. PyO3 0.28+ declares the opposite unless the ``#[pymodule]`` says
``gil_used = true``; this reads the declaration back from the module's export table, the
way the interpreter does, so a lost attribute fails here on any GIL-enabled build too.

The slot exists from CPython 3.13: 3.13 and 3.14 read it from the ``PyModuleDef`` that
``PyInit__ctypes`` returns; 3.15 from the ``PySlot`` array of ``PyModExport__ctypes``
(PEP 793), where PyO3 puts it.
"""

from __future__ import annotations

import ctypes
import os
import sys
import sysconfig

import pytest

import ferrotypes._ctypes

PY_MOD_GIL_LEGACY = 4  # Py_mod_gil in PyModuleDef_Slot (3.13, 3.14)
PY_MOD_GIL_PYSLOT = 87  # Py_mod_gil in PySlot (3.15+)
PY_MOD_GIL_USED = 0
PY_MOD_GIL_NOT_USED = 1


class PyModuleDef_Slot(ctypes.Structure):
    _fields_ = [("slot", ctypes.c_int), ("value", ctypes.c_void_p)]


class PyModuleDef(ctypes.Structure):
    _fields_ = [
        # PyModuleDef_Base: PyObject_HEAD, m_init, m_index, m_copy
        ("ob_refcnt", ctypes.c_ssize_t), ("ob_type", ctypes.c_void_p),
        ("m_init", ctypes.c_void_p), ("m_index", ctypes.c_ssize_t), ("m_copy", ctypes.c_void_p),
        ("m_name", ctypes.c_char_p), ("m_doc", ctypes.c_char_p), ("m_size", ctypes.c_ssize_t),
        ("m_methods", ctypes.c_void_p), ("m_slots", ctypes.POINTER(PyModuleDef_Slot)),
    ]


class PySlot(ctypes.Structure):
    _fields_ = [("sl_id", ctypes.c_uint16), ("sl_flags", ctypes.c_uint16),
                ("sl_reserved", ctypes.c_uint32), ("sl_ptr", ctypes.c_void_p)]


def gil_slots() -> list[int | None]:
    """The values of every Py_mod_gil slot the extension exports."""
    lib = ctypes.PyDLL(ferrotypes._ctypes.__file__)  # already loaded: the same handle
    if sys.version_info >= (3, 15):
        export = lib.PyModExport__ctypes
        export.restype = ctypes.POINTER(PySlot)
        slots = export()
        found, i = [], 0
        while slots[i].sl_id != 0:
            if slots[i].sl_id == PY_MOD_GIL_PYSLOT:
                found.append(slots[i].sl_ptr or 0)
            i += 1
        return found
    init = lib.PyInit__ctypes  # multi-phase: returns the PyModuleDef, again and again
    init.restype = ctypes.POINTER(PyModuleDef)
    module_def = init().contents
    assert module_def.m_name == b"_ctypes"
    found, i = [], 0
    while module_def.m_slots[i].slot != 0:
        if module_def.m_slots[i].slot == PY_MOD_GIL_LEGACY:
            found.append(module_def.m_slots[i].value or 0)
        i += 1
    return found


@pytest.mark.skipif(sys.version_info < (3, 13),
                    reason="the Py_mod_gil slot exists from CPython 3.13 (PyO3 emits none before)")
def test_module_declares_the_gil_used():
    assert gil_slots() == [PY_MOD_GIL_USED], (
        "ferrotypes._ctypes must declare Py_MOD_GIL_USED: #[pymodule(gil_used = true)] in "
        "crates/ferrotypes-py/src/lib.rs")


@pytest.mark.skipif(not sysconfig.get_config_var("Py_GIL_DISABLED"),
                    reason="not a free-threaded CPython (3.13t+): the GIL is always on")
def test_free_threaded_import_re_enables_the_gil():
    if os.environ.get("PYTHON_GIL") == "0" or sys.flags.gil == 0:
        pytest.skip("PYTHON_GIL=0 / -X gil=0 keeps the GIL off whatever modules declare")
    assert sys._is_gil_enabled(), "importing ferrotypes must have re-enabled the GIL"

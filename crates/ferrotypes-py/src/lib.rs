//! `ferrotypes._ctypes`: the extension module, with the same names and behavior as CPython
//! 3.11's `_ctypes`. This file is the module table: what `_ctypes` exports (in
//! `_ctypes` below), what the metaclasses may call (`_rs`, in `helper_namespace`), and the
//! order of set-up. Everything else lives in rooms, by concept, in layers; a room may use
//! the rooms listed before it, never one after it (`tests/test_layers.py` checks this):
//!
//! 1. `interp`    — the interpreter seam: private CPython API, GIL cell, vectorcall args
//! 2. `native`    — shared libraries, ctypes' private `errno`, core errors
//! 3. `checked`   — checked mode: the switch, memory probes, the call guard
//! 4. `data`      — C data: `_CData`, storage info, simple/pointer/array/structure types
//! 5. `callbacks` — C calling Python: thunks, foreign threads
//! 6. `calls`     — Python calling C: `CFuncPtr`, argument conversion, the fast lane
//! 7. this file and `metaclasses.rs` — the module table and set-up (may use every room)
#![deny(clippy::undocumented_unsafe_blocks)]

mod interp;
mod native;
mod checked;
mod data;
mod callbacks;
mod calls;
mod metaclasses;

use calls::convert::ArgumentError;
use calls::funcptr::{self, CFuncPtr};
use data::carg::{self, CArgObject};
use data::{array, c_entry_points, cdata, construct, from_param, pointer, roots, simple, stginfo, structure};
use pyo3::prelude::*;
use pyo3::types::PyModule;
use std::ffi::c_void;

/// Builds the helper namespace `_rs`: the newest API for `ferrotypes` to offer on every
/// version, and counters the tests read.
fn helper_namespace<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyModule>> {
    let rs = PyModule::new(py, "_ctypes._rs")?;
    // PyModule::new marks a module GIL-free; `_rs` shares `_ctypes`' state, so it says the
    // same as `_ctypes` (only a free-threaded build records it).
    rs.gil_used(true)?;
    // `add` keeps `__all__`; made up front, so that no set-up step raises (and takes) the
    // AttributeError of a first `add`.
    rs.setattr("__all__", pyo3::types::PyList::empty(py))?;
    rs.add_function(wrap_pyfunction!(c_entry_points::string_at, &rs)?)?;
    rs.add_function(wrap_pyfunction!(c_entry_points::wstring_at, &rs)?)?;
    rs.add_function(wrap_pyfunction!(c_entry_points::set_string_at_fallbacks, &rs)?)?;
    rs.add_function(wrap_pyfunction!(calls::fastcall::fast_lane_calls, &rs)?)?;
    rs.add_function(wrap_pyfunction!(interp::long_layout::int_layout_verified, &rs)?)?;
    rs.add_function(wrap_pyfunction!(panic_for_tests, &rs)?)?;
    rs.add_function(wrap_pyfunction!(data::block_cache::block_cache_state, &rs)?)?;
    // The newest ctypes API on every version: what `_ctypes` exports only from a later
    // CPython, for `ferrotypes` (and full mode) to offer on this one, while `_ctypes` itself
    // keeps the running version's names (its stdlib `ctypes` imports them in core mode).
    rs.add("behavior", interp::version::behavior(py))?;
    rs.add("SIZEOF_TIME_T", std::mem::size_of::<libc::time_t>())?;
    rs.add_function(wrap_pyfunction!(native::libraries::dllist, &rs)?)?;
    rs.add("CField", py.get_type::<data::cfield::CField>())?;
    rs.add("memoryview_at_addr", c_entry_points::memoryview_at_impl as *const c_void as usize)?;
    Ok(rs)
}

/// Panics (`_rs.panic_for_tests()`, for the tests): the unwinder linked into the extension
/// (build.rs) must carry a panic back to PyO3, which raises it as `PanicException`.
#[pyfunction]
fn panic_for_tests(message: &str) {
    panic!("{message}");
}

/// The module's `__getattr__` from 3.15, where `_ctypes.__version__` is deprecated: it
/// still gives "1.1.0", with a `DeprecationWarning` pointing at the caller.
#[pyfunction]
#[pyo3(name = "__getattr__")]
fn module_getattr(py: Python<'_>, name: &str) -> PyResult<&'static str> {
    if name == "__version__" {
        let category = py.get_type::<pyo3::exceptions::PyDeprecationWarning>();
        PyErr::warn(py, &category, c"'__version__' is deprecated and slated for removal in Python 3.20", 1)?;
        return Ok("1.1.0");
    }
    Err(pyo3::exceptions::PyAttributeError::new_err(format!("module '_ctypes' has no attribute '{name}'")))
}

/// Create and manipulate C compatible data types in Python.
// `gil_used = true`: this module relies on the GIL. Since PyO3 0.28 a `#[pymodule]` without
// the option declares the opposite (`Py_MOD_GIL_NOT_USED`), and a free-threaded CPython
// (3.13t+) would then run it without the GIL, which its shared state (`GilCell`, the type
// caches, per-function fast-lane plans, ...) is not built for; docs/architecture.md, "Free-
// threaded builds", lists that state and how each piece would be guarded. With the GIL
// declared used, a free-threaded interpreter re-enables the GIL when importing ferrotypes
// (with a RuntimeWarning). The slot only exists from 3.13; tests/test_gil_declaration.py
// reads it back from the built extension.
#[pymodule(gil_used = true)]
fn _ctypes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    // `add` keeps `__all__` (CPython's `_ctypes` has none, but PyO3 adds it); made up front,
    // so that no set-up step raises (and takes) the AttributeError of a first `add`.
    m.setattr("__all__", pyo3::types::PyList::empty(py))?;
    // Before any type is made: formats and messages follow the chosen behaviour.
    interp::version::init_behavior(py)?;
    interp::audit::init(py);
    interp::long_layout::verify(py);
    m.add_class::<simple::SimpleCData>()?;
    if crate::interp::version::at_least(py, 14) {
        // 3.14's `_SimpleCData.value` has no docstring.
        crate::interp::descriptors::clear_getset_doc(&py.get_type::<simple::SimpleCData>(), "value")?;
    }
    m.add_class::<structure::Structure>()?;
    m.add_class::<structure::Union>()?;
    m.add_class::<array::Array>()?;
    m.add_class::<pointer::Pointer>()?;
    m.add_class::<CFuncPtr>()?;
    m.add_class::<CArgObject>()?;
    // CPython 3.11's CArgObject is a static type named just "CArgObject" (module builtins);
    // from 3.12 it is a heap type of the `_ctypes` module, "_ctypes.CArgObject". PyO3 spells
    // tp_name "builtins.CArgObject", which shows in attribute errors and messages.
    let carg_type = py.get_type::<CArgObject>();
    let carg_in_module = interp::version::at_least(py, 12);
    let carg_name = if carg_in_module { c"_ctypes.CArgObject" } else { c"CArgObject" };
    // SAFETY: tp_name of a heap type may be replaced by a string that outlives the type (a
    // static); CPython's own `__name__` setter does the same.
    unsafe { (*carg_type.as_type_ptr()).tp_name = carg_name.as_ptr() };
    if carg_in_module {
        carg_type.setattr("__module__", "_ctypes")?;
    }
    m.add("ArgumentError", py.get_type::<ArgumentError>())?;

    // The stock special from_param functions must exist before the metaclasses run.
    let specials = [
        wrap_pyfunction!(from_param::c_char_p_from_param, m)?.into_any().unbind(),
        wrap_pyfunction!(from_param::c_wchar_p_from_param, m)?.into_any().unbind(),
        wrap_pyfunction!(from_param::c_void_p_from_param, m)?.into_any().unbind(),
    ];
    let _ = from_param::STOCK_SPECIAL_FROM_PARAM.set(py, specials);

    let rs = helper_namespace(py)?;
    let metas = metaclasses::create(m)?;

    let roots = roots::Roots {
        simple: py.get_type::<simple::SimpleCData>().unbind(),
        structure: py.get_type::<structure::Structure>().unbind(),
        union: py.get_type::<structure::Union>().unbind(),
        array: py.get_type::<array::Array>().unbind(),
        pointer: py.get_type::<pointer::Pointer>().unbind(),
        funcptr: py.get_type::<CFuncPtr>().unbind(),
    };
    metaclasses::adopt(roots.simple.bind(py), &metas.simple);
    metaclasses::adopt(roots.structure.bind(py), &metas.structure);
    metaclasses::adopt(roots.union.bind(py), &metas.union);
    metaclasses::adopt(roots.array.bind(py), &metas.array);
    metaclasses::adopt(roots.pointer.bind(py), &metas.pointer);
    metaclasses::adopt(roots.funcptr.bind(py), &metas.funcptr);
    let funcptr_root = roots.funcptr.clone_ref(py);
    let _ = roots::ROOTS.set(py, roots);

    funcptr::setup_vectorcall(py, funcptr_root.bind(py))?;
    roots::calibrate_direct_alloc(py)?;
    data::cfield::install_descriptor_slots(py);
    data::stginfo::remember_types(py);
    data::array::install_raw_subscript(py);
    data::pointer::install_raw_subscript(py);
    data::cdata::remember_buffer_slots(py);
    carg::calibrate_direct_alloc(py)?;
    carg::install_raw_slots(py);
    {
        let r = roots::roots(py);
        let constructed = [&metas.simple, &metas.structure, &metas.union, &metas.array, &metas.pointer].map(|m| m.clone().into_any());
        let kinds = [r.simple.bind(py), r.structure.bind(py), r.union.bind(py), r.array.bind(py), r.pointer.bind(py)];
        construct::install(py, &kinds, &constructed);
    }

    if interp::version::at_least(py, 12) {
        // The types of CPython's `_ctypes` are immutable (its static types, from 3.13 its
        // heap types made with the flag); the version's suites check `__flags__`.
        use pyo3::ffi::{Py_TPFLAGS_DISALLOW_INSTANTIATION, Py_TPFLAGS_IMMUTABLETYPE};
        let r = roots::roots(py);
        let mut types = vec![
            py.get_type::<cdata::CData>().into_any(),
            r.simple.bind(py).clone().into_any(),
            r.structure.bind(py).clone().into_any(),
            r.union.bind(py).clone().into_any(),
            r.array.bind(py).clone().into_any(),
            r.pointer.bind(py).clone().into_any(),
            r.funcptr.bind(py).clone().into_any(),
            py.get_type::<CArgObject>().into_any(),
            py.get_type::<data::cfield::CField>().into_any(),
        ];
        types.extend(metas.all().map(|m| m.clone().into_any()));
        for ty in &types {
            metaclasses::add_type_flags(ty, Py_TPFLAGS_IMMUTABLETYPE);
        }
        if !interp::version::at_least(py, 14) {
            // Up to 3.13 fields are made only by `_fields_`; 3.14's layout code calls the
            // constructor.
            metaclasses::add_type_flags(py.get_type::<data::cfield::CField>().as_any(), Py_TPFLAGS_DISALLOW_INSTANTIATION);
        }
    }
    m.add("_rs", rs)?;
    // Names that come and go with the running version, as that version's `_ctypes` has
    // them (its stdlib `ctypes` imports them).
    if !interp::version::at_least(py, 15) {
        m.add("__version__", "1.1.0")?;
    } else {
        m.add_function(wrap_pyfunction!(module_getattr, m)?)?;
    }
    if interp::version::at_least(py, 12) {
        m.add("SIZEOF_TIME_T", std::mem::size_of::<libc::time_t>())?;
    }
    if interp::version::at_least(py, 14) {
        // CField and _memoryview_at_addr: below, with CField's 3.14 names.
        m.add_function(wrap_pyfunction!(native::libraries::dllist, m)?)?;
    }
    m.add("FUNCFLAG_CDECL", stginfo::FUNCFLAG_CDECL)?;
    m.add("FUNCFLAG_PYTHONAPI", stginfo::FUNCFLAG_PYTHONAPI)?;
    m.add("FUNCFLAG_USE_ERRNO", stginfo::FUNCFLAG_USE_ERRNO)?;
    m.add("FUNCFLAG_USE_LASTERROR", stginfo::FUNCFLAG_USE_LASTERROR)?;
    #[cfg(windows)]
    {
        m.add("FUNCFLAG_STDCALL", stginfo::FUNCFLAG_STDCALL)?;
        m.add("FUNCFLAG_HRESULT", stginfo::FUNCFLAG_HRESULT)?;
    }
    m.add("RTLD_LOCAL", libc::RTLD_LOCAL)?;
    m.add("RTLD_GLOBAL", libc::RTLD_GLOBAL)?;
    m.add("CTYPES_MAX_ARGCOUNT", funcptr::CTYPES_MAX_ARGCOUNT)?;
    if interp::version::at_least(py, 14) {
        // 3.14 makes CField public, as `ctypes.CField`.
        let cfield = py.get_type::<data::cfield::CField>();
        metaclasses::set_type_dict_item(&cfield, "__module__", &pyo3::types::PyString::new(py, "ctypes"))?;
        // SAFETY: tp_name of a heap type may be replaced by a string that outlives the type (a
        // static), as for CArgObject above.
        unsafe { (*cfield.as_type_ptr()).tp_name = c"ctypes.CField".as_ptr() };
        metaclasses::set_type_dict_item(&cfield, "__doc__", &pyo3::types::PyString::new(py, "Structure/Union member"))?;
        m.add("CField", cfield)?;
        m.add("_memoryview_at_addr", c_entry_points::memoryview_at_impl as *const c_void as usize)?;
    }
    if !interp::version::at_least(py, 14) {
        // From 3.14 `ctypes` makes pointer types itself (`__pointer_type__`).
        m.add("_pointer_type_cache", pointer::pointer_type_cache(py)?)?;
        m.add_function(wrap_pyfunction!(pointer::pointer_type, m)?)?;
        m.add_function(wrap_pyfunction!(pointer::pointer, m)?)?;
    }
    m.add("_memmove_addr", ferrotypes_core::memory::memmove_addr())?;
    m.add("_memset_addr", ferrotypes_core::memory::memset_addr())?;
    m.add("_string_at_addr", c_entry_points::string_at_impl as *const c_void as usize)?;
    m.add("_wstring_at_addr", c_entry_points::wstring_at_impl as *const c_void as usize)?;
    m.add("_cast_addr", c_entry_points::cast_impl as *const c_void as usize)?;
    m.add_function(wrap_pyfunction!(stginfo::sizeof, m)?)?;
    m.add_function(wrap_pyfunction!(stginfo::alignment, m)?)?;
    interp::descriptors::add_fastcall_function(m, c"byref", carg::byref_doc(py), carg::byref_fastcall)?;
    m.add_function(wrap_pyfunction!(cdata::addressof, m)?)?;
    m.add_function(wrap_pyfunction!(cdata::resize, m)?)?;
    m.add_function(wrap_pyfunction!(native::libraries::dlopen, m)?)?;
    m.add_function(wrap_pyfunction!(native::libraries::dlclose, m)?)?;
    m.add_function(wrap_pyfunction!(native::libraries::dlsym, m)?)?;
    m.add_function(wrap_pyfunction!(native::errno::get_errno, m)?)?;
    m.add_function(wrap_pyfunction!(native::errno::set_errno, m)?)?;
    m.add_function(wrap_pyfunction!(interp::object_api::pyobj_from_ptr, m)?)?;
    m.add_function(wrap_pyfunction!(interp::object_api::py_incref, m)?)?;
    m.add_function(wrap_pyfunction!(interp::object_api::py_decref, m)?)?;
    m.add_function(wrap_pyfunction!(stginfo::buffer_info, m)?)?;
    m.add_function(wrap_pyfunction!(cdata::_unpickle, m)?)?;
    m.add_function(wrap_pyfunction!(funcptr::call_function, m)?)?;
    m.add("call_cdeclfunction", m.getattr("call_function")?)?;
    checked::register(m)?;
    let _ = cdata::MODULE.set(py, m.clone().unbind());
    data::block_cache::register_exit_hook(m)?;
    // Last: shutdown with foreign threads still calling in (interp/finalization.rs).
    interp::finalization::register_exit_hook(m)?;
    Ok(())
}

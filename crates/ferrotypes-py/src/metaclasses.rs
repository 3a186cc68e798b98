//! The metaclasses of the C-data classes: `PyCSimpleType`, `PyCStructType`, `UnionType`,
//! `PyCArrayType`, `PyCPointerType` and `PyCFuncPtrType`, with their common bases
//! `_CDataType` (what every C-data class can do: `from_address`, `from_buffer`, `in_dll`,
//! `T * n`, `__pointer_type__`) and `_AggregateType` (structures and unions).
//!
//! They are heap subclasses of `type` made from type specs at set-up (as CPython's own are
//! from 3.12), with C-level slots: a class statement runs no Python frame of ours. Each
//! metaclass's `tp_new` gives a new class its storage info (its `_stginfo_`); from 3.13, as
//! CPython's metaclasses there, that happens in `tp_init`, so a class made by `__new__`
//! alone stays abstract and a second `__init__` is refused. Part of the module table's
//! layer (with `lib.rs`): it runs during set-up and may use every room.
use crate::calls::funcptr;
use crate::data::from_param::{generic_from_param_method, pointer_from_param_method, simple_from_param_method};
use crate::data::stginfo::{namespace_item, own_dict, own_stginfo, store, StgInfo};
use crate::data::{array, construct, from_memory, from_param, pointer, roots, simple, structure};
use crate::interp::descriptors::{entry_result, install_o_method, type_setattr, type_setattro};
use crate::interp::version;
use pyo3::exceptions::{PyAttributeError, PySystemError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyModule, PyString, PyTuple, PyType};
use std::ffi::{c_int, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};

/// The metaclasses, as made at set-up.
pub struct Metaclasses<'py> {
    /// `_CDataType`: the common base.
    pub cdata: Bound<'py, PyType>,
    /// `_AggregateType`: the common base of the structure and union metaclasses.
    pub aggregate: Bound<'py, PyType>,
    pub simple: Bound<'py, PyType>,
    pub structure: Bound<'py, PyType>,
    pub union: Bound<'py, PyType>,
    pub array: Bound<'py, PyType>,
    pub pointer: Bound<'py, PyType>,
    pub funcptr: Bound<'py, PyType>,
}

impl<'py> Metaclasses<'py> {
    /// All eight, the common bases included.
    pub fn all(&self) -> [&Bound<'py, PyType>; 8] {
        [&self.cdata, &self.aggregate, &self.simple, &self.structure, &self.union, &self.array, &self.pointer, &self.funcptr]
    }
}

/// Which metaclass a `tp_new`/`tp_init` instantiation serves.
const SIMPLE: u8 = 0;
const STRUCT: u8 = 1;
const UNION: u8 = 2;
const ARRAY: u8 = 3;
const POINTER: u8 = 4;
const FUNCPTR: u8 = 5;

/// `PyCSimpleType` itself: only classes of exactly this metaclass get a byte-swapped twin.
static SIMPLE_META: AtomicPtr<ffi::PyObject> = AtomicPtr::new(std::ptr::null_mut());

/// Makes the metaclasses (for the module `m`).
pub fn create<'py>(m: &Bound<'py, PyModule>) -> PyResult<Metaclasses<'py>> {
    let py = m.py();
    let type_type = py.get_type::<PyType>();
    let multiply = array::multiply_slot();
    let cdata = new_metaclass(py, c"_ctypes._CDataType", c"Common base of the ctypes metaclasses: what every C-data class can do.", &type_type, &[slot(ffi::Py_nb_multiply, multiply as *mut c_void)])?;
    from_memory::install_cdata_type_methods(&cdata)?;
    let property = py.import("builtins")?.getattr("property")?.call1((
        wrap_pyfunction!(pointer::pointer_type_get, m)?,
        wrap_pyfunction!(pointer::pointer_type_set, m)?,
        wrap_pyfunction!(pointer::pointer_type_del, m)?,
        "The pointer type POINTER(cls) returns (CPython 3.14; every version here).",
    ))?;
    set_type_dict_item(&cdata, "__pointer_type__", &property)?;

    let aggregate = new_metaclass(py, c"_ctypes._AggregateType", c"Common base of the structure and union metaclasses.", &cdata, &[])?;
    install_o_method(&aggregate, c"from_param", FROM_PARAM_DOC, generic_from_param_method)?;
    let structure = new_metaclass(py, c"_ctypes.PyCStructType", c"Metaclass of Structure subclasses: lays out _fields_.", &aggregate, &kind_slots::<STRUCT>(py, Some(aggregate_setattro::<false>)))?;
    let union = new_metaclass(py, c"_ctypes.UnionType", c"Metaclass of Union subclasses: lays out _fields_ over one another.", &aggregate, &kind_slots::<UNION>(py, Some(aggregate_setattro::<true>)))?;

    let simple = new_metaclass(py, c"_ctypes.PyCSimpleType", c"Metaclass of _SimpleCData subclasses: _type_ picks the C scalar.", &cdata, &kind_slots::<SIMPLE>(py, None))?;
    install_o_method(&simple, c"from_param", FROM_PARAM_DOC, simple_from_param_method)?;
    SIMPLE_META.store(simple.as_ptr(), Ordering::Relaxed);

    let array = new_metaclass(py, c"_ctypes.PyCArrayType", c"Metaclass of Array subclasses: _type_ and _length_.", &cdata, &kind_slots::<ARRAY>(py, None))?;
    install_o_method(&array, c"from_param", FROM_PARAM_DOC, generic_from_param_method)?;

    let pointer = new_metaclass(py, c"_ctypes.PyCPointerType", c"Metaclass of _Pointer subclasses: _type_ is the pointed-to type.", &cdata, &kind_slots::<POINTER>(py, None))?;
    install_o_method(&pointer, c"from_param", FROM_PARAM_DOC, pointer_from_param_method)?;
    install_o_method(&pointer, c"set_type", c"set_type(type) -> None\n\nSets the pointed-to type of an incomplete pointer type.", pointer_set_type_method)?;

    let funcptr = new_metaclass(py, c"_ctypes.PyCFuncPtrType", c"Metaclass of CFuncPtr subclasses: _argtypes_, _restype_, _flags_.", &cdata, &kind_slots::<FUNCPTR>(py, None))?;
    install_o_method(&funcptr, c"from_param", FROM_PARAM_DOC, generic_from_param_method)?;

    Ok(Metaclasses { cdata, aggregate, simple, structure, union, array, pointer, funcptr })
}

const FROM_PARAM_DOC: &CStr = c"from_param(obj) -> object\n\nConverts obj to what a foreign function call with this argument type passes.";

fn slot(id: c_int, pfunc: *mut c_void) -> ffi::PyType_Slot {
    ffi::PyType_Slot { slot: id, pfunc }
}

/// The creation slots of one metaclass: `tp_new`, from 3.13 `tp_init`, and a `tp_setattro`
/// where given.
fn kind_slots<const K: u8>(py: Python<'_>, setattro: Option<ffi::setattrofunc>) -> Vec<ffi::PyType_Slot> {
    let mut slots = vec![slot(ffi::Py_tp_new, meta_new::<K> as *mut c_void)];
    if setup_in_init(py) {
        slots.push(slot(ffi::Py_tp_init, meta_init::<K> as *mut c_void));
    }
    if let Some(f) = setattro {
        slots.push(slot(ffi::Py_tp_setattro, f as *mut c_void));
    }
    slots
}

/// A heap subclass of `base` (`type` or one of ours) with the same C layout as `type`.
fn new_metaclass<'py>(py: Python<'py>, name: &'static CStr, doc: &'static CStr, base: &Bound<'py, PyType>, extra: &[ffi::PyType_Slot]) -> PyResult<Bound<'py, PyType>> {
    let mut slots: Vec<ffi::PyType_Slot> = extra.to_vec();
    // With a traverse function of its own, a type inherits neither the GC flag nor `tp_clear`
    // (CPython copies both only together with `tp_traverse`): all three are given here, the
    // clear function being `type`'s own, which breaks cycles through classes.
    slots.push(slot(ffi::Py_tp_traverse, meta_traverse as *mut c_void));
    // SAFETY: reading a slot of the interpreter's static `type` object.
    if let Some(type_clear) = unsafe { (*std::ptr::addr_of!(ffi::PyType_Type)).tp_clear } {
        slots.push(slot(ffi::Py_tp_clear, type_clear as *mut c_void));
    }
    slots.push(slot(ffi::Py_tp_dealloc, meta_dealloc as *mut c_void));
    slots.push(slot(ffi::Py_tp_doc, doc.as_ptr() as *mut c_void));
    slots.push(slot(0, std::ptr::null_mut()));
    let mut spec = ffi::PyType_Spec {
        name: name.as_ptr(),
        // 0: `type`'s own sizes (a class object of these metaclasses is a plain heap type).
        basicsize: 0,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_BASETYPE | ffi::Py_TPFLAGS_HAVE_GC) as std::ffi::c_uint,
        slots: slots.as_mut_ptr(),
    };
    let bases = PyTuple::new(py, [base])?;
    // SAFETY: `spec` and its slot array (NUL-terminated) are valid for the call; the name is
    // a static string (a heap type may keep pointing at it) and the doc is copied; `bases`
    // is a live tuple of types. The result is a new reference or NULL with an error set.
    let ty = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_FromSpecWithBases(&mut spec, bases.as_ptr()))? };
    Ok(ty.cast_into::<PyType>()?)
}

/// `tp_traverse` of the metaclasses: a class refers to its metaclass, a heap type here, and
/// the collector must see that reference (`type`'s own traverse does not visit it: a class
/// of `type` refers to a static type). Without it a cycle through a metaclass derived in
/// Python (its methods' closures, a cache in its namespace) was never collected.
///
/// # Safety
/// Called by the collector as a `tp_traverse` slot on a live class of one of these
/// metaclasses.
unsafe extern "C" fn meta_traverse(cls: *mut ffi::PyObject, visit: ffi::visitproc, arg: *mut c_void) -> c_int {
    // SAFETY: `cls` is live (contract); its type is a live heap type it holds a reference to.
    let meta = unsafe { ffi::Py_TYPE(cls) };
    // SAFETY: visiting a live object with the collector's own callback.
    let found = unsafe { visit(meta.cast(), arg) };
    if found != 0 {
        return found;
    }
    // SAFETY: reading a slot of the interpreter's static `type` object, which has it, and
    // calling it on a class (a heap type object) as the collector does.
    match unsafe { (*std::ptr::addr_of!(ffi::PyType_Type)).tp_traverse } {
        // SAFETY: `type`'s own traverse on a class object, with the collector's arguments.
        Some(type_traverse) => unsafe { type_traverse(cls, visit, arg) },
        None => 0,
    }
}

/// `tp_dealloc` of the metaclasses: `type`'s own, then the class's reference to its
/// metaclass goes. `type`'s deallocator leaves that to the metaclass (a class of `type`
/// refers to a static type), and `subtype_dealloc` leaves it to the first heap base, which
/// for a metaclass derived in Python is this one.
///
/// # Safety
/// Called by the interpreter as a `tp_dealloc` slot on a class nobody references.
unsafe extern "C" fn meta_dealloc(cls: *mut ffi::PyObject) {
    // SAFETY: `cls` is live until `type`'s deallocator frees it; its type is read first.
    let meta = unsafe { ffi::Py_TYPE(cls) };
    // SAFETY: reading a slot of the interpreter's static `type` object, which has it.
    if let Some(type_dealloc) = unsafe { (*std::ptr::addr_of!(ffi::PyType_Type)).tp_dealloc } {
        // SAFETY: `cls` is a heap type object being deallocated, as `type`'s deallocator
        // expects.
        unsafe { type_dealloc(cls) };
    }
    // SAFETY: the reference the class held on its (heap) metaclass since it was allocated.
    unsafe { ffi::Py_DECREF(meta.cast()) };
}

fn setup_in_init(py: Python<'_>) -> bool {
    version::at_least(py, 13)
}

/// The metaclasses' `tp_new`: `type.__new__`, the class's fast entries, and (up to 3.12) its
/// storage info.
///
/// # Safety
/// Called by the interpreter as a `tp_new` slot: GIL held, `mcls` a live metaclass, `args` a
/// tuple and `kwds` NULL or a dict.
unsafe extern "C" fn meta_new<const K: u8>(mcls: *mut ffi::PyTypeObject, args: *mut ffi::PyObject, kwds: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the slot's contract (above) is what `entry_result` and `type_new` need.
    unsafe {
        entry_result(|py| {
            let cls = type_new(py, mcls, args, kwds)?;
            construct::enable_construct(&cls);
            if !setup_in_init(py) {
                setup(K, &cls, &namespace_arg(py, args)?)?;
            }
            Ok(cls.into_any().unbind())
        })
    }
}

/// The metaclasses' `tp_init` from 3.13: `type.__init__`, then the storage info, once.
///
/// # Safety
/// Called by the interpreter as a `tp_init` slot: GIL held, `cls` a live class of this
/// metaclass, `args` a tuple and `kwds` NULL or a dict.
unsafe extern "C" fn meta_init<const K: u8>(cls: *mut ffi::PyObject, args: *mut ffi::PyObject, kwds: *mut ffi::PyObject) -> c_int {
    // SAFETY: `type`'s own initializer, with the arguments the interpreter passed.
    let init = unsafe { (*std::ptr::addr_of!(ffi::PyType_Type)).tp_init };
    // SAFETY: as above; `type` always has tp_init.
    if init.is_some_and(|f| unsafe { f(cls, args, kwds) } < 0) {
        return -1;
    }
    // SAFETY: the slot's contract: GIL held, live borrowed `cls` and `args`.
    unsafe {
        entry_status(|py| {
            let cls = Bound::from_borrowed_ptr(py, cls).cast_into::<PyType>()?;
            if own_stginfo(cls.as_any()).is_some() {
                return Err(PySystemError::new_err(format!("StgInfo of '{}' is already initialized.", cls.name()?)));
            }
            setup(K, &cls, &namespace_arg(py, args)?)
        })
    }
}

/// `tp_setattro` of the structure and union metaclasses: assigning `_fields_` lays the
/// class out; everything else is `type.__setattr__`.
///
/// # Safety
/// Called by the interpreter as a `tp_setattro` slot: GIL held, live `cls` and `name`,
/// `value` live or NULL (a deletion).
unsafe extern "C" fn aggregate_setattro<const IS_UNION: bool>(cls: *mut ffi::PyObject, name: *mut ffi::PyObject, value: *mut ffi::PyObject) -> c_int {
    // SAFETY: a type check and an ASCII comparison of a live object; neither raises.
    let is_fields = !value.is_null() && unsafe { ffi::PyUnicode_Check(name) != 0 && ffi::PyUnicode_CompareWithASCIIString(name, c"_fields_".as_ptr()) == 0 };
    if !is_fields {
        // SAFETY: `type`'s own setattr, with the slot's arguments.
        return unsafe { type_setattro(cls, name, value) };
    }
    // SAFETY: the slot's contract: GIL held, live borrowed `cls` and `value`.
    unsafe {
        entry_status(|py| {
            let cls = Bound::from_borrowed_ptr(py, cls).cast_into::<PyType>()?;
            structure::aggregate_set_fields(&cls, &Bound::from_borrowed_ptr(py, value), IS_UNION)
        })
    }
}

/// `PyCPointerType.set_type(type)` (METH_O).
///
/// # Safety
/// Called by the interpreter as a `METH_O` method: GIL held, live borrowed `cls` and `ty`.
unsafe extern "C" fn pointer_set_type_method(cls: *mut ffi::PyObject, ty: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the method's contract (above).
    unsafe {
        entry_result(|py| {
            let cls = Bound::from_borrowed_ptr(py, cls).cast_into::<PyType>()?;
            pointer::pointer_set_type(&cls, &Bound::from_borrowed_ptr(py, ty))?;
            Ok(py.None())
        })
    }
}

/// Gives a new class its storage info, as its metaclass says.
fn setup(kind: u8, cls: &Bound<'_, PyType>, namespace: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = cls.py();
    match kind {
        SIMPLE => setup_simple(cls, namespace),
        FUNCPTR => {
            store(cls, funcptr::funcptr_type_info(cls)?)?;
            funcptr::enable_vectorcall(cls);
            Ok(())
        }
        POINTER => pointer::pointer_setup(cls, namespace_item(namespace, pyo3::intern!(py, "_type_"))?.as_ref()),
        ARRAY => store(cls, array::array_type_info(cls)?),
        _ => {
            // `_fields_` (and `_abstract_`) as the class has them: from 3.13, set up in
            // `__init__`, that is the class's own dict, whatever a derived metaclass's
            // `__new__` put there.
            let is_union = kind == UNION;
            if setup_in_init(py) {
                let own = own_dict(cls.as_any()).ok_or_else(|| PySystemError::new_err("class has no namespace dict"))?;
                structure::aggregate_init(cls, is_union, own.as_any())
            } else {
                structure::aggregate_init(cls, is_union, namespace)
            }
        }
    }
}

/// A `_SimpleCData` subclass: `_type_` picks the scalar; direct subclasses get the
/// code-specific `from_param`; classes of exactly `PyCSimpleType` get a byte-swapped twin
/// (subclasses of `c_int` included, as in CPython; classes of derived metaclasses do not).
fn setup_simple(cls: &Bound<'_, PyType>, namespace: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = cls.py();
    let code = match cls.getattr(pyo3::intern!(py, "_type_")) {
        Ok(code) => code,
        Err(e) if e.is_instance_of::<PyAttributeError>(py) => {
            return Err(PyAttributeError::new_err("class must define a '_type_' attribute"));
        }
        Err(e) => return Err(e),
    };
    let code = simple_code(py, &code)?;
    store(cls, StgInfo::simple(py, &code, false)?)?;
    let bases = cls.getattr(pyo3::intern!(py, "__bases__"))?;
    let first_base = bases.cast::<PyTuple>()?.get_item(0).ok();
    if first_base.is_some_and(|b| b.as_ptr() == roots::simple_root(py).cast()) {
        if let Some(special) = from_param::special_from_param(py, &code) {
            // SAFETY: `special` is a live callable; PyClassMethod_New returns a new
            // reference or NULL with an error set.
            let method = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyClassMethod_New(special.as_ptr()))? };
            type_setattr(cls.as_any(), pyo3::intern!(py, "from_param"), &method)?;
        }
    }
    let meta = cls.get_type();
    if meta.as_ptr() != SIMPLE_META.load(Ordering::Relaxed) || !simple::simple_code_swappable(py, &code) {
        return Ok(());
    }
    let little = cfg!(target_endian = "little");
    let name = cls.name()?.to_string();
    let twin_name = format!("{name}{}", if little { "_be" } else { "_le" });
    let twin_namespace = py.get_type::<PyDict>().call1((namespace,))?.cast_into::<PyDict>()?;
    // The zero-argument super() cell belongs to the class being defined.
    if twin_namespace.contains("__classcell__")? {
        twin_namespace.del_item("__classcell__")?;
    }
    if !twin_namespace.contains("__qualname__")? {
        twin_namespace.set_item("__qualname__", &name)?;
    }
    if !twin_namespace.contains("__module__")? {
        twin_namespace.set_item("__module__", cls.getattr(pyo3::intern!(py, "__module__"))?)?;
    }
    let args = PyTuple::new(py, [PyString::new(py, &twin_name).into_any(), bases, twin_namespace.into_any()])?;
    // SAFETY: `type.__new__(meta, twin_name, bases, namespace)`: `meta` is the live
    // metaclass of `cls`, `args` a live 3-tuple, no keywords.
    let twin = unsafe { type_new(py, meta.as_type_ptr(), args.as_ptr(), std::ptr::null_mut())? };
    store(&twin, StgInfo::simple(py, &code, true)?)?;
    construct::enable_construct(&twin);
    let (le, be) = if little { (cls, &twin) } else { (&twin, cls) };
    for class in [cls, &twin] {
        class.setattr(pyo3::intern!(py, "__ctype_le__"), le)?;
        class.setattr(pyo3::intern!(py, "__ctype_be__"), be)?;
    }
    Ok(())
}

/// The one-letter code of the scalar kind a `_type_` names, checked as the running version
/// checks it (with its messages).
fn simple_code(py: Python<'_>, code: &Bound<'_, PyAny>) -> PyResult<String> {
    let Ok(code) = code.cast::<PyString>() else {
        return Err(PyTypeError::new_err("class must define a '_type_' string attribute"));
    };
    let code = code.to_str()?.to_owned();
    // The complex types: "F", "D", "G" where libffi has them (3.14's codes); 3.15 spells them
    // "Zf", "Zd", "Zg" (the struct module's codes), which every version here accepts.
    let complex = cfg!(not(windows));
    let newest_complex = |c: &str| match c {
        "Zf" if complex => Some("F"),
        "Zd" if complex => Some("D"),
        "Zg" if complex => Some("G"),
        _ => None,
    };
    // From 3.14 CPython checks a `_type_` against its whole field-descriptor table, which
    // also holds "s" and "U" (strings held inline); its message does not list them.
    let inline_string = |c: &str| c == "s" || c == "U";
    let windows_x = if cfg!(windows) { "X" } else { "" };
    let single = |c: &str, table: &str| c.chars().count() == 1 && table.contains(c);
    if version::at_least(py, 15) {
        let table = format!("cbBhHiIlLdfuzZqQP{windows_x}Ov?g");
        if single(&code, &table) || inline_string(&code) {
            return Ok(code);
        }
        if let Some(c) = newest_complex(&code) {
            return Ok(c.to_owned());
        }
        let strings = if complex { ",\nor one of these strings: 'Zf', 'Zd', 'Zg'." } else { "." };
        return Err(PyAttributeError::new_err(format!(
            "class must define a '_type_' attribute which must be\none of these characters: '{table}'{strings}"
        )));
    }
    if let Some(c) = newest_complex(&code) {
        // Before 3.14 CPython has no complex types; 3.14 also accepts its own "F", "D", "G".
        return Ok(c.to_owned());
    }
    if code.chars().count() != 1 {
        return Err(PyValueError::new_err("class must define a '_type_' attribute which must be a string of length 1"));
    }
    if version::at_least(py, 14) {
        let table = format!("cbBhHiIlLd{}fuzZqQP{windows_x}Ov?g", if complex { "DFG" } else { "" });
        if !single(&code, &table) && !inline_string(&code) {
            return Err(PyAttributeError::new_err(format!(
                "class must define a '_type_' attribute which must be\na single character string containing one of the\nsupported types: '{table}'."
            )));
        }
    } else {
        const TABLE: &str = "cbBhHiIlLdfuzZqQPXOv?g";
        if !single(&code, TABLE) {
            return Err(PyAttributeError::new_err(format!(
                "class must define a '_type_' attribute which must be\na single character string containing one of '{TABLE}'."
            )));
        }
    }
    Ok(code)
}

/// `type.__new__(mcls, *args, **kwds)`.
///
/// # Safety
/// GIL held; `mcls` a live metaclass, `args` a live tuple, `kwds` NULL or a live dict.
unsafe fn type_new<'py>(py: Python<'py>, mcls: *mut ffi::PyTypeObject, args: *mut ffi::PyObject, kwds: *mut ffi::PyObject) -> PyResult<Bound<'py, PyType>> {
    // SAFETY: reading a slot of the interpreter's static `type` object, which has it.
    let Some(new) = (unsafe { (*std::ptr::addr_of!(ffi::PyType_Type)).tp_new }) else {
        return Err(PySystemError::new_err("type has no tp_new"));
    };
    // SAFETY: the caller's contract; the result is a new reference or NULL with an error.
    let cls = unsafe { Bound::from_owned_ptr_or_err(py, new(mcls, args, kwds))? };
    Ok(cls.cast_into::<PyType>()?)
}

/// The class namespace of a metaclass call's `(name, bases, namespace)` arguments.
///
/// # Safety
/// GIL held; `args` a live tuple.
unsafe fn namespace_arg(py: Python<'_>, args: *mut ffi::PyObject) -> PyResult<Bound<'_, PyAny>> {
    // SAFETY: the caller's contract.
    let args = unsafe { Bound::from_borrowed_ptr(py, args) }.cast_into::<PyTuple>()?;
    if args.len() != 3 {
        return Err(PyTypeError::new_err(format!("metaclass takes 3 positional arguments (name, bases, namespace), {} given", args.len())));
    }
    args.get_item(2)
}

/// Runs the body of a raw slot that returns a status: 0, or -1 with the error raised.
///
/// # Safety
/// The caller holds the GIL.
unsafe fn entry_status(body: impl FnOnce(Python<'_>) -> PyResult<()>) -> c_int {
    // SAFETY: the GIL is held (this function's contract).
    let result = unsafe { entry_result(|py| body(py).map(|()| py.None())) };
    if result.is_null() {
        return -1;
    }
    // SAFETY: `result` is the new reference to None made above.
    unsafe { ffi::Py_DECREF(result) };
    0
}

/// Makes `meta` the metaclass of the PyO3-built root class `cls` (what CPython does for its
/// static root types with `Py_SET_TYPE`). Both are heap types of `type`'s exact layout.
pub fn adopt(cls: &Bound<'_, PyType>, meta: &Bound<'_, PyType>) {
    // SAFETY: `meta` is one of the metaclasses above, made with `type`'s sizes, so it
    // describes the same C layout as the class's current type (`type`); the class keeps a
    // strong reference to its new metaclass, and the old one (`type`, immortal static)
    // needs no release.
    unsafe {
        ffi::Py_INCREF(meta.as_ptr());
        (*cls.as_ptr()).ob_type = meta.as_ptr().cast();
    }
}

/// Adds `flags` (`Py_TPFLAGS_IMMUTABLETYPE`, `Py_TPFLAGS_DISALLOW_INSTANTIATION`) to a type
/// object made at set-up. CPython's own `_ctypes` types have them (its static types are
/// immutable; from 3.12 on the versions' suites check `__flags__`); PyO3 and type specs
/// without the flag make mutable heap types.
pub fn add_type_flags(ty: &Bound<'_, PyAny>, flags: std::ffi::c_ulong) {
    let tp: *mut ffi::PyTypeObject = ty.as_ptr().cast();
    // SAFETY: `ty` is a live, ready type object owned by this module; only flag bits that
    // CPython reads on later attribute assignment (`type.__setattr__`) and instantiation
    // checks are added, none that change its layout or its readiness.
    unsafe {
        (*tp).tp_flags |= flags;
        ffi::PyType_Modified(tp);
    }
}

/// Stores `name = value` in a type's own dict at set-up, also for a type that is already
/// immutable (PyO3 makes its classes so): what CPython's C code does to its types' dicts
/// before handing them out.
pub fn set_type_dict_item(ty: &Bound<'_, PyType>, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let dict = own_dict(ty.as_any()).ok_or_else(|| PySystemError::new_err("type has no dict"))?;
    dict.set_item(name, value)?;
    // SAFETY: `ty` is a live type whose dict just changed: its attribute caches must go.
    unsafe { ffi::PyType_Modified(ty.as_type_ptr()) };
    Ok(())
}

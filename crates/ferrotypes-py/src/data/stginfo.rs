//! Per-type storage information (CPython's StgDict): what every instance of a ctypes type
//! needs to know about its C representation. One immutable `StgInfo` per ctypes class,
//! stored in the class `__dict__` under `_stginfo_` by the metaclasses in
//! `python/ferrotypes/_ctypes_meta.py`, and found again with [`stginfo_of_type`]. Also the
//! Python functions that only read it (`sizeof`, `alignment`, `buffer_info`).
use super::cdata::CData;
use super::from_param::{traverse_converters, ArgConv};
use crate::interp::private_api::type_lookup;
use crate::interp::GilCell;
use ferrotypes_core::ffi_type::FfiType;
use ferrotypes_core::simple::{self, SimpleKind};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::Borrowed;
use pyo3::types::{PyString, PyTuple};
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// What kind of ctypes type this is.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Simple { kind: &'static SimpleKind, swapped: bool },
    Struct,
    Union,
    Array,
    Pointer,
    FuncPtr,
}

/// Type-level information of a function pointer type (`_argtypes_`, `_restype_`, `_flags_`).
pub struct FuncTypeInfo {
    pub argtypes: Option<Py<PyTuple>>,
    pub converters: Option<Vec<ArgConv>>,
    pub restype: Option<Py<PyAny>>,
    pub checker: Option<Py<PyAny>>,
    pub flags: i32,
    /// `_argtypes_` ended with the variadic marker (`...`): calls use a variadic interface.
    pub variadic: bool,
}

/// What indexing an array needs to know about its element type.
#[derive(Clone, Copy)]
pub struct ItemInfo {
    pub size: usize,
    pub simple: Option<(&'static SimpleKind, bool)>,
    /// The raw getter of `simple` (`simple::raw_accessors`), chosen once for the hand-written
    /// `arr[i]` and `p[i]` slots.
    pub raw_get: Option<super::simple::RawGet>,
}

impl ItemInfo {
    pub fn new(size: usize, simple: Option<(&'static SimpleKind, bool)>) -> ItemInfo {
        let raw_get = simple.and_then(|(kind, swapped)| super::simple::raw_accessors(kind, swapped)).map(|(get, _)| get);
        ItemInfo { size, simple, raw_get }
    }
}

/// `_flags_` of a function pointer type (`FuncTypeInfo::flags`), as CPython's FUNCFLAG_*.
/// Windows only (stdcall functions of `WinDLL`), exported there.
#[cfg_attr(not(windows), allow(dead_code))]
pub const FUNCFLAG_STDCALL: i32 = 0x0;
pub const FUNCFLAG_CDECL: i32 = 0x1;
/// Windows only (`OleDLL` results), exported there.
#[cfg_attr(not(windows), allow(dead_code))]
pub const FUNCFLAG_HRESULT: i32 = 0x2;
pub const FUNCFLAG_PYTHONAPI: i32 = 0x4;
pub const FUNCFLAG_USE_ERRNO: i32 = 0x8;
pub const FUNCFLAG_USE_LASTERROR: i32 = 0x10;

/// Type flags, as CPython's TYPEFLAG_*.
pub mod flags {
    pub const ISPOINTER: u32 = 0x100;
    pub const HASPOINTER: u32 = 0x200;
    pub const HASUNION: u32 = 0x400;
    pub const HASBITFIELD: u32 = 0x800;
}

#[pyclass(frozen, module = "_ctypes", name = "StgInfo")]
pub struct StgInfo {
    pub size: usize,
    pub align: usize,
    /// Arrays: element count; structures: field count; pointers and function pointers: 1.
    pub length: usize,
    pub kind: Kind,
    pub ffi: FfiType,
    /// Array element type, pointer target type (None for an incomplete pointer type).
    pub proto: Option<Py<PyAny>>,
    /// PEP 3118 format string of the whole type (element format for arrays).
    pub format: CString,
    /// PEP 3118 shape (empty for non-arrays).
    pub shape: Vec<isize>,
    /// PEP 3118 item size: the innermost element's size for arrays, else `size`.
    pub itemsize: usize,
    pub type_flags: u32,
    /// Arrays: the element's size and, when elements read back as plain Python values (a
    /// simple type derived directly from `_SimpleCData`), its scalar kind — so indexing
    /// needs no lookup of the element type.
    pub item: Option<ItemInfo>,
    pub func: Option<FuncTypeInfo>,
    /// Set once an instance exists (or the type is used as a field): `_fields_` is final.
    pub final_: AtomicBool,
    /// Structures and unions: the field names positional initializer arguments go to, base
    /// classes' first, cached with the class (address) and its CPython version tag, which
    /// changes whenever an attribute of the class or of a base (`_fields_` included) does.
    pub init_names: GilCell<Option<(usize, u32, Py<PyTuple>)>>,
    /// 3.14+: the type's `__pointer_type__` (what `POINTER(cls)` returns), set by the first
    /// pointer type made for it or by assignment; never inherited.
    pub pointer_type: GilCell<Option<Py<PyAny>>>,
    /// The class's `from_buffer`, `from_buffer_copy`, `from_address` and `in_dll` bound to
    /// it, each with the class's address, made on first access (`class_methods.rs`); kept
    /// only in the class's own storage info.
    pub bound_methods: [BoundMethodSlot; BOUND_METHODS],
}

/// How many metaclass methods each class keeps bound (`StgInfo::bound_methods`).
pub const BOUND_METHODS: usize = 4;

/// One kept bound method: the class's address and the method bound to it.
pub type BoundMethodSlot = GilCell<Option<(usize, Py<PyAny>)>>;

/// No bound methods kept yet.
pub fn no_bound_methods() -> [BoundMethodSlot; BOUND_METHODS] {
    std::array::from_fn(|_| GilCell::new(None))
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        match (self, other) {
            (Kind::Simple { kind: a, swapped: x }, Kind::Simple { kind: b, swapped: y }) => a.code == b.code && x == y,
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}
impl Eq for Kind {}

impl StgInfo {
    /// The method kept at `slot` bound to the class `cls` (a new reference), if one is.
    ///
    /// # Safety
    /// The GIL is held and `cls` is live.
    #[inline]
    pub unsafe fn bound_method(&self, slot: usize, cls: *mut ffi::PyObject) -> Option<*mut ffi::PyObject> {
        // SAFETY: slots are only replaced under the GIL (held: contract), and the kept
        // method is a live object the slot owns.
        let kept = unsafe { &*self.bound_methods.get(slot)?.as_ptr() };
        match kept {
            Some((owner, method)) if *owner == cls as usize => Some(method.as_ptr()).inspect(|&m| {
                // SAFETY: a live object, its new reference returned to the caller.
                unsafe { ffi::Py_INCREF(m) }
            }),
            _ => None,
        }
    }

    /// Keeps `method` (bound to `cls`, whose own storage info this is) at `slot`, unless a
    /// method is kept there already.
    pub fn keep_bound_method(&self, slot: usize, cls: &Borrowed<'_, '_, PyAny>, method: &Borrowed<'_, '_, PyAny>) {
        let Some(cell) = self.bound_methods.get(slot) else { return };
        // SAFETY: the GIL is held (the `Borrowed` arguments witness it); nothing else
        // borrows the slot while it is read and written here, and dropping `None` runs no
        // code.
        unsafe {
            if (*cell.as_ptr()).is_none() {
                *cell.as_ptr() = Some((cls.as_ptr() as usize, Bound::clone(method).unbind()));
            }
        }
    }

    pub fn new(size: usize, align: usize, length: usize, kind: Kind, ffi: FfiType, format: &str) -> Self {
        StgInfo {
            size,
            align,
            length,
            kind,
            ffi,
            proto: None,
            format: CString::new(format).unwrap_or_default(),
            shape: Vec::new(),
            itemsize: size,
            type_flags: 0,
            item: None,
            func: None,
            final_: AtomicBool::new(false),
            init_names: GilCell::new(None),
            pointer_type: GilCell::new(None),
            bound_methods: no_bound_methods(),
        }
    }

    pub fn simple_kind(&self) -> Option<(&'static SimpleKind, bool)> {
        match self.kind {
            Kind::Simple { kind, swapped } => Some((kind, swapped)),
            _ => None,
        }
    }

    pub fn mark_final(&self) {
        self.final_.store(true, Ordering::Relaxed);
    }

    pub fn is_final(&self) -> bool {
        self.final_.load(Ordering::Relaxed)
    }

    /// The PEP 3118 format including the array shape, as a pointer to (or a field of) this
    /// type describes it: `(2,3)<i` for `c_int * 3 * 2`.
    pub fn format_with_shape(&self) -> String {
        let f = self.format.to_string_lossy();
        if self.shape.is_empty() {
            return f.into_owned();
        }
        let dims: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        format!("({}){}", dims.join(","), f)
    }

    /// Byte-order prefix for PEP 3118 formats.
    pub fn endian_prefix(swapped: bool) -> &'static str {
        match (cfg!(target_endian = "little"), swapped) {
            (true, false) | (false, true) => "<",
            _ => ">",
        }
    }
}

#[pymethods]
impl StgInfo {
    /// Storage info of a simple type with the given `_type_` code.
    #[staticmethod]
    pub(crate) fn simple(py: Python<'_>, code: &str, swapped: bool) -> PyResult<Self> {
        let kind = code
            .bytes()
            .next()
            .and_then(SimpleKind::from_code)
            .ok_or_else(|| PyValueError::new_err(format!("_type_ '{code}' not supported")))?;
        let mut fmt = String::from(Self::endian_prefix(swapped));
        let v = crate::interp::version::behavior(py);
        if kind.class == simple::ValueClass::Complex && v == (3, 14) {
            // 3.14 describes complex numbers by their type code; 3.15 by the struct module's
            // (PEP 3118's "Zd"), which is what earlier versions, without complex types of
            // their own, get too.
            fmt.push(kind.code as char);
        } else {
            fmt.push_str(kind.format);
        }
        let mut info = StgInfo::new(kind.size, kind.align, 0, Kind::Simple { kind, swapped }, FfiType::Static(kind.ffi_type()), &fmt);
        if matches!(kind.code, b'z' | b'Z' | b'P' | b'O') {
            info.type_flags |= flags::ISPOINTER;
        }
        Ok(info)
    }

    /// Storage info of a pointer type to `proto` (None: incomplete until `set_type`).
    #[staticmethod]
    pub fn pointer(py: Python<'_>, proto: Option<Bound<'_, PyAny>>) -> PyResult<Self> {
        let size = std::mem::size_of::<*const u8>();
        let target_format = match &proto {
            Some(p) => stginfo_of_type(p)
                .map(|s| s.get().format_with_shape())
                .unwrap_or_else(|| "B".into()),
            None => "B".into(),
        };
        let mut info = StgInfo::new(size, size, 1, Kind::Pointer, FfiType::Static(simple::ffi_pointer()), &format!("&{target_format}"));
        // Indexing a pointer to a plain scalar needs no lookup of the target type (whose
        // size cannot change: only structures can be completed later).
        info.item = proto.as_ref().and_then(|p| {
            let target = stginfo_of_type(p)?;
            let simple = target.get().simple_kind().filter(|_| !super::simple::is_simple_subclass(p))?;
            Some(ItemInfo::new(target.get().size, Some(simple)))
        });
        info.proto = proto.map(|p| p.unbind());
        info.type_flags |= flags::ISPOINTER;
        let _ = py;
        Ok(info)
    }

    #[getter]
    fn size(&self) -> usize {
        self.size
    }
    #[getter]
    fn align(&self) -> usize {
        self.align
    }
    #[getter]
    fn length(&self) -> usize {
        self.length
    }
    #[getter]
    fn proto(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.proto.as_ref().map(|p| p.clone_ref(py))
    }
    #[getter]
    fn format(&self) -> String {
        self.format.to_string_lossy().into_owned()
    }
    #[getter(final_)]
    fn get_final(&self) -> bool {
        self.is_final()
    }
    /// A type's storage info refers to other types (the element or target type, argtypes,
    /// restype) that may refer back to the type (`cell._fields_ = [("next",
    /// POINTER(cell))]`), so the collector must see these references, as it sees CPython's
    /// `StgDict` (a dict). No `__clear__`: the info is immutable and only a type's
    /// `__dict__` holds it, so clearing that type breaks any cycle through it.
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.proto)?;
        self.pointer_type.traverse(&visit)?;
        for kept in &self.bound_methods {
            // SAFETY: the collector runs with the GIL held and no Python code runs while it
            // visits; the slot is only replaced under the GIL.
            if let Some((_, method)) = unsafe { &*kept.as_ptr() } {
                visit.call(method)?;
            }
        }
        if let Some(func) = &self.func {
            visit.call(&func.argtypes)?;
            traverse_converters(&func.converters, &visit)?;
            visit.call(&func.restype)?;
            visit.call(&func.checker)?;
        }
        Ok(())
    }
    fn __repr__(&self) -> String {
        format!("<StgInfo size={} align={} length={} kind={:?}>", self.size, self.align, self.length, self.kind)
    }
}

pub const STGINFO_KEY: &str = "_stginfo_";

/// The storage info of a ctypes type, found through the type's MRO (CPython 3.11 keeps it in
/// the type's dict too). `None` for non-ctypes types and the abstract roots.
pub fn stginfo_of_type<'py>(ty: &Bound<'py, PyAny>) -> Option<Bound<'py, StgInfo>> {
    let py = ty.py();
    // SAFETY: PyType_Check only reads the object's type flags.
    if unsafe { ffi::PyType_Check(ty.as_ptr()) } == 0 {
        return None;
    }
    let (key, stg_type) = (LOOKUP_KEY.load(Ordering::Relaxed), STGINFO_TYPE.load(Ordering::Relaxed));
    if key.is_null() {
        // Before set-up remembered them (module init itself).
        let key = pyo3::intern!(py, STGINFO_KEY);
        // SAFETY: `ty` is a type object (checked above) and `key` an interned str; the
        // result is borrowed, and an owned reference is taken before anything else runs.
        let found = unsafe { type_lookup(ty.as_ptr().cast(), key.as_ptr()) };
        // SAFETY: `found` is a valid borrowed reference when non-NULL.
        return (!found.is_null()).then(|| unsafe { Bound::from_borrowed_ptr(py, found) }).and_then(|o| o.cast_into::<StgInfo>().ok());
    }
    // SAFETY: as above, with the remembered interned key (kept alive for good). StgInfo
    // cannot be subclassed, so an exact type match is the whole check. A cached entry is
    // the object the same lookup found while the type had its current version (see
    // `interp::type_cache`), still in the type's MRO dicts.
    unsafe {
        let tp: *mut ffi::PyTypeObject = ty.as_ptr().cast();
        if let Some(found) = STGINFO_BY_VERSION.get(tp) {
            return Some(Bound::from_borrowed_ptr(py, found).cast_into_unchecked::<StgInfo>());
        }
        let found = type_lookup(tp, key);
        if found.is_null() || ffi::Py_TYPE(found) != stg_type {
            return None;
        }
        STGINFO_BY_VERSION.put(tp, found);
        Some(Bound::from_borrowed_ptr(py, found).cast_into_unchecked::<StgInfo>())
    }
}

/// Per class, by version tag (`interp::type_cache`): the class's storage info if a
/// decision about the class holds, or "it does not". For decisions that depend only on
/// what changes together with the class's version (its `tp_new`/`tp_init`, MRO,
/// `_stginfo_`), so that a hit is the answer. The value kept is the address of the
/// class's `StgInfo`, which its dicts keep alive while the version lasts.
pub struct StgInfoByVersion(crate::interp::type_cache::TypeVersionCache);

impl StgInfoByVersion {
    pub const fn new() -> Self {
        StgInfoByVersion(crate::interp::type_cache::TypeVersionCache::new())
    }

    /// `Some(decision)` for a class decided at its current version (`Some(info)`: it
    /// holds; `None`: it does not); `None` for a class not decided yet.
    ///
    /// # Safety
    /// As [`stginfo_borrowed`]: `tp` is a live type, the GIL is held, and no Python code
    /// runs while the result is used.
    #[inline(always)]
    pub unsafe fn cached<'a>(&self, tp: *mut ffi::PyTypeObject) -> Option<Option<&'a StgInfo>> {
        // SAFETY: `tp` is live with the GIL held (contract). A nonzero entry is the address
        // of the class's `StgInfo` value, stored at its current version, which its dicts
        // keep alive while that version lasts (and no Python code runs meanwhile:
        // contract); `StgInfo` is frozen, so sharing it is sound.
        unsafe { self.0.get_word(tp).map(|found| (found as *const StgInfo).as_ref()) }
    }

    /// Remembers the decision for `tp`'s current version and returns it.
    ///
    /// # Safety
    /// `tp` is a live type, the GIL is held; `info`, if any, is `tp`'s own storage info,
    /// just looked up (which gave the class a version if it can have one).
    #[inline]
    pub unsafe fn remember<'a>(&self, tp: *mut ffi::PyTypeObject, info: Option<&'a StgInfo>) -> Option<&'a StgInfo> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.0.put_word(tp, info.map_or(0, |i| i as *const StgInfo as usize)) };
        info
    }
}

/// [`stginfo_of_type`] for the hot slots (`arr[i]`, class calls): the storage info of the
/// type `tp` borrowed, without taking a reference, or `None` (also before set-up).
///
/// # Safety
/// `tp` is a live type object and the GIL is held; the caller runs no Python code while it
/// uses the result (the type's dicts, which hold the info, cannot change meanwhile).
#[inline]
pub unsafe fn stginfo_borrowed<'a>(py: Python<'_>, tp: *mut ffi::PyTypeObject) -> Option<&'a StgInfo> {
    let (key, stg_type) = (LOOKUP_KEY.load(Ordering::Relaxed), STGINFO_TYPE.load(Ordering::Relaxed));
    if key.is_null() {
        return None;
    }
    // SAFETY: `tp` is live with the GIL held (contract); a cached entry is the object the
    // same lookup found at the type's current version (see `stginfo_of_type`), and a found
    // object is checked to be exactly a `StgInfo` (which cannot be subclassed). Types keep
    // their `_stginfo_` in their dicts, so it lives as long as the caller may use it
    // (contract); `StgInfo` is frozen, so a shared reference to its value is sound.
    unsafe {
        let found = match STGINFO_BY_VERSION.get(tp) {
            Some(found) => found,
            None => {
                let found = type_lookup(tp, key);
                if found.is_null() || ffi::Py_TYPE(found) != stg_type {
                    return None;
                }
                STGINFO_BY_VERSION.put(tp, found);
                found
            }
        };
        let info: &'a StgInfo = &*(Borrowed::from_ptr(py, found).cast_unchecked::<StgInfo>().get() as *const StgInfo);
        Some(info)
    }
}

/// Storage info by type version (`_PyType_Lookup` gives the type its tag).
static STGINFO_BY_VERSION: crate::interp::type_cache::TypeVersionCache = crate::interp::type_cache::TypeVersionCache::new();

/// The interned `"_stginfo_"` and the `StgInfo` type object, for [`stginfo_of_type`]'s
/// lookups without PyO3's lazy statics ([`remember_types`], at module set-up).
static LOOKUP_KEY: AtomicPtr<ffi::PyObject> = AtomicPtr::new(std::ptr::null_mut());
static STGINFO_TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(std::ptr::null_mut());

/// Records the lookup key (one strong reference, never released) and the `StgInfo` type.
pub fn remember_types(py: Python<'_>) {
    STGINFO_TYPE.store(py.get_type::<StgInfo>().as_type_ptr(), Ordering::Relaxed);
    let key = pyo3::intern!(py, STGINFO_KEY).clone().into_ptr();
    if LOOKUP_KEY.compare_exchange(std::ptr::null_mut(), key, Ordering::Relaxed, Ordering::Relaxed).is_err() {
        // SAFETY: the reference just taken is not stored: give it back.
        unsafe { ffi::Py_DECREF(key) };
    }
}

/// Stores `info` as `cls`'s own storage info, with `type`'s own setattr (the class's
/// metaclass may customise setattr).
pub fn store(cls: &Bound<'_, pyo3::types::PyType>, info: StgInfo) -> PyResult<()> {
    let py = cls.py();
    crate::interp::descriptors::type_setattr(cls.as_any(), pyo3::intern!(py, STGINFO_KEY), Bound::new(py, info)?.as_any())
}

/// `namespace[key]`, or `None` if missing, for the class namespace a metaclass is given (a
/// dict: read without raising `KeyError`; any other mapping through `__getitem__`).
pub fn namespace_item<'py>(namespace: &Bound<'py, PyAny>, key: &Bound<'py, pyo3::types::PyString>) -> PyResult<Option<Bound<'py, PyAny>>> {
    match namespace.cast::<pyo3::types::PyDict>() {
        Ok(d) => d.get_item(key),
        Err(_) => Ok(namespace.get_item(key).ok()),
    }
}

/// A type's own namespace dict (`tp_dict`, not the read-only `__dict__` proxy), if it has one.
pub fn own_dict<'py>(ty: &Bound<'py, PyAny>) -> Option<Bound<'py, pyo3::types::PyDict>> {
    // SAFETY: PyType_Check only reads the object's type flags.
    if unsafe { ffi::PyType_Check(ty.as_ptr()) } == 0 {
        return None;
    }
    let tp: *mut ffi::PyTypeObject = ty.as_ptr().cast();
    // SAFETY: reading tp_dict of a live type object; the dict is borrowed from it and an
    // owned reference is taken at once.
    let dict = unsafe { (*tp).tp_dict };
    if dict.is_null() {
        return None;
    }
    // SAFETY: `dict` is the type's live namespace dict (see above).
    unsafe { Bound::from_borrowed_ptr(ty.py(), dict) }.cast_into::<pyo3::types::PyDict>().ok()
}

/// The storage info stored in the class's own `__dict__` (not inherited): what CPython keeps
/// with each type object itself.
pub fn own_stginfo<'py>(cls: &Bound<'py, PyAny>) -> Option<Bound<'py, StgInfo>> {
    own_dict(cls)?.get_item(pyo3::intern!(cls.py(), STGINFO_KEY)).ok()??.cast_into::<StgInfo>().ok()
}

/// The storage info of an object's type.
pub fn stginfo_of_instance<'py>(obj: &Bound<'py, PyAny>) -> Option<Bound<'py, StgInfo>> {
    stginfo_of_type(obj.get_type().as_any())
}

/// `sizeof(obj_or_type)`.
#[pyfunction]
pub fn sizeof(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    if let Some(info) = stginfo_of_type(obj) {
        return Ok(info.get().size);
    }
    if let Ok(c) = obj.cast::<CData>() {
        return Ok(c.get().size());
    }
    Err(PyTypeError::new_err("this type has no size"))
}

/// `alignment(obj_or_type)`.
#[pyfunction]
pub fn alignment(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    if let Some(info) = stginfo_of_type(obj) {
        return Ok(info.get().align);
    }
    if let Some(info) = stginfo_of_instance(obj) {
        return Ok(info.get().align);
    }
    Err(PyTypeError::new_err("no alignment info"))
}

/// `buffer_info(type_or_obj)` → (format, ndim, shape).
#[pyfunction]
pub fn buffer_info(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Py<PyTuple>> {
    let info = stginfo_of_type(obj)
        .or_else(|| stginfo_of_instance(obj))
        .ok_or_else(|| PyTypeError::new_err("not a ctypes type or object"))?;
    let i = info.get();
    let shape = PyTuple::new(py, &i.shape)?;
    Ok(PyTuple::new(py, [
        PyString::new(py, &i.format.to_string_lossy()).into_any(),
        i.shape.len().into_pyobject(py)?.into_any(),
        shape.into_any(),
    ])?
    .unbind())
}


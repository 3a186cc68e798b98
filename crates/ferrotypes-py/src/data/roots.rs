//! The six root classes (`_SimpleCData`, `Structure`, `Union`, `Array`, `_Pointer`,
//! `CFuncPtr`) and instance creation from Rust at a given address.
//!
//! CPython creates instances at an address with `tp_alloc`, bypassing `__new__`/`__init__`
//! overrides of the class. We do the same by calling the root's own `tp_new` with the
//! subclass: the memory to use is handed over in a thread-local that the root constructor
//! takes first thing (`cdata::set_pending`).
use super::cdata::{self, RawInit};
use super::stginfo::{stginfo_borrowed, stginfo_of_type, Kind, StgInfo, StgInfoByVersion};
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::Borrowed;
use pyo3::types::{PyTuple, PyType};

// Direct allocation (`cdata::alloc_direct`) writes only the `CData` part: the Rust parts
// of these roots must stay empty.
const _: () = assert!(
    std::mem::size_of::<super::simple::SimpleCData>() == 0
        && std::mem::size_of::<super::structure::Structure>() == 0
        && std::mem::size_of::<super::structure::Union>() == 0
        && std::mem::size_of::<super::array::Array>() == 0
        && std::mem::size_of::<super::pointer::Pointer>() == 0
);

pub struct Roots {
    pub simple: Py<PyType>,
    pub structure: Py<PyType>,
    pub union: Py<PyType>,
    pub array: Py<PyType>,
    pub pointer: Py<PyType>,
    pub funcptr: Py<PyType>,
}

pub static ROOTS: PyOnceLock<Roots> = PyOnceLock::new();

pub fn roots(py: Python<'_>) -> &Roots {
    ROOTS.get(py).expect("_ctypes roots are set at module init")
}

/// `_SimpleCData`'s type object pointer.
pub fn simple_root(py: Python<'_>) -> *mut ffi::PyTypeObject {
    roots(py).simple.as_ptr().cast()
}

impl Roots {
    fn for_kind(&self, kind: Kind) -> &Py<PyType> {
        match kind {
            Kind::Simple { .. } => &self.simple,
            Kind::Struct => &self.structure,
            Kind::Union => &self.union,
            Kind::Array => &self.array,
            Kind::Pointer => &self.pointer,
            Kind::FuncPtr => &self.funcptr,
        }
    }
}

/// Creates an instance of the ctypes class `cls` over the memory described by `init`,
/// without running `cls.__new__`/`__init__` overrides.
pub fn instantiate<'py>(cls: &Bound<'py, PyAny>, init: RawInit) -> PyResult<Bound<'py, PyAny>> {
    let info = stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let kind = info.get().kind;
    instantiate_kind(cls, kind, init)
}

/// Whether instances of `cls` (a class of storage kind `kind`) can be made by
/// [`instantiate_copy_direct`]: direct allocation is calibrated and `cls` derives from the
/// root of its kind, one of the calibrated roots (all but `CFuncPtr`). Decided once per
/// class by callers that make many instances (callback arguments).
pub fn allocates_directly(cls: &Bound<'_, PyAny>, kind: Kind) -> bool {
    let py = cls.py();
    let root = roots(py).for_kind(kind);
    // SAFETY: PyType_IsSubtype reads MROs of live type objects only (checked to be types).
    kind != Kind::FuncPtr
        && cdata::DIRECT.ready()
        && unsafe { ffi::PyType_Check(cls.as_ptr()) != 0 && ffi::PyType_IsSubtype(cls.as_ptr().cast(), root.as_ptr().cast()) != 0 }
}

/// The classes whose instances [`allocates_directly`] says are allocated directly, by
/// version tag (see `interp::type_cache`): the address of the class's `StgInfo` value if
/// so, 0 if not. What decides it (the class's MRO and `_stginfo_`) changes only together
/// with the version, and the `StgInfo` lives in the class's dicts as long as the version
/// stays.
static DIRECT_BY_VERSION: StgInfoByVersion = StgInfoByVersion::new();

/// The storage info of class `tp` if [`allocates_directly`] holds for it (and it has
/// storage info): one cache probe for the hot class methods (`from_buffer`).
///
/// # Safety
/// As `stginfo::stginfo_borrowed`: `tp` is a live type, the GIL is held, and no Python
/// code runs while the result is used.
#[inline(always)]
pub unsafe fn direct_stginfo<'a>(py: Python<'_>, tp: *mut ffi::PyTypeObject) -> Option<&'a StgInfo> {
    // SAFETY: forwarded from this function's contract.
    match unsafe { DIRECT_BY_VERSION.cached(tp) } {
        Some(decided) => decided,
        // SAFETY: forwarded from this function's contract.
        None => unsafe { direct_stginfo_uncached(py, tp) },
    }
}

/// [`direct_stginfo`] for a class not in the cache: decides and remembers.
///
/// # Safety
/// As [`direct_stginfo`].
#[cold]
#[inline(never)]
unsafe fn direct_stginfo_uncached<'a>(py: Python<'_>, tp: *mut ffi::PyTypeObject) -> Option<&'a StgInfo> {
    // SAFETY: forwarded from this function's contract.
    let info: &'a StgInfo = unsafe { stginfo_borrowed(py, tp) }?;
    // SAFETY: `tp` is a live object (contract), borrowed for this call.
    let cls = unsafe { Borrowed::from_ptr(py, tp.cast::<ffi::PyObject>()) };
    let direct = allocates_directly(&cls, info.kind);
    // SAFETY: as above; `info` is the class's own, just looked up.
    unsafe { DIRECT_BY_VERSION.remember(tp, direct.then_some(info)) }
}

/// A new owned instance of `cls` holding a copy of `size` bytes at `src`, allocated
/// directly (no root lookup, no subtype check).
///
/// # Safety
/// [`allocates_directly`] said true for `cls`; `src` is readable for `size` bytes and
/// `size`/`length` are those of `cls`'s storage info.
pub unsafe fn instantiate_copy_direct<'py>(cls: &Bound<'py, PyAny>, size: usize, length: usize, src: *const u8) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: direct allocation is calibrated and `cls` derives from a calibrated root
    // (contract).
    let obj = unsafe { cdata::alloc_owned(cls.py(), cls.as_ptr().cast(), size, length)? };
    // SAFETY: the new instance is a `CData` (as above) owning `size` bytes; `src` is
    // readable for `size` (contract); distinct memory.
    unsafe {
        let cd = obj.cast_unchecked::<cdata::CData>();
        std::ptr::copy_nonoverlapping(src, cd.get().ptr(), size);
    }
    Ok(obj)
}

/// As [`instantiate`], for a class whose storage kind the caller already knows (callbacks
/// resolve it once, when the prototype is instantiated, instead of on every call).
pub fn instantiate_kind<'py>(cls: &Bound<'py, PyAny>, kind: Kind, init: RawInit) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let root = roots(py).for_kind(kind);
    if kind != Kind::FuncPtr && cdata::DIRECT.ready() {
        let tp: *mut ffi::PyTypeObject = cls.as_ptr().cast();
        // SAFETY: `cls` is a type (it has storage info); PyType_IsSubtype reads MROs only.
        if unsafe { ffi::PyType_Check(cls.as_ptr()) != 0 && ffi::PyType_IsSubtype(tp, root.as_ptr().cast()) != 0 } {
            if let RawInit::Owned { size, length } = init {
                // SAFETY: as below; the value is written in place.
                return unsafe { cdata::alloc_owned(py, tp, size, length) };
            }
            let data = cdata::CData::from_raw_init(init)?;
            // SAFETY: direct allocation is calibrated, and `cls` derives from the root of
            // its kind, which is one of the calibrated roots (all but CFuncPtr).
            return unsafe { cdata::alloc_direct(py, tp, data) };
        }
    }
    // SAFETY: reading tp_new of a live type object.
    let tp_new = unsafe { (*root.bind(py).as_type_ptr()).tp_new }.ok_or_else(|| PyTypeError::new_err("no tp_new"))?;
    let args = PyTuple::empty(py);
    cdata::set_pending(init);
    // SAFETY: `cls` is a type (it has storage info) deriving from `root`; tp_new returns a
    // new reference or NULL with an exception set.
    let obj = unsafe { tp_new(cls.as_ptr().cast(), args.as_ptr(), std::ptr::null_mut()) };
    drop(cdata::take_pending());
    // SAFETY: `obj` is a new reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, obj) }
}

/// A new owned instance of `cls` holding a copy of `size` bytes at `src`.
///
/// # Safety
/// `src` must be readable for the type's size.
pub unsafe fn instantiate_copy<'py>(cls: &Bound<'py, PyAny>, src: *const u8) -> PyResult<Bound<'py, PyAny>> {
    let info = stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let (kind, size, length) = (info.get().kind, info.get().size, info.get().length);
    // SAFETY: forwarded from this function's contract.
    unsafe { instantiate_copy_kind(cls, kind, size, length, src) }
}

/// As [`instantiate_copy`], with the class's storage kind, size and length already known.
///
/// # Safety
/// `src` must be readable for `size` bytes, and `kind`/`size`/`length` must be those of
/// `cls`'s storage info.
pub unsafe fn instantiate_copy_kind<'py>(
    cls: &Bound<'py, PyAny>,
    kind: Kind,
    size: usize,
    length: usize,
    src: *const u8,
) -> PyResult<Bound<'py, PyAny>> {
    let obj = instantiate_kind(cls, kind, RawInit::Owned { size, length })?;
    let cd = obj.cast::<cdata::CData>()?;
    // SAFETY: `src` is readable for `size` bytes (contract); the new object owns `size`.
    unsafe { std::ptr::copy_nonoverlapping(src, cd.get().ptr(), size) };
    Ok(obj)
}

/// Checks that `cls` is a complete ctypes type and returns its size.
pub fn type_size(cls: &Bound<'_, PyAny>) -> PyResult<usize> {
    stginfo_of_type(cls).map(|i| i.get().size).ok_or_else(|| PyTypeError::new_err("this type has no size"))
}

/// Measures the instance layout of the roots with empty Rust parts on a throwaway
/// `_SimpleCData` instance, enabling direct allocation if it is the expected one.
pub fn calibrate_direct_alloc(py: Python<'_>) -> PyResult<()> {
    let r = roots(py);
    let simple = r.simple.bind(py);
    // SAFETY: reading tp_new of a live type object.
    let tp_new = unsafe { (*simple.as_type_ptr()).tp_new }.ok_or_else(|| PyTypeError::new_err("no tp_new"))?;
    cdata::set_pending(RawInit::Owned { size: 0, length: 0 });
    let args = PyTuple::empty(py);
    // SAFETY: calling the root's own tp_new with itself; returns a new reference or NULL.
    let obj = unsafe { tp_new(simple.as_ptr().cast(), args.as_ptr(), std::ptr::null_mut()) };
    drop(cdata::take_pending());
    // SAFETY: a new reference or NULL with an exception set.
    let probe = unsafe { Bound::from_owned_ptr_or_err(py, obj) }?;
    let kinds = [&r.simple, &r.structure, &r.union, &r.array, &r.pointer].map(|t| t.as_ptr().cast());
    cdata::DIRECT.calibrate(probe.cast::<cdata::CData>()?, &kinds);
    drop(probe);
    cdata::install_dealloc(&kinds);
    Ok(())
}

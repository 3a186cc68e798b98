//! The `_CData` base of every ctypes instance: a block of C memory and the keep-alive graph.
//!
//! An instance either owns its memory (`_b_needsfree_` is 1: small values live inline in the
//! object, larger ones in a heap block freed with the object) or borrows it from another
//! object (`_b_base_`, e.g. a structure field or array element) or from a raw address
//! (`from_address`). `_objects` holds the Python objects whose memory C may see through this
//! one, keyed exactly as CPython keys them, so nothing is freed while still referenced.
use super::block_cache;
use super::direct_alloc::DirectLayout;
use super::stginfo::{flags, stginfo_borrowed, stginfo_of_instance, stginfo_of_type, StgInfo};
use crate::interp::names::type_name;
use crate::interp::GilCell;
use ferrotypes_core::memory::block_class;
use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::Borrowed;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyModule, PyTuple};
use std::cell::RefCell;
use std::ffi::{c_int, c_void};

/// Bytes stored inside the object itself (CPython's `b_value` union): enough for every
/// scalar, including `long double`, with its alignment.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct Inline(pub [u8; 16]);
const INLINE_SIZE: usize = 16;

/// Where an instance's bytes live.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Storage {
    Inline,
    /// Owned, allocated with `PyMem_Malloc`/`PyMem_Calloc` (pymalloc for small blocks, as CPython's
    /// ctypes), freed on drop.
    Heap(*mut u8),
    /// Someone else's memory (`_b_base_` or a raw address).
    Borrowed(*mut u8),
}

/// Which [`Storage`] an instance has; its pointer is kept apart, so that the tag packs
/// with `index` and an instance is no bigger than stock ctypes' (64 bytes of Rust data).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Place {
    /// Zero: an all-zero `CData` (what `tp_alloc` hands out) is an empty inline instance.
    Inline = 0,
    Heap,
    Borrowed,
}

#[pyclass(subclass, frozen, module = "_ctypes", name = "_CData")]
pub struct CData {
    /// The memory for `Place::Heap` and `Place::Borrowed` (unused while inline).
    data: GilCell<*mut u8>,
    inline: GilCell<Inline>,
    size: GilCell<usize>,
    place: GilCell<Place>,
    /// Index of this object inside its `_b_base_` (CPython's `b_index`), for keep-alive
    /// keys (which print it as a 32-bit number).
    index: GilCell<i32>,
    /// Copied from the type: arrays' element count etc. (CPython's `b_length`).
    length: GilCell<usize>,
    base: GilCell<Option<Py<PyAny>>>,
    objects: GilCell<Option<Py<PyAny>>>,
    /// What `objects` stands for when `_objects` has not been asked for yet ([`Keep`]).
    /// (Packs into the padding beside `place` and `index`: the instance does not grow.)
    keep: GilCell<Keep>,
}

/// How an instance holds what `_objects` shows, when that is not simply `objects`.
///
/// `from_buffer` keeps the buffer it was made over; CPython keeps a memoryview of it in
/// `_objects` (`{'ffffffff': <memory>}` for arrays and structures, the memoryview itself
/// for simple types). Most such instances are read and dropped without anyone looking at
/// `_objects`, and the memoryview (two GC objects) and the dict were most of the cost, so
/// they are made when `_objects` is first asked for ([`CData::objects`]), or when a second
/// object must be kept beside the first.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Keep {
    /// Zero (what `tp_alloc` hands out): `objects` is `_objects`.
    Plain = 0,
    /// `objects` is empty and the instance holds a buffer export of its own (a
    /// `PyMem_Malloc`ed `Py_buffer`, its pointer in the unused inline bytes of this
    /// borrowed instance): `_objects` is a memoryview of the exporter, kept as above.
    HeldView,
}

/// The `_CData` type object, remembered at module set-up ([`remember_type`]) so hand-written
/// slots check instances without PyO3's lazy type lookup.
static CDATA_TYPE: std::sync::atomic::AtomicPtr<ffi::PyTypeObject> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

/// Records the `_CData` type object for [`instance_of`] (module set-up).
pub fn remember_type(py: Python<'_>) {
    CDATA_TYPE.store(py.get_type::<CData>().as_type_ptr(), std::sync::atomic::Ordering::Relaxed);
}

/// `obj`'s `CData` part, if `obj` is a ctypes instance (`PyObject_TypeCheck` against the
/// remembered `_CData` type; `None` before set-up recorded it).
///
/// Before the subtype walk, one cheap test settles the usual case: every class made by our
/// metaclasses, and every subclass of one, has [`raw_getbuffer`] as its buffer entry
/// ([`enable_raw_buffer`]), and nothing else can (the function is private to this module
/// and only reaches a type by inheritance from one of ours). A class that replaced the
/// entry (a Python `__buffer__`) takes the walk. That saves about 25 instructions on every
/// field access and `arr[i]`.
///
/// # Safety
/// `obj` is a live object the caller holds for `'a`, with the GIL held.
#[inline]
pub unsafe fn instance_of<'a>(obj: *mut ffi::PyObject) -> Option<&'a CData> {
    let tp = CDATA_TYPE.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: `obj` is live (contract), so its type is, with its buffer procs (NULL or
    // owned by the type); `tp` is the ready `_CData` type, which the module keeps alive, or
    // NULL (checked first). One expression, not `instance_of_quick` then
    // `instance_by_walk`: that pair costs `arr[i]` 8 instructions more (a second load of
    // the type and a NULL test a live object does not need).
    let is_instance = !tp.is_null() && unsafe {
        let own = ffi::Py_TYPE(obj);
        own == tp || has_raw_buffer_entry(own) || ffi::PyType_IsSubtype(own, tp) != 0
    };
    // SAFETY: an instance of `_CData` (checked), held by the caller for `'a`.
    is_instance.then(|| unsafe { cdata_part(obj) })
}

/// [`instance_of`] without the subtype walk: `obj`'s `CData` part if `obj` is not NULL and
/// its class is `_CData` itself or carries [`raw_getbuffer`] (every class of our
/// metaclasses, see [`instance_of`]); `None` says "not settled here", not "not an
/// instance". No call, so that the raw entries built on it need no stack frame.
///
/// # Safety
/// `obj` is NULL or a live object the caller holds for `'a`, with the GIL held.
#[inline(always)]
pub unsafe fn instance_of_quick<'a>(obj: *mut ffi::PyObject) -> Option<&'a CData> {
    if obj.is_null() {
        return None;
    }
    let tp = CDATA_TYPE.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: `obj` is live (contract), so its type is, with its buffer procs (NULL or
    // owned by the type); `tp` is the ready `_CData` type or NULL (then nothing matches
    // except a class with our buffer entry, which only exists once set-up ran).
    let own = unsafe { ffi::Py_TYPE(obj) };
    // SAFETY: as above; an instance of `_CData` (checked) is what `cdata_part` needs.
    unsafe { (!tp.is_null() && (own == tp || has_raw_buffer_entry(own))).then(|| cdata_part(obj)) }
}

/// The subtype walk of [`instance_of`], for the classes [`instance_of_quick`] leaves open
/// (a subclass whose class replaced the buffer entry, or not a ctypes instance at all).
///
/// # Safety
/// As [`instance_of`].
pub unsafe fn instance_by_walk<'a>(obj: *mut ffi::PyObject) -> Option<&'a CData> {
    let tp = CDATA_TYPE.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: `obj` is live (contract), so its type is; `tp` is the ready `_CData` type,
    // which the module keeps alive, or NULL (checked first). An instance of it is what
    // `cdata_part` needs.
    unsafe { (!tp.is_null() && ffi::PyType_IsSubtype(ffi::Py_TYPE(obj), tp) != 0).then(|| cdata_part(obj)) }
}

/// The `CData` part of an instance of `_CData`.
///
/// # Safety
/// `obj` is a live instance of `_CData` the caller holds for `'a`, with the GIL held.
#[inline(always)]
unsafe fn cdata_part<'a>(obj: *mut ffi::PyObject) -> &'a CData {
    // SAFETY: an instance of `_CData` holds a `CData` where PyO3 puts it (contract).
    unsafe { Borrowed::from_ptr(Python::assume_attached(), obj).cast_unchecked::<CData>() }.get()
}

/// Makes [`cdata_dealloc`] the `tp_dealloc` of the roots in `roots` (those whose instances
/// hold a `CData` and empty Rust parts, as calibrated for direct allocation); their Python
/// subclasses reach it through `subtype_dealloc`. Without a calibrated layout PyO3's stays.
pub fn install_dealloc(roots: &[*mut ffi::PyTypeObject]) {
    if !DIRECT.ready() {
        return;
    }
    for &tp in roots {
        // SAFETY: each is a ready heap type of this module with the calibrated layout, set
        // up before any of its instances exists (the probe is gone); the entry has
        // `destructor`'s signature.
        unsafe { (*tp).tp_dealloc = Some(cdata_dealloc) };
    }
}

/// `tp_dealloc` of the C-data roots: what CPython's ctypes does for its instances (untrack,
/// release `_b_base_` and `_objects`, free owned memory, free the object, release the
/// heap type), without PyO3's generic path (its type lookups, slot queries and trampoline).
unsafe extern "C" fn cdata_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: CPython calls tp_dealloc with the GIL held on an object nobody references any
    // more, of a type deriving from a calibrated root, so its `CData` is at the calibrated
    // offset and initialised. The object's type is a heap type that its instances
    // reference: released after the memory is freed, as `subtype_dealloc` leaves it to the
    // base whose dealloc is a heap type's.
    unsafe {
        ffi::PyObject_GC_UnTrack(obj.cast());
        let tp = ffi::Py_TYPE(obj);
        let value = (obj as *mut u8).add(VALUE_OFFSET) as *const CData;
        (*value).release_in_dealloc();
        // Every ready type has a tp_free (inherited from `object` at worst).
        let free = (*tp).tp_free.unwrap_unchecked();
        free(obj.cast());
        ffi::Py_DECREF(tp.cast());
    }
}

// `release_in_dealloc` releases everything a `CData` owns by hand and never runs its drop
// glue: every field but the two references is plain data.
const _: () = {
    assert!(!std::mem::needs_drop::<GilCell<*mut u8>>());
    assert!(!std::mem::needs_drop::<GilCell<Inline>>());
    assert!(!std::mem::needs_drop::<GilCell<usize>>());
    assert!(!std::mem::needs_drop::<GilCell<Place>>());
    assert!(!std::mem::needs_drop::<GilCell<i32>>());
};

/// How a new instance gets its memory when created from Rust rather than by calling the class.
pub enum RawInit {
    /// Fresh zeroed memory of `size` bytes.
    Owned { size: usize, length: usize },
    /// Memory that belongs to `base` (or to nobody Python knows, for `from_address`).
    Borrowed { ptr: *mut u8, size: usize, length: usize, base: Option<Py<PyAny>>, index: isize },
}

thread_local! {
    /// Set just before Rust calls a root type's `tp_new` to build an instance at a given
    /// address; taken by the constructor. Nothing runs between the two.
    static PENDING: RefCell<Option<RawInit>> = const { RefCell::new(None) };
}

pub fn set_pending(init: RawInit) {
    PENDING.with(|p| *p.borrow_mut() = Some(init));
}

pub fn take_pending() -> Option<RawInit> {
    PENDING.with(|p| p.borrow_mut().take())
}

/// Direct allocation of the roots with empty Rust parts (`_SimpleCData`, `Structure`,
/// `Union`, `Array`, `_Pointer`): their `CData` sits right after the object header.
pub static DIRECT: DirectLayout = DirectLayout::new();

/// `DIRECT.offset()` once calibrated (the only offset it accepts), as a constant.
const VALUE_OFFSET: usize = super::direct_alloc::value_offset::<CData>();

/// A new instance of `subtype` owning `size` zeroed bytes (inline up to 16), allocated with
/// the type's `tp_alloc` and its `CData` written in place: what [`alloc_direct`] does with
/// `CData::owned`, without building the value and copying it.
///
/// # Safety
/// As [`alloc_direct`].
#[inline(always)]
pub unsafe fn alloc_owned<'py>(py: Python<'py>, subtype: *mut ffi::PyTypeObject, size: usize, length: usize) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: forwarded from this function's contract; the result is a new reference or
    // NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, alloc_owned_raw(subtype, size, length)) }
}

/// [`alloc_owned`] as C code returns it: a new reference, or NULL with an exception set.
/// Only C API calls and plain stores: nothing here can panic, so the hottest entries (class
/// calls) call it without a guard.
///
/// # Safety
/// As [`alloc_direct`], with the GIL held.
#[inline(always)]
pub unsafe fn alloc_owned_raw(subtype: *mut ffi::PyTypeObject, size: usize, length: usize) -> *mut ffi::PyObject {
    // SAFETY: `subtype` is a live type (contract).
    let obj = unsafe { tp_alloc(subtype) };
    if obj.is_null() {
        return obj;
    }
    // SAFETY: the type derives from a calibrated root, so its instances hold a `CData` at
    // the calibrated offset; all-zero bytes are a valid `CData` (null pointer, zero sizes,
    // `Place::Inline` = 0, `None` references); the GIL is held and the object is ours alone.
    let value = unsafe { &*((obj as *const u8).add(VALUE_OFFSET) as *const CData) };
    // Written first, so that fewer values live across the calls below (an instance whose
    // block could not be allocated stays inline: its deallocation frees nothing).
    value.size.set(size);
    value.length.set(length);
    if size > INLINE_SIZE {
        let data = alloc_zeroed_raw(size);
        if data.is_null() {
            // SAFETY: `obj` is our new reference, an empty inline instance whose
            // deallocation frees nothing; the GIL is held.
            unsafe {
                ffi::Py_DECREF(obj);
                ffi::PyErr_NoMemory();
            }
            return std::ptr::null_mut();
        }
        value.data.set(data);
        value.place.set(Place::Heap);
    }
    obj
}

/// `subtype->tp_alloc(subtype, 0)`: a zeroed object of the type's basic size (GC-tracked
/// if the type is a GC type), or NULL with an exception set.
///
/// # Safety
/// `subtype` is a live, ready type object; the GIL is held.
#[inline(always)]
unsafe fn tp_alloc(subtype: *mut ffi::PyTypeObject) -> *mut ffi::PyObject {
    // SAFETY: a ready type has a tp_alloc (inherited from `object` at worst), which takes
    // the type and an item count (contract).
    unsafe { ((*subtype).tp_alloc.unwrap_unchecked())(subtype, 0) }
}

/// A new instance of `subtype` over `size` bytes at `ptr` that belong to no ctypes
/// instance (memory `from_buffer` borrows from a buffer export), with no `_b_base_`, as C
/// code returns it: a new reference, or NULL with an exception set.
///
/// # Safety
/// As [`alloc_direct`], with the GIL held; the caller keeps the memory alive for as long as
/// the instance (in its `_objects`).
#[inline(always)]
pub unsafe fn alloc_borrowed_raw(subtype: *mut ffi::PyTypeObject, ptr: *mut u8, size: usize, length: usize) -> *mut ffi::PyObject {
    // SAFETY: `subtype` is a live type (contract).
    let obj = unsafe { tp_alloc(subtype) };
    if !obj.is_null() {
        // SAFETY: as in `alloc_owned_raw`: a valid all-zero `CData` at the calibrated
        // offset, ours alone; index 0 and no base are what the zero bytes already say.
        let value = unsafe { &*((obj as *const u8).add(VALUE_OFFSET) as *const CData) };
        value.data.set(ptr);
        value.place.set(Place::Borrowed);
        value.size.set(size);
        value.length.set(length);
    }
    obj
}

/// A new instance of `subtype` holding `data`, allocated with the type's `tp_alloc` (as
/// CPython's ctypes does) instead of through the root's `tp_new`: no constructor runs, no
/// argument tuple or thread-local hand-over is needed, and the instance dictionary stays
/// unmaterialised until used.
///
/// # Safety
/// `DIRECT.ready()` returned true, and `subtype` is a live type deriving from one of the
/// roots `DIRECT` was calibrated with (`roots::calibrate_direct_alloc`).
pub unsafe fn alloc_direct<'py>(py: Python<'py>, subtype: *mut ffi::PyTypeObject, data: CData) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: forwarded from this function's contract.
    unsafe { DIRECT.alloc(py, subtype, data) }
}

/// Blocks up to this many bytes (pymalloc's small-object limit) come from `PyMem_Malloc`
/// and are zeroed with `memset`, as CPython's ctypes does: `PyMem_Calloc` is a second,
/// slower entry into the same allocator. Larger ones come from `PyMem_Calloc`, which can
/// hand out fresh pages without writing them. Up to `block_class::MAX_CACHED` bytes, the
/// block cache comes first ([`block_cache`]).
const SMALL_BLOCK: usize = 512;

/// A zeroed block of `size` bytes (at least one), owned by the caller, given back with
/// [`block_cache::free`] (with the owner's recorded size) or `PyMem_Free`.
#[inline(always)]
fn alloc_zeroed(size: usize) -> PyResult<*mut u8> {
    let p = alloc_zeroed_raw(size);
    if p.is_null() {
        return Err(pyo3::exceptions::PyMemoryError::new_err(()));
    }
    Ok(p)
}

/// [`alloc_zeroed`], NULL when memory runs out (no exception set).
#[inline(always)]
fn alloc_zeroed_raw(size: usize) -> *mut u8 {
    if size <= block_class::MAX_CACHED {
        // SAFETY: every CData is made and dropped by Python-facing code, with the GIL held;
        // the size is in the cache's range.
        return unsafe { block_cache::alloc_zeroed_small(size.max(1)) };
    }
    if size > SMALL_BLOCK {
        return alloc_zeroed_large(size);
    }
    // SAFETY: PyMem_Malloc with a non-zero size, called with the GIL held (as above); NULL
    // is handled.
    let p = unsafe { ffi::PyMem_Malloc(size) } as *mut u8;
    if !p.is_null() {
        // SAFETY: `p` is a fresh block of `size` bytes.
        unsafe { std::ptr::write_bytes(p, 0, size) };
    }
    p
}

#[inline(never)]
fn alloc_zeroed_large(size: usize) -> *mut u8 {
    // SAFETY: as in `alloc_zeroed_raw`.
    unsafe { ffi::PyMem_Calloc(size, 1) as *mut u8 }
}

impl CData {
    /// The memory of a new instance of `cls` in a root class's constructor: what Rust handed
    /// over for an instance at an address (`set_pending`), else fresh zeroed storage of the
    /// type's size. `check` rejects types that cannot have instances (abstract classes,
    /// incomplete pointer types); creating an instance makes the type's `_fields_` final.
    pub fn for_new_instance(
        cls: &Bound<'_, pyo3::types::PyType>,
        check: impl FnOnce(&StgInfo) -> PyResult<()>,
    ) -> PyResult<CData> {
        if let Some(init) = take_pending() {
            return CData::from_raw_init(init);
        }
        let info = stginfo_of_type(cls.as_any()).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
        let i = info.get();
        check(i)?;
        i.mark_final();
        CData::owned(i.size, i.length)
    }

    /// What `cdata_dealloc` does in place of dropping: releases `_b_base_` and `_objects`
    /// (by hand: dropping a `Py` outside PyO3's own entries would only queue the release)
    /// and frees owned heap memory, once. The value must not be used or dropped afterwards.
    ///
    /// # Safety
    /// The GIL is held and the instance is being deallocated (nobody references it).
    #[inline]
    unsafe fn release_in_dealloc(&self) {
        if self.keep.get() == Keep::HeldView {
            // SAFETY: the GIL is held and the state says the export is held.
            unsafe { self.release_held_view() };
        }
        for cell in [&self.base, &self.objects] {
            if cell.is_some() {
                if let Some(held) = cell.replace(None) {
                    // SAFETY: a strong reference this instance owned; the GIL is held.
                    unsafe { ffi::Py_DECREF(held.into_ptr()) };
                }
            }
        }
        if self.place.get() == Place::Heap {
            // SAFETY: heap storage is owned exclusively by this instance, from `alloc_zeroed`
            // or `block_cache::realloc` (room for its recorded size, as the cache needs),
            // and given back once: the instance itself is freed right after (the only
            // caller is `cdata_dealloc`), so its place needs no reset. The GIL is held.
            unsafe { block_cache::free(self.data.get(), self.size.get()) };
        }
    }

    /// An instance owning `size` zeroed bytes.
    pub fn owned(size: usize, length: usize) -> PyResult<CData> {
        let (place, data) = if size <= INLINE_SIZE { (Place::Inline, std::ptr::null_mut()) } else { (Place::Heap, alloc_zeroed(size)?) };
        Ok(CData {
            data: GilCell::new(data),
            inline: GilCell::new(Inline([0; 16])),
            size: GilCell::new(size),
            place: GilCell::new(place),
            index: GilCell::new(0),
            length: GilCell::new(length),
            base: GilCell::new(None),
            objects: GilCell::new(None),
            keep: GilCell::new(Keep::Plain),
        })
    }

    pub fn from_raw_init(init: RawInit) -> PyResult<CData> {
        match init {
            RawInit::Owned { size, length } => CData::owned(size, length),
            RawInit::Borrowed { ptr, size, length, base, index } => Ok(CData {
                data: GilCell::new(ptr),
                inline: GilCell::new(Inline([0; 16])),
                size: GilCell::new(size),
                place: GilCell::new(Place::Borrowed),
                index: GilCell::new(index as i32),
                length: GilCell::new(length),
                base: GilCell::new(base),
                objects: GilCell::new(None),
                keep: GilCell::new(Keep::Plain),
            }),
        }
    }

    /// The address of the instance's bytes.
    #[inline]
    pub fn ptr(&self) -> *mut u8 {
        match self.place.get() {
            Place::Inline => self.inline.as_ptr().cast(),
            Place::Heap | Place::Borrowed => self.data.get(),
        }
    }

    #[inline]
    pub fn size(&self) -> usize {
        self.size.get()
    }

    pub fn length(&self) -> usize {
        self.length.get()
    }

    pub fn index(&self) -> isize {
        self.index.get() as isize
    }

    pub fn owns_memory(&self) -> bool {
        self.place.get() != Place::Borrowed
    }

    /// Where the bytes live.
    fn storage(&self) -> Storage {
        match self.place.get() {
            Place::Inline => Storage::Inline,
            Place::Heap => Storage::Heap(self.data.get()),
            Place::Borrowed => Storage::Borrowed(self.data.get()),
        }
    }

    pub fn base(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.base.get_ref(py)
    }

    /// `_objects` (CPython's `b_objects`): None, the one object kept, or the dict of them.
    pub fn objects(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.settle_keep(py)?;
        Ok(self.objects.get_ref(py))
    }

    /// Replaces `_objects` (releasing a held buffer export).
    pub fn set_objects(&self, v: Option<Py<PyAny>>) {
        if self.keep.get() == Keep::HeldView {
            // SAFETY: the GIL is held; the state says the export is there.
            unsafe { self.release_held_view() };
        }
        self.keep.set(Keep::Plain);
        drop(self.objects.replace(v));
    }

    /// Makes what `_objects` stands for real ([`Keep`]): the memoryview, the dict.
    #[inline]
    fn settle_keep(&self, py: Python<'_>) -> PyResult<()> {
        match self.keep.get() {
            Keep::Plain => Ok(()),
            Keep::HeldView => self.settle_held_view(py),
        }
    }

    /// The held export becomes the memoryview CPython would have kept: a new export of the
    /// same exporter (the one held is released once the memoryview exists), in the dict for
    /// an aggregate.
    #[cold]
    #[inline(never)]
    fn settle_held_view(&self, py: Python<'_>) -> PyResult<()> {
        // SAFETY: the state says a live export is held.
        let mv = unsafe { memoryview_of_export(py, self.held_view())? };
        let kept = if self.length() != 0 { slot_dict(py, &mv)?.into_any() } else { mv };
        // Releases the held export.
        self.set_objects(Some(kept.unbind()));
        Ok(())
    }

    /// The held export (state `HeldView`).
    ///
    /// # Safety
    /// The state is `HeldView`.
    unsafe fn held_view(&self) -> *mut ffi::Py_buffer {
        // SAFETY: in state HeldView the (16-aligned, unused) inline bytes hold the pointer.
        unsafe { self.inline.as_ptr().cast::<*mut ffi::Py_buffer>().read() }
    }

    /// Releases and frees the held export, leaving the state `Plain`.
    ///
    /// # Safety
    /// The GIL is held and the state is `HeldView`.
    unsafe fn release_held_view(&self) {
        self.keep.set(Keep::Plain);
        // SAFETY: the export is live and owned by this instance (the state, checked by the
        // caller); released and freed once (the state is reset first).
        unsafe { release_view(self.held_view()) };
    }

    /// The bytes as a slice.
    ///
    /// # Safety
    /// No C code or other Python-visible alias may write the memory while the slice lives.
    pub unsafe fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr()` is valid for `size()` bytes for as long as `self` lives (owned
        // memory, or borrowed memory kept alive by `_b_base_`); aliasing per the contract.
        unsafe { std::slice::from_raw_parts(self.ptr(), self.size()) }
    }

    /// Grows owned memory to `size` bytes (`ctypes.resize`), keeping the contents.
    pub fn resize(&self, size: usize, min_size: usize) -> PyResult<()> {
        if size < min_size {
            return Err(PyValueError::new_err(format!("minimum size is {min_size}")));
        }
        let storage = self.storage();
        if matches!(storage, Storage::Borrowed(_)) {
            return Err(PyValueError::new_err("Memory cannot be resized because this object doesn't own it"));
        }
        if size <= self.size() {
            self.size.set(size);
            return Ok(());
        }
        let old = self.size();
        let new = match storage {
            Storage::Heap(p) => {
                // SAFETY: `p` came from `alloc_zeroed` or `block_cache::realloc` and is owned
                // by this object; the GIL is held. The new block has the room the cache
                // needs for `size`.
                let q = unsafe { block_cache::realloc(p, size) };
                if q.is_null() {
                    return Err(pyo3::exceptions::PyMemoryError::new_err(()));
                }
                q
            }
            _ => {
                let q = alloc_zeroed(size)?;
                // SAFETY: both blocks are valid for `old` bytes and distinct.
                unsafe { std::ptr::copy_nonoverlapping(self.ptr(), q, old) };
                q
            }
        };
        // SAFETY: the new block has `size` bytes; zero the grown tail as calloc would.
        unsafe { std::ptr::write_bytes(new.add(old), 0, size - old) };
        self.data.set(new);
        self.place.set(Place::Heap);
        self.size.set(size);
        Ok(())
    }
}

impl Drop for CData {
    fn drop(&mut self) {
        if let Storage::Heap(p) = self.storage() {
            // SAFETY: heap storage is owned exclusively by this object, with room for its
            // recorded size (see `block_cache`), and given back once, here, with the GIL
            // held (instances are dropped by their tp_dealloc).
            unsafe { block_cache::free(p, self.size.get()) };
        }
    }
}

/// The object that owns the memory `obj` lives in (CPython's PyCData_GetContainer).
fn container<'py>(obj: &Bound<'py, CData>) -> Bound<'py, CData> {
    let mut cur = obj.clone();
    while let Some(b) = cur.get().base(obj.py()) {
        match b.into_bound(obj.py()).cast_into::<CData>() {
            Ok(c) => cur = c,
            Err(_) => break,
        }
    }
    cur
}

/// The key under which `obj`'s keep-alive for slot `index` is stored in its container:
/// hex indices from the object up to the container, joined by ':'.
fn unique_key(obj: &Bound<'_, CData>, index: isize) -> String {
    let py = obj.py();
    let mut key = format!("{:x}", index as i32);
    let mut cur = obj.clone();
    while let Some(b) = cur.get().base(py) {
        key.push_str(&format!(":{:x}", cur.get().index() as i32));
        match b.into_bound(py).cast_into::<CData>() {
            Ok(c) => cur = c,
            Err(_) => break,
        }
    }
    key
}

/// `_objects` of a container, created on first use (a dict for aggregates, None otherwise).
fn keeped_objects<'py>(obj: &Bound<'py, CData>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = obj.py();
    let c = obj.get();
    c.settle_keep(py)?;
    if !c.objects.is_some() {
        if c.length() != 0 {
            c.set_objects(Some(PyDict::new(py).into_any().unbind()));
        } else {
            c.set_objects(Some(py.None()));
        }
    }
    Ok(c.objects(py)?.map(|o| o.into_bound(py)))
}

/// `from_buffer`'s keep-alive for an instance just made over the buffer `view` exports:
/// the instance takes over the export (a `PyMem_Malloc`ed `Py_buffer` from
/// `PyObject_GetBuffer`) and shows it in `_objects` as a memoryview once asked
/// ([`Keep::HeldView`]). An instance that already keeps something, or has a base, gets the
/// memoryview at once, through [`keep_ref`]. Takes over the export either way.
///
/// # Safety
/// `view` is a live export this call may take over, and `obj` a `Place::Borrowed`
/// instance (its inline bytes unused) over that buffer's memory.
pub unsafe fn hold_view_fresh(obj: &Bound<'_, CData>, view: *mut ffi::Py_buffer) -> PyResult<()> {
    let py = obj.py();
    let c = obj.get();
    if c.keep.get() != Keep::Plain || c.objects.is_some() || c.base.is_some() {
        // Already keeping: the memoryview goes in with the rest, as KeepRef does.
        // SAFETY: `view` is a live export the caller handed over; released once, here.
        let mv = unsafe { memoryview_of_export(py, view) };
        // SAFETY: as above.
        unsafe { release_view(view) };
        return keep_ref(obj, -1, Some(mv?.unbind()));
    }
    // SAFETY: the pointer goes into the unused, 16-aligned inline bytes (contract); from
    // here the instance owns the export (released by `release_held_view`).
    unsafe { c.inline.as_ptr().cast::<*mut ffi::Py_buffer>().write(view) };
    c.keep.set(Keep::HeldView);
    Ok(())
}

/// A memoryview of the exporter behind `view` (a new export of the same object, as
/// `memoryview(exporter)` makes).
///
/// # Safety
/// `view` is a live export; the GIL is held.
unsafe fn memoryview_of_export<'py>(py: Python<'py>, view: *mut ffi::Py_buffer) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: a live export's `obj` is NULL or a strong reference to its exporter;
    // PyMemoryView_FromObject returns a new reference or NULL with an exception set.
    unsafe {
        let exporter = (*view).obj;
        if exporter.is_null() {
            return Err(pyo3::exceptions::PySystemError::new_err("the buffer's exporter gave no object to keep"));
        }
        Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromObject(exporter))
    }
}

/// Releases and frees an export made for [`hold_view_fresh`] (one no instance took, or the
/// one an instance held).
///
/// # Safety
/// `view` is a live export from `PyObject_GetBuffer` in a `PyMem_Malloc`ed `Py_buffer`,
/// owned by the caller; the GIL is held.
pub unsafe fn release_view(view: *mut ffi::Py_buffer) {
    // SAFETY: as the contract says; released and freed once, here.
    unsafe {
        ffi::PyBuffer_Release(view);
        ffi::PyMem_Free(view.cast());
    }
}

/// `{'ffffffff': keep}`: the `_objects` of a top-level aggregate keeping one object.
fn slot_dict<'py>(py: Python<'py>, keep: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    // SAFETY: the GIL is held; PyDict_New returns a new reference or NULL with an exception
    // set; the key is a live str (`fresh_slot_key`), `keep` a live object, and
    // PyDict_SetItem takes its own references.
    unsafe {
        let d = Bound::from_owned_ptr_or_err(py, ffi::PyDict_New())?;
        if ffi::PyDict_SetItem(d.as_ptr(), fresh_slot_key(py), keep.as_ptr()) < 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(d.cast_into_unchecked())
    }
}

/// The interned `'ffffffff'`, the key of a top-level instance's own slot -1 (`from_buffer`,
/// `cast`), made once and kept for good (one strong reference, never released), borrowed.
#[inline(always)]
fn fresh_slot_key(py: Python<'_>) -> *mut ffi::PyObject {
    let key = FRESH_SLOT_KEY.load(std::sync::atomic::Ordering::Relaxed);
    if !key.is_null() {
        return key;
    }
    make_fresh_slot_key(py)
}

static FRESH_SLOT_KEY: std::sync::atomic::AtomicPtr<ffi::PyObject> = std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());

#[cold]
#[inline(never)]
fn make_fresh_slot_key(py: Python<'_>) -> *mut ffi::PyObject {
    let key = pyo3::intern!(py, "ffffffff").clone().into_ptr();
    // Under the GIL nobody else stores meanwhile: the reference just taken stays there.
    FRESH_SLOT_KEY.store(key, std::sync::atomic::Ordering::Relaxed);
    key
}

/// Records that `obj`'s memory at slot `index` refers to `keep` (CPython's KeepRef).
pub fn keep_ref(obj: &Bound<'_, CData>, index: isize, keep: Option<Py<PyAny>>) -> PyResult<()> {
    let py = obj.py();
    // Nothing to keep: CPython does not store None either.
    let Some(keep) = keep.filter(|k| !k.is_none(py)) else { return Ok(()) };
    let cont = container(obj);
    let ob = keeped_objects(&cont)?;
    match ob.as_ref().and_then(|o| o.cast::<PyDict>().ok()) {
        Some(d) if d.is_exact_instance_of::<PyDict>() => {
            // The key of a top-level instance's own slot -1 (`from_buffer`, `cast`): one
            // interned string instead of a formatted one per call.
            if index == -1 && obj.get().base(py).is_none() {
                return d.set_item(pyo3::intern!(py, "ffffffff"), keep);
            }
            let key = unique_key(obj, index);
            d.set_item(key, keep)
        }
        _ => {
            cont.get().set_objects(Some(keep));
            let _ = py;
            Ok(())
        }
    }
}

/// `obj.__dict__`, which must be a real dict (pickling support).
fn instance_dict<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let d = obj.getattr(pyo3::intern!(obj.py(), "__dict__"))?;
    if !d.is_instance_of::<PyDict>() {
        return Err(PyTypeError::new_err(format!(
            "{}.__dict__ must be a dictionary, not {}",
            type_name(obj),
            type_name(&d)
        )));
    }
    Ok(d)
}


#[pymethods]
impl CData {
    #[getter(_b_base_)]
    fn b_base(&self, py: Python<'_>) -> Py<PyAny> {
        self.base(py).unwrap_or_else(|| py.None())
    }

    #[getter(_b_needsfree_)]
    fn b_needsfree(&self) -> i32 {
        self.owns_memory() as i32
    }

    #[getter(_objects)]
    fn get_objects(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.objects(py)?.unwrap_or_else(|| py.None()))
    }

    fn __ctypes_from_outparam__(slf: &Bound<'_, Self>) -> Py<PyAny> {
        slf.clone().into_any().unbind()
    }

    fn __hash__(slf: &Bound<'_, Self>) -> PyResult<isize> {
        let _ = slf;
        Err(PyTypeError::new_err("unhashable type"))
    }

    fn __reduce__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let info = stginfo_of_instance(slf.as_any())
            .ok_or_else(|| PyTypeError::new_err("abstract class"))?;
        if info.get().type_flags & (flags::ISPOINTER | flags::HASPOINTER) != 0 {
            return Err(PyValueError::new_err("ctypes objects containing pointers cannot be pickled"));
        }
        let dict = instance_dict(slf.as_any())?;
        // SAFETY: the memory is this object's and nothing writes it during the copy.
        let data = PyBytes::new(py, unsafe { slf.get().bytes() });
        // Our own module's `_unpickle`, never `import _ctypes`: in a process that imported
        // only ferrotypes that name is the stdlib extension, which must not be loaded. The
        // function's `__module__` is this module's name (`_ctypes` in core mode,
        // `ferrotypes._ctypes` otherwise), so a pickle loads it back from the same module.
        let unpickle = MODULE
            .get(py)
            .ok_or_else(|| PyTypeError::new_err("_ctypes is not initialized"))?
            .bind(py)
            .getattr(pyo3::intern!(py, "_unpickle"))?;
        let state = PyTuple::new(py, [dict, data.into_any()])?;
        let args = PyTuple::new(py, [slf.get_type().into_any(), state.into_any()])?;
        Ok(PyTuple::new(py, [unpickle, args.into_any()])?.into_any().unbind())
    }

    #[pyo3(signature = (*args))]
    fn __setstate__(slf: &Bound<'_, Self>, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        // Parsed as CPython's "O!s#" (from 3.14 its messages name the method).
        let named = crate::interp::version::behaves_as(slf.py(), 14);
        let prefix = if named { "__setstate__() " } else { "" };
        if args.len() != 2 {
            let who = if named { "__setstate__()" } else { "function" };
            return Err(PyTypeError::new_err(format!("{who} takes exactly 2 arguments ({} given)", args.len())));
        }
        let (dict, data) = (args.get_item(0)?, args.get_item(1)?);
        let dict = dict.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!("{prefix}argument 1 must be dict, not {}", type_name(&dict)))
        })?;
        // "s#": a str (as UTF-8) or a read-only bytes-like object (one whose type has no
        // buffer release function: bytes yes, bytearray and memoryview no).
        let owned: Vec<u8> = if let Ok(s) = data.cast::<pyo3::types::PyString>() {
            s.to_str()?.as_bytes().to_vec()
        } else if let Ok(b) = data.cast::<PyBytes>() {
            b.as_bytes().to_vec()
        } else {
            // SAFETY: reads the type's buffer slots; the type outlives this call (`data`
            // holds it).
            let releases = unsafe {
                let procs = (*ffi::Py_TYPE(data.as_ptr())).tp_as_buffer;
                !procs.is_null() && (*procs).bf_releasebuffer.is_some()
            };
            if releases {
                return Err(PyTypeError::new_err(format!(
                    "{prefix}argument 2 must be read-only bytes-like object, not {}",
                    type_name(&data)
                )));
            }
            pyo3::buffer::PyBuffer::<u8>::get(&data).and_then(|b| b.to_vec(slf.py())).map_err(|_| {
                PyTypeError::new_err(format!("a bytes-like object is required, not '{}'", type_name(&data)))
            })?
        };
        let src = &owned[..];
        let c = slf.get();
        let n = src.len().min(c.size());
        // SAFETY: the destination is this object's memory, valid for `size()` bytes; `n` is
        // bounded by both lengths; a bytes object never aliases ctypes memory.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), c.ptr(), n) };
        instance_dict(slf.as_any())?.call_method1(pyo3::intern!(slf.py(), "update"), (dict.clone(),))?;
        Ok(())
    }

    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("View is null"));
        }
        let info = stginfo_of_instance(slf.as_any());
        // SAFETY: `view` is a valid Py_buffer to fill (buffer protocol contract); `slf` is
        // a live instance.
        unsafe { fill_buffer(slf.as_ptr(), slf.get(), info.as_ref().map(|i| i.get()), view, flags) };
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        self.base.traverse(&visit)?;
        if self.keep.get() == Keep::HeldView {
            // SAFETY: the state says a live export is held; its `obj` (a strong reference,
            // or NULL for an exporter that gives none) is visited, not taken.
            let exporter = unsafe { (*self.held_view()).obj };
            if !exporter.is_null() {
                // SAFETY: `Py<PyAny>` is `repr(transparent)` over a non-null object pointer,
                // so a reference to the (non-null, live) pointer is one to a `Py<PyAny>`
                // borrowed for this call; nothing takes or drops it.
                let borrowed = unsafe { &*(&exporter as *const *mut ffi::PyObject).cast::<Py<PyAny>>() };
                visit.call(borrowed)?;
            }
        }
        self.objects.traverse(&visit)
    }

    fn __clear__(&self) {
        self.set_objects(None);
        // `_b_base_` stays: the memory this object reads may belong to it.
    }
}

/// Fills `view` for instance `obj` (its `CData` is `c`, its type's storage info `info`):
/// CPython's `PyCData_NewGetBuffer`. The format and shape arrays point into the StgInfo,
/// which the exporter keeps alive through `view.obj` (the instance holds its type, the
/// type its StgInfo).
///
/// # Safety
/// `view` is a valid `Py_buffer` to fill; `obj` is live and `c` is its `CData`.
unsafe fn fill_buffer(obj: *mut ffi::PyObject, c: &CData, info: Option<&StgInfo>, view: *mut ffi::Py_buffer, flags: c_int) {
    // SAFETY: forwarded from this function's contract; `obj` gets the reference `view.obj`
    // owns.
    unsafe {
        ffi::Py_INCREF(obj);
        (*view).obj = obj;
        (*view).buf = c.ptr() as *mut c_void;
        (*view).len = c.size() as isize;
        (*view).readonly = 0;
        (*view).suboffsets = std::ptr::null_mut();
        (*view).internal = std::ptr::null_mut();
        match info {
            Some(i) => {
                let ndim = i.shape.len();
                (*view).itemsize = i.itemsize as isize;
                (*view).ndim = ndim as c_int;
                (*view).format = if flags & ffi::PyBUF_FORMAT != 0 { i.format.as_ptr() as *mut _ } else { std::ptr::null_mut() };
                (*view).shape = if ndim > 0 { i.shape.as_ptr() as *mut isize } else { std::ptr::null_mut() };
            }
            None => {
                (*view).itemsize = c.size() as isize;
                (*view).ndim = 0;
                (*view).format = if flags & ffi::PyBUF_FORMAT != 0 { c"B".as_ptr() as *mut _ } else { std::ptr::null_mut() };
                (*view).shape = std::ptr::null_mut();
            }
        }
        // NULL strides: C-contiguous, as CPython exports it.
        (*view).strides = std::ptr::null_mut();
    }
}

/// PyO3's buffer entries of `_CData`, remembered so each new class's raw entries can be
/// put in place of exactly those ([`enable_raw_buffer`]).
static GENERAL_BUFFER: GilCell<(usize, usize)> = GilCell::new((0, 0));

/// Remembers `_CData`'s buffer entries (module set-up).
pub fn remember_buffer_slots(py: Python<'_>) {
    let tp = py.get_type::<CData>().as_type_ptr();
    // SAFETY: reading the buffer slots of the live, ready `_CData` type.
    let procs = unsafe { (*tp).tp_as_buffer.as_ref().map(|b| (b.bf_getbuffer, b.bf_releasebuffer)) };
    if let Some((Some(get), Some(release))) = procs {
        GENERAL_BUFFER.set((get as usize, release as usize));
    }
}

/// Gives a new class of our metaclasses the raw buffer entries if it inherited PyO3's (a
/// heap class takes its slots from the `__buffer__` wrappers, i.e. PyO3's entries).
pub fn enable_raw_buffer(tp: *mut ffi::PyTypeObject) {
    let (get, release) = GENERAL_BUFFER.get();
    // SAFETY: `tp` is a live heap type just created by one of our metaclasses; its buffer
    // procs live in its own heap type object.
    unsafe {
        if let Some(b) = (*tp).tp_as_buffer.as_mut() {
            if get != 0 && b.bf_getbuffer.map(|f| f as usize) == Some(get) && b.bf_releasebuffer.map(|f| f as usize) == Some(release) {
                b.bf_getbuffer = Some(raw_getbuffer);
                b.bf_releasebuffer = Some(raw_releasebuffer);
            }
        }
    }
}

/// Whether `tp`'s buffer entry is [`raw_getbuffer`] (see [`instance_of`]).
///
/// # Safety
/// `tp` is a live type object.
#[inline(always)]
unsafe fn has_raw_buffer_entry(tp: *mut ffi::PyTypeObject) -> bool {
    let ours: ffi::getbufferproc = raw_getbuffer;
    // SAFETY: a live type's `tp_as_buffer` is NULL or points to procs the type owns.
    unsafe { (*tp).tp_as_buffer.as_ref() }.is_some_and(|b| b.bf_getbuffer.map(|f| f as usize) == Some(ours as usize))
}

/// `bf_getbuffer` without PyO3's trampoline (`bytes(arr)`, `memoryview(x)`).
unsafe extern "C" fn raw_getbuffer(obj: *mut ffi::PyObject, view: *mut ffi::Py_buffer, flags: c_int) -> c_int {
    // SAFETY: CPython calls bf_getbuffer with the GIL held and `obj` live (an instance of a
    // class given this slot, so a ctypes instance; checked anyway). The storage info is
    // borrowed from the type, which `obj` keeps alive, and filling the view runs no Python
    // code; nothing here can fail or panic.
    unsafe {
        if !view.is_null() {
            if let Some(c) = instance_of(obj) {
                let py = Python::assume_attached();
                let info = stginfo_borrowed(py, ffi::Py_TYPE(obj));
                fill_buffer(obj, c, info, view, flags);
                return 0;
            }
        }
        let (get, _) = GENERAL_BUFFER.get();
        let general: ffi::getbufferproc = std::mem::transmute(get);
        general(obj, view, flags)
    }
}

/// `bf_releasebuffer`: nothing to release (the view holds the instance, which `view.obj`
/// releases). Kept, rather than NULL, so that instances stay what they were for the
/// argument parsers that ask whether a buffer needs releasing.
unsafe extern "C" fn raw_releasebuffer(_obj: *mut ffi::PyObject, _view: *mut ffi::Py_buffer) {}

/// `_objects` of an instance's container, initialising it (CPython's GetKeepedObjects).
pub fn keeped_objects_pub<'py>(obj: &Bound<'py, CData>) -> PyResult<Option<Bound<'py, PyAny>>> {
    keeped_objects(&container(obj))
}

/// The `_ctypes` module object, set at the end of module init (`lib.rs`): `__reduce__`
/// takes `_unpickle` from it (importing `_ctypes` by name could load the stdlib extension).
pub static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn cdata_arg<'a, 'py>(obj: &'a Bound<'py, PyAny>, msg: &str) -> PyResult<&'a Bound<'py, CData>> {
    obj.cast::<CData>().map_err(|_| PyTypeError::new_err(msg.to_owned()))
}

/// `addressof(obj)`.
#[pyfunction]
pub fn addressof(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    let c = cdata_arg(obj, "invalid type")?;
    crate::interp::audit::addressof(obj.py(), obj)?;
    Ok(c.get().ptr() as usize)
}

/// `resize(obj, size)`: grows the memory an instance owns.
#[pyfunction]
pub fn resize(obj: &Bound<'_, PyAny>, size: isize) -> PyResult<()> {
    let c = cdata_arg(obj, "excepted ctypes instance")?;
    let min = stginfo_of_instance(obj).map_or(0, |i| i.get().size);
    if size < min as isize {
        return Err(PyValueError::new_err(format!("minimum size is {min}")));
    }
    c.get().resize(size as usize, min)
}

/// `_unpickle(type, state)`.
#[pyfunction]
pub fn _unpickle(py: Python<'_>, typ: &Bound<'_, PyAny>, state: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
    let obj = typ.call_method1(pyo3::intern!(typ.py(), "__new__"), (typ,))?;
    obj.call_method1(pyo3::intern!(obj.py(), "__setstate__"), state.clone())?;
    let _ = py;
    Ok(obj.unbind())
}

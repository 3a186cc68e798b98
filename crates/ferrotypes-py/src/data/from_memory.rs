//! Instances over memory that already exists: `from_address`, `from_buffer` (sharing a
//! writable buffer), `from_buffer_copy`, and `in_dll` (a library's exported variable).
use super::cdata::{alloc_borrowed_raw, hold_view_fresh, keep_ref, CData, RawInit};
use super::roots::{direct_stginfo, instantiate, instantiate_copy, instantiate_kind};
use super::class_methods;
use crate::interp::descriptors::{entry_result, o_method_descriptor};
use super::simple::int_mask;
use super::stginfo::stginfo_of_type;
use crate::checked;
use crate::interp::audit;
use crate::native::libraries::symbol_address;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::ffi::CStr;

/// `from_address(cls, address)`.
pub fn from_address(cls: &Bound<'_, PyAny>, address: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if !address.is_instance_of::<pyo3::types::PyInt>() {
        return Err(PyTypeError::new_err("integer expected"));
    }
    let addr = int_mask(address)? as usize;
    audit::cdata(cls.py(), addr)?;
    let info = stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let (size, length) = (info.get().size, info.get().length);
    if checked::enabled() {
        checked::check_readable(addr, size)?;
    }
    Ok(instantiate(cls, RawInit::Borrowed { ptr: addr as *mut u8, size, length, base: None, index: 0 })?.unbind())
}

/// The positional arguments `(obj, offset=0)` of `from_buffer`/`from_buffer_copy`, as
/// CPython parses them (positional only; `offset` through `__index__`), `obj` borrowed
/// from the argument array.
///
/// # Safety
/// `args` points at `nargs` live borrowed references (the interpreter's fastcall array),
/// which outlive `'a`.
#[inline(always)]
unsafe fn buffer_args<'a, 'py>(py: Python<'py>, what: &str, args: *const *mut ffi::PyObject, nargs: ffi::Py_ssize_t) -> PyResult<(&'a Bound<'py, PyAny>, isize)> {
    if !(1..=2).contains(&nargs) {
        return Err(buffer_args_count_error(what, nargs));
    }
    // SAFETY: `args[0]` (and `args[1]` when nargs is 2) are live borrowed references,
    // valid for `'a` (contract).
    let obj = unsafe { Bound::ref_from_ptr(py, &*args) };
    let offset = if nargs == 2 {
        // SAFETY: as above.
        let arg = unsafe { Bound::ref_from_ptr(py, &*args.add(1)) };
        index_as_ssize(arg)?
    } else {
        0
    };
    Ok((obj, offset))
}

/// The TypeError for a wrong argument count of `from_buffer`/`from_buffer_copy`, as
/// CPython up to 3.12 words it (from 3.13 the entry checks the count first:
/// [`clinic_entry`]).
#[cold]
#[inline(never)]
fn buffer_args_count_error(what: &str, nargs: ffi::Py_ssize_t) -> PyErr {
    let msg = match nargs {
        0 => format!("{what}() takes at least 1 argument (0 given)"),
        n => format!("{what}() takes at most 2 arguments ({n} given)"),
    };
    PyTypeError::new_err(msg)
}

/// `operator.index(arg)` as a Py_ssize_t (OverflowError when it does not fit).
fn index_as_ssize(arg: &Bound<'_, PyAny>) -> PyResult<isize> {
    let py = arg.py();
    // SAFETY: `arg` is live; PyNumber_Index returns a new reference or NULL with an error.
    let index = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyNumber_Index(arg.as_ptr()))? };
    // SAFETY: `index` is an int; -1 with an error set signals failure.
    let value = unsafe { ffi::PyLong_AsSsize_t(index.as_ptr()) };
    if value == -1 {
        if let Some(err) = PyErr::take(py) {
            return Err(err);
        }
    }
    Ok(value)
}

/// `cls.from_buffer(obj, offset=0)`, the method every C-data class has (installed on the
/// metaclasses' common base by [`install_cdata_type_methods`]).
///
/// # Safety
/// Called by the interpreter as a `METH_FASTCALL` method: GIL held, `cls` the bound class,
/// `args` `nargs` borrowed references.
unsafe extern "C" fn from_buffer_method(cls: *mut ffi::PyObject, args: *mut *mut ffi::PyObject, nargs: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    // SAFETY: the interpreter calls this with the GIL held (the contract above).
    unsafe {
        entry_result(|py| {
            let cls = Bound::ref_from_ptr(py, &cls);
            let (obj, offset) = buffer_args(py, "from_buffer", args, nargs)?;
            from_buffer_impl(cls, obj, offset)
        })
    }
}

/// `cls.from_buffer_copy(obj, offset=0)`, as [`from_buffer_method`].
///
/// # Safety
/// As [`from_buffer_method`].
unsafe extern "C" fn from_buffer_copy_method(cls: *mut ffi::PyObject, args: *mut *mut ffi::PyObject, nargs: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    // SAFETY: the interpreter calls this with the GIL held (the contract above).
    unsafe {
        entry_result(|py| {
            let cls = Bound::from_borrowed_ptr(py, cls);
            let (obj, offset) = buffer_args(py, "from_buffer_copy", args, nargs)?;
            from_buffer_copy(py, &cls, obj, offset)
        })
    }
}

/// Installs `from_buffer`, `from_buffer_copy`, `from_address` and `in_dll` on `owner` (the
/// metaclasses' common base) as C methods, so `cls.from_buffer(...)` runs no Python frame,
/// as in CPython, each bound once per class (`class_methods.rs`, in this order of slots).
/// Their argument errors are CPython's: up to 3.12 those of plain C methods (a keyword
/// error names the method alone; `from_address` is a `METH_O` method), from 3.13 Argument
/// Clinic's ([`ClinicEntry`]). (CPython 3.13 also makes them methods that receive their
/// defining class, bound as `builtin_method`, a subclass of `builtin_function_or_method`;
/// these stay plain fast-call functions, which the interpreter's call instruction
/// specializes: 120 fewer instructions per call.)
pub fn install_cdata_type_methods(owner: &Bound<'_, pyo3::types::PyType>) -> PyResult<()> {
    let py = owner.py();
    class_methods::install_descriptor_slot(py);
    let clinic = crate::interp::version::behaves_as(py, 13);
    let from_address = if clinic {
        entry_descriptor::<FromAddress>(owner, true)?
    } else {
        o_method_descriptor(owner, FromAddress::NAME, FromAddress::DOC, from_address_method)?
    };
    let methods = [
        (FromBuffer::NAME, entry_descriptor::<FromBuffer>(owner, clinic)?),
        (FromBufferCopy::NAME, entry_descriptor::<FromBufferCopy>(owner, clinic)?),
        (FromAddress::NAME, from_address),
        (InDll::NAME, entry_descriptor::<InDll>(owner, clinic)?),
    ];
    for (slot, (name, method)) in methods.iter().enumerate() {
        class_methods::install(owner, name.to_str().unwrap_or_default(), method, slot)?;
    }
    Ok(())
}

/// One of the four methods as 3.13's Argument Clinic declares it: positional-only
/// arguments, between `MIN` and `MAX` of them.
trait ClinicEntry {
    const NAME: &'static CStr;
    const DOC: &'static CStr;
    const MIN: usize;
    const MAX: usize;
    /// The method itself, which checks its argument count as CPython up to 3.12 does
    /// (`from_address` is only called with one argument).
    ///
    /// # Safety
    /// As a `METH_FASTCALL` method: the GIL is held, `cls` is the bound class and `args`
    /// holds `nargs` borrowed references; exactly one for `from_address`.
    unsafe fn run(cls: *mut ffi::PyObject, args: *const *mut ffi::PyObject, nargs: usize) -> *mut ffi::PyObject;
}

struct FromBuffer;
struct FromBufferCopy;
struct FromAddress;
struct InDll;

impl ClinicEntry for FromBuffer {
    const NAME: &'static CStr = c"from_buffer";
    const DOC: &'static CStr = c"C.from_buffer(object, offset=0) -> C instance\n\nCreate a C instance from a writeable buffer";
    const MIN: usize = 1;
    const MAX: usize = 2;
    unsafe fn run(cls: *mut ffi::PyObject, args: *const *mut ffi::PyObject, nargs: usize) -> *mut ffi::PyObject {
        // SAFETY: forwarded (the trait's contract; `nargs` fits a Py_ssize_t).
        unsafe { from_buffer_method(cls, args.cast_mut(), nargs as ffi::Py_ssize_t) }
    }
}

impl ClinicEntry for FromBufferCopy {
    const NAME: &'static CStr = c"from_buffer_copy";
    const DOC: &'static CStr = c"C.from_buffer_copy(object, offset=0) -> C instance\n\nCreate a C instance from a readable buffer";
    const MIN: usize = 1;
    const MAX: usize = 2;
    unsafe fn run(cls: *mut ffi::PyObject, args: *const *mut ffi::PyObject, nargs: usize) -> *mut ffi::PyObject {
        // SAFETY: forwarded (the trait's contract; `nargs` fits a Py_ssize_t).
        unsafe { from_buffer_copy_method(cls, args.cast_mut(), nargs as ffi::Py_ssize_t) }
    }
}

impl ClinicEntry for FromAddress {
    const NAME: &'static CStr = c"from_address";
    const DOC: &'static CStr = c"C.from_address(integer) -> C instance\n\nAccess a C instance at the specified address";
    const MIN: usize = 1;
    const MAX: usize = 1;
    unsafe fn run(cls: *mut ffi::PyObject, args: *const *mut ffi::PyObject, _nargs: usize) -> *mut ffi::PyObject {
        // SAFETY: exactly one argument (the trait's contract).
        unsafe { from_address_method(cls, *args) }
    }
}

impl ClinicEntry for InDll {
    const NAME: &'static CStr = c"in_dll";
    const DOC: &'static CStr = c"C.in_dll(dll, name) -> C instance\n\nAccess a C instance in a dll";
    const MIN: usize = 2;
    const MAX: usize = 2;
    unsafe fn run(cls: *mut ffi::PyObject, args: *const *mut ffi::PyObject, nargs: usize) -> *mut ffi::PyObject {
        // SAFETY: forwarded (the trait's contract; `nargs` fits a Py_ssize_t).
        unsafe { in_dll_method(cls, args.cast_mut(), nargs as ffi::Py_ssize_t) }
    }
}

/// The `METH_FASTCALL | METH_KEYWORDS` method descriptor of `M` on `owner`: its
/// [`clinic_entry`] from 3.13 (`clinic`), its [`no_keywords_entry`] before.
fn entry_descriptor<'py, M: ClinicEntry>(owner: &Bound<'py, pyo3::types::PyType>, clinic: bool) -> PyResult<Bound<'py, PyAny>> {
    let entry: ffi::PyCFunctionFastWithKeywords = if clinic { clinic_entry::<M> } else { no_keywords_entry::<M> };
    crate::interp::descriptors::method_descriptor(owner, M::NAME, M::DOC, ffi::PyMethodDefPointer { PyCFunctionFastWithKeywords: entry }, ffi::METH_FASTCALL | ffi::METH_KEYWORDS)
}

/// From 3.13, the `METH_FASTCALL | METH_KEYWORDS` entry of `M`: keywords or a count out of
/// range raise Argument Clinic's errors, anything else runs the method.
///
/// # Safety
/// Called by the interpreter as such a method: the GIL is held, `cls` is the bound class,
/// `args` holds `nargs` positional arguments followed by one per name in `kwnames` (NULL
/// when there are none), all borrowed.
unsafe extern "C" fn clinic_entry<M: ClinicEntry>(
    cls: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    let nargs = usize::try_from(nargs).unwrap_or(0);
    // SAFETY: `kwnames` is NULL or a live tuple of str (contract).
    let nkw = if kwnames.is_null() { 0 } else { usize::try_from(unsafe { ffi::PyTuple_GET_SIZE(kwnames) }).unwrap_or(0) };
    if nkw == 0 && (M::MIN..=M::MAX).contains(&nargs) {
        // SAFETY: the count is in range (checked above); the rest is this entry's contract.
        return unsafe { M::run(cls, args, nargs) };
    }
    // SAFETY: the GIL is held (contract); `kwnames` is live or NULL.
    unsafe {
        entry_result(|py| {
            let first = (nkw > 0).then(|| Bound::from_borrowed_ptr(py, kwnames)).and_then(|names| names.get_item(0).ok());
            Err(clinic_error(&M::NAME.to_string_lossy(), M::MIN, M::MAX, nargs, nkw, first.as_ref()))
        })
    }
}

/// Argument Clinic's TypeError for a positional-only method taking `min..=max` arguments,
/// called with `nargs` positional and `nkw` keyword arguments (`first_keyword` the first
/// keyword's name), in the order CPython checks: too many arguments, too few positional
/// ones, then the keyword itself.
#[cold]
#[inline(never)]
fn clinic_error(name: &str, min: usize, max: usize, nargs: usize, nkw: usize, first_keyword: Option<&Bound<'_, PyAny>>) -> PyErr {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let msg = if nargs + nkw > max {
        let keyword = if nargs == 0 { "keyword " } else { "" };
        format!("{name}() takes at most {max} {keyword}argument{} ({} given)", plural(max), nargs + nkw)
    } else if nargs < min {
        let bound = if min < max { "at least" } else { "exactly" };
        format!("{name}() takes {bound} {min} positional argument{} ({nargs} given)", plural(min))
    } else {
        let keyword = first_keyword.map(|k| k.to_string()).unwrap_or_default();
        format!("{name}() got an unexpected keyword argument '{keyword}'")
    };
    PyTypeError::new_err(msg)
}

/// Up to 3.12, the `METH_FASTCALL | METH_KEYWORDS` entry of `M` (not `from_address`, a
/// `METH_O` method): keywords raise the error CPython's `METH_VARARGS` methods raise
/// (naming the method alone, where the interpreter would name `Class.method`); anything
/// else runs the method, which checks its count.
///
/// # Safety
/// As [`clinic_entry`].
unsafe extern "C" fn no_keywords_entry<M: ClinicEntry>(
    cls: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: `kwnames` is NULL or a live tuple (contract).
    if kwnames.is_null() || unsafe { ffi::PyTuple_GET_SIZE(kwnames) } == 0 {
        // SAFETY: forwarded from this entry's contract (M is not `FromAddress` here).
        return unsafe { M::run(cls, args, usize::try_from(nargs).unwrap_or(0)) };
    }
    // SAFETY: the GIL is held (contract).
    unsafe { entry_result(|_| Err(PyTypeError::new_err(format!("{}() takes no keyword arguments", M::NAME.to_string_lossy())))) }
}

/// `cls.from_address(address)` (METH_O).
///
/// # Safety
/// Called by the interpreter as a `METH_O` method: GIL held, `cls` the bound class and
/// `address` borrowed.
unsafe extern "C" fn from_address_method(cls: *mut ffi::PyObject, address: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the interpreter calls this with the GIL held (the contract above).
    unsafe { entry_result(|py| from_address(&Bound::from_borrowed_ptr(py, cls), &Bound::from_borrowed_ptr(py, address))) }
}

/// `cls.in_dll(dll, name)`, as [`from_buffer_method`].
///
/// # Safety
/// As [`from_buffer_method`].
unsafe extern "C" fn in_dll_method(cls: *mut ffi::PyObject, args: *mut *mut ffi::PyObject, nargs: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    // SAFETY: the interpreter calls this with the GIL held (the contract above).
    unsafe {
        entry_result(|py| {
            if nargs != 2 {
                return Err(PyTypeError::new_err(format!("in_dll() takes exactly 2 arguments ({nargs} given)")));
            }
            let cls = Bound::from_borrowed_ptr(py, cls);
            let (dll, name) = (Bound::from_borrowed_ptr(py, *args), Bound::from_borrowed_ptr(py, *args.add(1)));
            let name = name.cast_into::<PyString>().map_err(|e| {
                PyTypeError::new_err(format!("in_dll() argument 2 must be str, not {}", crate::interp::names::type_name(e.into_inner().as_any())))
            })?;
            in_dll(py, &cls, &dll, &name)
        })
    }
}

#[inline(always)]
fn from_buffer_impl(cls: &Bound<'_, PyAny>, obj: &Bound<'_, PyAny>, offset: isize) -> PyResult<Py<PyAny>> {
    let py = cls.py();
    let tp: *mut ffi::PyTypeObject = cls.as_ptr().cast();
    // What is needed of the storage info, copied out before the buffer export (which may
    // run Python code). A class allocated directly is found with one cache probe.
    // SAFETY: `cls` is a live type (the method is bound to a class of our metaclasses)
    // and the GIL is held; the info is only read here.
    // `kind`: `None` when the instance is allocated directly, else how to make it.
    let (size, length, kind) = match unsafe { direct_stginfo(py, tp) } {
        Some(info) => (info.size as isize, info.length, None),
        None => {
            let info = stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
            let info = info.get();
            (info.size as isize, info.length, Some(info.kind))
        }
    };
    // Most exporters (bytearray, array, mmap, NumPy) lend their memory straight to the new
    // instance: the export lasts as long as it does (which also stops a bytearray from
    // resizing under it), and `_objects` shows it as the memoryview CPython keeps there,
    // made only when asked for (`cdata::hold_view_fresh`).
    // SAFETY: `obj` is a live object.
    if unsafe { ffi::PyMemoryView_Check(obj.as_ptr()) } == 0 {
        let export = BufferExport::full_ro(obj)?;
        // SAFETY: a live export's `obj` is NULL or a live object.
        let via_view = unsafe { !(*export.0).obj.is_null() && ffi::PyMemoryView_Check((*export.0).obj) != 0 };
        if !via_view {
            let ptr = checked_region(py, &export, size, offset)?;
            let result = make_over(cls, tp, kind, ptr, size as usize, length)?;
            // SAFETY: a borrowed instance of a C-data class (a CData) over the exported
            // memory; the export is handed over (`into_raw`), exactly once.
            unsafe { hold_view_fresh(result.cast_unchecked::<CData>(), export.into_raw())? };
            return Ok(result.unbind());
        }
    }
    // A memoryview (passed in, or what the exporter lends through) is never held exported
    // by an instance: the garbage collector may clear a memoryview in a cycle, which would
    // free the memory under the export. As CPython does, a new memoryview of `obj` goes
    // into `_objects`; it keeps the memory (and the caller may still release its own).
    // SAFETY: `obj` is live; the result is a new reference or NULL with an exception set.
    let mv = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromObject(obj.as_ptr()))? };
    let ptr = checked_region(py, &BufferExport::full_ro(&mv)?, size, offset)?;
    let result = make_over(cls, tp, kind, ptr, size as usize, length)?;
    // SAFETY: as above, a CData.
    keep_ref(unsafe { result.cast_unchecked::<CData>() }, -1, Some(mv.unbind()))?;
    Ok(result.unbind())
}

/// The start of the `size` bytes at `offset` in `export`, after CPython's checks (writable,
/// C-contiguous, offset and size in range) and audit events, in its order.
#[inline(always)]
fn checked_region(py: Python<'_>, export: &BufferExport, size: isize, offset: isize) -> PyResult<*mut u8> {
    // SAFETY: a live export (owned by `export`).
    let view = unsafe { &*export.0 };
    if view.readonly != 0 {
        return Err(PyTypeError::new_err("underlying buffer is not writable"));
    }
    // SAFETY: a live export; PyBuffer_IsContiguous only reads it.
    if unsafe { ffi::PyBuffer_IsContiguous(export.0, b'C' as std::ffi::c_char) } == 0 {
        return Err(PyTypeError::new_err("underlying buffer is not C contiguous"));
    }
    if offset < 0 {
        return Err(PyValueError::new_err("offset cannot be negative"));
    }
    if size > view.len - offset {
        return Err(buffer_too_small(view.len, size + offset));
    }
    audit::cdata_buffer(py, view.buf.cast_const(), view.len, offset)?;
    // `offset + size <= len`, so the address stays inside the exported memory.
    let ptr = view.buf.cast::<u8>().wrapping_add(offset as usize);
    // CPython makes the instance as `from_address` does, event included.
    audit::cdata(py, ptr as usize)?;
    Ok(ptr)
}

/// A borrowed instance of `cls` (type object `tp`) over `size` bytes at `ptr`, which the
/// caller keeps alive through the instance right after; `kind` is `None` when the class is
/// allocated directly.
#[inline(always)]
fn make_over<'py>(
    cls: &Bound<'py, PyAny>,
    tp: *mut ffi::PyTypeObject,
    kind: Option<super::stginfo::Kind>,
    ptr: *mut u8,
    size: usize,
    length: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    match kind {
        // SAFETY: direct allocation holds for the class (`direct_stginfo`); the memory
        // outlives the instance (the caller's contract). The result is a new reference or
        // NULL with an exception set.
        None => unsafe { Bound::from_owned_ptr_or_err(py, alloc_borrowed_raw(tp, ptr, size, length)) },
        Some(kind) => instantiate_kind(cls, kind, RawInit::Borrowed { ptr, size, length, base: None, index: 0 }),
    }
}

/// A full read-only-or-writable export (`PyBUF_FULL_RO`, what a memoryview asks for) in a
/// `PyMem_Malloc`ed `Py_buffer`, released when dropped unless handed on (`into_raw`).
struct BufferExport(*mut ffi::Py_buffer);

impl BufferExport {
    /// `obj`'s export, with the errors `memoryview(obj)` raises.
    fn full_ro(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = obj.py();
        // SAFETY: the GIL is held; `obj` is live. PyMem_Malloc returns NULL or room for a
        // Py_buffer; PyObject_GetBuffer fills it or fails with an exception set (then the
        // room is freed here, the export never having existed).
        unsafe {
            if ffi::PyObject_CheckBuffer(obj.as_ptr()) == 0 {
                return Err(PyTypeError::new_err(format!(
                    "memoryview: a bytes-like object is required, not '{}'",
                    crate::interp::names::type_name(obj)
                )));
            }
            let view: *mut ffi::Py_buffer = ffi::PyMem_Malloc(std::mem::size_of::<ffi::Py_buffer>()).cast();
            if view.is_null() {
                return Err(pyo3::exceptions::PyMemoryError::new_err(()));
            }
            if ffi::PyObject_GetBuffer(obj.as_ptr(), view, ffi::PyBUF_FULL_RO) != 0 {
                ffi::PyMem_Free(view.cast());
                return Err(PyErr::fetch(py));
            }
            Ok(BufferExport(view))
        }
    }

    /// Hands the export on: the caller releases it from now on.
    fn into_raw(self) -> *mut ffi::Py_buffer {
        let view = self.0;
        std::mem::forget(self);
        view
    }
}

impl Drop for BufferExport {
    fn drop(&mut self) {
        // SAFETY: a live export owned by this value (never handed on, or Drop would not run).
        unsafe { super::cdata::release_view(self.0) };
    }
}

/// The ValueError of a buffer shorter than the class's size past the offset.
#[cold]
#[inline(never)]
fn buffer_too_small(len: isize, needed: isize) -> PyErr {
    PyValueError::new_err(format!("Buffer size too small ({len} instead of at least {needed} bytes)"))
}

/// A simple (contiguous, byte) buffer export, released when dropped.
struct SimpleBuffer(ffi::Py_buffer);

impl SimpleBuffer {
    /// `obj`'s bytes as a `PyBUF_SIMPLE` request sees them (what CPython's `y*` argument
    /// format asks for): the exporter's own errors for non-buffers and strided views.
    fn get(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        // SAFETY: an all-zero Py_buffer is a valid out-parameter; on success the export is
        // owned by the returned value and released by its Drop.
        unsafe {
            let mut view: ffi::Py_buffer = std::mem::zeroed();
            if ffi::PyObject_GetBuffer(obj.as_ptr(), &mut view, ffi::PyBUF_SIMPLE) != 0 {
                return Err(PyErr::fetch(obj.py()));
            }
            let buffer = SimpleBuffer(view);
            if ffi::PyBuffer_IsContiguous(&buffer.0, b'C' as std::ffi::c_char) == 0 {
                return Err(PyTypeError::new_err(format!("a contiguous buffer is required, not '{}'", crate::interp::names::type_name(obj))));
            }
            Ok(buffer)
        }
    }
}

impl Drop for SimpleBuffer {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a successful export not yet released (released only here).
        unsafe { ffi::PyBuffer_Release(&mut self.0) }
    }
}

/// `from_buffer_copy(cls, obj, offset=0)`.
pub fn from_buffer_copy(py: Python<'_>, cls: &Bound<'_, PyAny>, obj: &Bound<'_, PyAny>, offset: isize) -> PyResult<Py<PyAny>> {
    let info = stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let buffer = SimpleBuffer::get(obj)?;
    if offset < 0 {
        return Err(PyValueError::new_err("offset cannot be negative"));
    }
    let len = buffer.0.len;
    let size = info.get().size;
    if (size as isize) > len - offset {
        return Err(PyValueError::new_err(format!("Buffer size too small ({} instead of at least {} bytes)", len, size as isize + offset)));
    }
    audit::cdata_buffer(py, buffer.0.buf, len, offset)?;
    // SAFETY: `offset + size <= len` was checked above and the export lives until `buffer`
    // is dropped, after the copy.
    Ok(unsafe { instantiate_copy(cls, buffer.0.buf.cast::<u8>().add(offset as usize))? }.unbind())
}

/// `in_dll(cls, dll, name)`: the instance living at an exported symbol.
pub fn in_dll(py: Python<'_>, cls: &Bound<'_, PyAny>, dll: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<Py<PyAny>> {
    audit::dlsym(py, dll, name.as_any())?;
    let addr = symbol_address(dll, name)?;
    from_address(cls, &addr.into_pyobject(py)?.into_any())
}

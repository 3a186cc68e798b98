//! `ferrotypes._ctypes`: the extension module, with the same names and behavior as CPython
//! 3.11's `_ctypes`. Everything exported to Python is listed in [`_ctypes`] below.
#![deny(clippy::undocumented_unsafe_blocks)]

mod array;
mod callback;
mod carg;
mod checked;
mod cdata;
mod cfield;
mod construct;
mod convert;
mod errno;
mod error;
mod fastcall;
mod funcptr;
mod paramflags;
mod pointer;
mod roots;
mod simple;
mod stginfo;
mod structure;
mod util;
mod variadic;

use carg::CArgObject;
use cdata::CData;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyModule, PyString, PyTuple, PyType};
use std::ffi::{c_int, c_void, CString};

pyo3::create_exception!(ctypes, ArgumentError, pyo3::exceptions::PyException);

/// The module object, for lookups from Rust (e.g. `_unpickle`).
pub static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
static POINTER_TYPE_CACHE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
static ARRAY_TYPE_CACHE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
static FUNCPTR_VECTORCALL_OFFSET: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

pub fn pointer_type_cache(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    Ok(POINTER_TYPE_CACHE.get_or_init(py, || PyDict::new(py).unbind()).bind(py).clone())
}

pub fn array_type_cache(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    Ok(ARRAY_TYPE_CACHE.get_or_init(py, || PyDict::new(py).unbind()).bind(py).clone())
}

fn cdata_arg<'a, 'py>(obj: &'a Bound<'py, PyAny>, msg: &str) -> PyResult<&'a Bound<'py, CData>> {
    obj.cast::<CData>().map_err(|_| PyTypeError::new_err(msg.to_owned()))
}

/// `sizeof(obj_or_type)`.
#[pyfunction]
fn sizeof(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    if let Some(info) = util::stginfo_of_type(obj) {
        return Ok(info.get().size);
    }
    if let Ok(c) = obj.cast::<CData>() {
        return Ok(c.get().size());
    }
    Err(PyTypeError::new_err("this type has no size"))
}

/// `alignment(obj_or_type)`.
#[pyfunction]
fn alignment(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    if let Some(info) = util::stginfo_of_type(obj) {
        return Ok(info.get().align);
    }
    if let Some(info) = util::stginfo_of_instance(obj) {
        return Ok(info.get().align);
    }
    Err(PyTypeError::new_err("no alignment info"))
}

/// `byref(obj, offset=0)`: a light-weight pointer argument to a ctypes instance.
#[pyfunction]
#[pyo3(signature = (obj, offset = 0))]
pub fn byref(py: Python<'_>, obj: &Bound<'_, PyAny>, offset: isize) -> PyResult<Py<CArgObject>> {
    let c = obj.cast::<CData>().map_err(|_| {
        PyTypeError::new_err(format!("byref() argument must be a ctypes instance, not '{}'", util::type_name(obj)))
    })?;
    let addr = (c.get().ptr() as isize).wrapping_add(offset) as usize;
    Ok(CArgObject::pointer(addr, Some(obj.clone().unbind())).into_object(py)?.unbind())
}

/// `addressof(obj)`.
#[pyfunction]
fn addressof(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    Ok(cdata_arg(obj, "invalid type")?.get().ptr() as usize)
}

/// `resize(obj, size)`: grows the memory an instance owns.
#[pyfunction]
fn resize(obj: &Bound<'_, PyAny>, size: isize) -> PyResult<()> {
    let c = cdata_arg(obj, "excepted ctypes instance")?;
    let min = util::stginfo_of_instance(obj).map_or(0, |i| i.get().size);
    if size < min as isize {
        return Err(PyValueError::new_err(format!("minimum size is {min}")));
    }
    c.get().resize(size as usize, min)
}

/// `dlopen(name, mode=RTLD_NOW|RTLD_LOCAL)` → handle.
#[pyfunction]
#[pyo3(signature = (name = None, mode = libc::RTLD_NOW | libc::RTLD_LOCAL))]
fn dlopen(name: Option<&Bound<'_, PyAny>>, mode: i32) -> PyResult<usize> {
    let path = match name {
        Some(n) if !n.is_none() => {
            let os = n.py().import("os")?.call_method1(pyo3::intern!(n.py(), "fsencode"), (n,))?;
            let b = os.cast::<PyBytes>()?.as_bytes().to_vec();
            Some(CString::new(b).map_err(|_| PyValueError::new_err("embedded null byte"))?)
        }
        _ => None,
    };
    ferrotypes_core::loader::open(path.as_deref(), mode | libc::RTLD_NOW).map(|h| h as usize).map_err(error::core_err)
}

/// `dlclose(handle)`.
#[pyfunction]
fn dlclose(handle: usize) -> PyResult<()> {
    ferrotypes_core::loader::close(handle as *mut c_void).map_err(error::core_err)
}

/// `dlsym(handle, name)` → address.
#[pyfunction]
fn dlsym(handle: usize, name: &str) -> PyResult<usize> {
    ferrotypes_core::loader::symbol(handle as *mut c_void, name)
        .map(|p| p as usize)
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))
}

/// `PyObj_FromPtr(address)`: the object at an address (the caller vouches for it).
#[pyfunction(name = "PyObj_FromPtr")]
fn pyobj_from_ptr(py: Python<'_>, address: usize) -> PyResult<Py<PyAny>> {
    if address == 0 {
        return Err(PyValueError::new_err("PyObj_FromPtr: NULL pointer"));
    }
    // SAFETY: as CPython's, this trusts the caller that `address` is a live object.
    Ok(unsafe { Bound::from_borrowed_ptr(py, address as *mut ffi::PyObject) }.unbind())
}

#[pyfunction(name = "Py_INCREF")]
fn py_incref(obj: &Bound<'_, PyAny>) -> Py<PyAny> {
    // SAFETY: adds one reference to a live object (deliberately leaked, as CPython's does).
    unsafe { ffi::Py_INCREF(obj.as_ptr()) };
    obj.clone().unbind()
}

#[pyfunction(name = "Py_DECREF")]
fn py_decref(obj: &Bound<'_, PyAny>) -> Py<PyAny> {
    // SAFETY: removes a reference the caller added with Py_INCREF; `obj` itself still holds one.
    unsafe { ffi::Py_DECREF(obj.as_ptr()) };
    obj.clone().unbind()
}

/// `buffer_info(type_or_obj)` → (format, ndim, shape).
#[pyfunction]
fn buffer_info(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Py<PyTuple>> {
    let info = util::stginfo_of_type(obj)
        .or_else(|| util::stginfo_of_instance(obj))
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

/// `_unpickle(type, state)`.
#[pyfunction]
fn _unpickle(py: Python<'_>, typ: &Bound<'_, PyAny>, state: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
    let obj = typ.call_method1(pyo3::intern!(typ.py(), "__new__"), (typ,))?;
    obj.call_method1(pyo3::intern!(obj.py(), "__setstate__"), state.clone())?;
    let _ = py;
    Ok(obj.unbind())
}

/// `from_address(cls, address)`.
#[pyfunction]
fn from_address(cls: &Bound<'_, PyAny>, address: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if !address.is_instance_of::<pyo3::types::PyInt>() {
        return Err(PyTypeError::new_err("integer expected"));
    }
    let addr = simple::int_mask(address)? as usize;
    let info = util::stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let (size, length) = (info.get().size, info.get().length);
    if checked::enabled() {
        checked::check_readable(addr, size)?;
    }
    Ok(roots::instantiate(cls, cdata::RawInit::Borrowed { ptr: addr as *mut u8, size, length, base: None, index: 0 })?.unbind())
}

/// `from_buffer(cls, obj, offset=0)`: shares a writable buffer's memory.
#[pyfunction]
fn from_buffer(py: Python<'_>, cls: &Bound<'_, PyAny>, obj: &Bound<'_, PyAny>, offset: isize) -> PyResult<Py<PyAny>> {
    let info = util::stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    // A memoryview holds the export for as long as the new instance keeps it (in
    // `_objects`), which also stops the exporter (a bytearray) from resizing under it.
    // SAFETY: `obj` is a live object; the result is a new reference or NULL with an error.
    let mv = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromObject(obj.as_ptr()))? };
    // A second, read-only request on the memoryview describes the same memory; it is
    // released at once (the memoryview keeps the underlying export).
    // SAFETY: an all-zero Py_buffer is a valid out-parameter; a successful GetBuffer is
    // paired with PyBuffer_Release after its fields are copied.
    let (buf, len, readonly, contiguous) = unsafe {
        let mut view: ffi::Py_buffer = std::mem::zeroed();
        if ffi::PyObject_GetBuffer(mv.as_ptr(), &mut view, ffi::PyBUF_FULL_RO) != 0 {
            return Err(PyErr::fetch(py));
        }
        let facts = (view.buf as isize, view.len, view.readonly != 0, ffi::PyBuffer_IsContiguous(&view, b'C' as std::ffi::c_char) != 0);
        ffi::PyBuffer_Release(&mut view);
        facts
    };
    if readonly {
        return Err(PyTypeError::new_err("underlying buffer is not writable"));
    }
    if !contiguous {
        return Err(PyTypeError::new_err("underlying buffer is not C contiguous"));
    }
    if offset < 0 {
        return Err(PyValueError::new_err("offset cannot be negative"));
    }
    let size = info.get().size as isize;
    if size > len - offset {
        return Err(PyValueError::new_err(format!("Buffer size too small ({} instead of at least {} bytes)", len, size + offset)));
    }
    let length = info.get().length;
    let ptr = (buf + offset) as *mut u8;
    let result = roots::instantiate(cls, cdata::RawInit::Borrowed { ptr, size: size as usize, length, base: None, index: 0 })?;
    cdata::keep_ref(result.cast::<CData>()?, -1, Some(mv.into_any().unbind()))?;
    Ok(result.unbind())
}

/// `from_buffer_copy(cls, obj, offset=0)`.
#[pyfunction]
fn from_buffer_copy(py: Python<'_>, cls: &Bound<'_, PyAny>, obj: &Bound<'_, PyAny>, offset: isize) -> PyResult<Py<PyAny>> {
    let info = util::stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let mv = py.get_type::<pyo3::types::PyMemoryView>().call1((obj,))?;
    if offset < 0 {
        return Err(PyValueError::new_err("offset cannot be negative"));
    }
    let data: Vec<u8> = mv.call_method0(pyo3::intern!(mv.py(), "tobytes"))?.extract()?;
    let size = info.get().size;
    if (size as isize) > data.len() as isize - offset {
        return Err(PyValueError::new_err(format!("Buffer size too small ({} instead of at least {} bytes)", data.len(), size as isize + offset)));
    }
    // SAFETY: `offset + size <= data.len()` was checked above.
    Ok(unsafe { roots::instantiate_copy(cls, data.as_ptr().add(offset as usize))? }.unbind())
}

/// `in_dll(cls, dll, name)`: the instance living at an exported symbol.
#[pyfunction]
fn in_dll(py: Python<'_>, cls: &Bound<'_, PyAny>, dll: &Bound<'_, PyAny>, name: &Bound<'_, PyString>) -> PyResult<Py<PyAny>> {
    let addr = funcptr::symbol_address(dll, name)?;
    from_address(cls, &addr.into_pyobject(py)?.into_any())
}

/// Whether `_type_` code `code` has a byte-swapped twin.
#[pyfunction]
fn simple_code_swappable(code: &str) -> bool {
    code.bytes().next().is_some_and(simple::swappable)
}

#[pyfunction]
fn stginfo_of(cls: &Bound<'_, PyAny>) -> Option<Py<stginfo::StgInfo>> {
    util::stginfo_of_type(cls).map(Bound::unbind)
}

/// `PyCSimpleType.from_param` (generic: numbers, chars, bools, py_object).
#[pyfunction]
fn simple_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if value.is_instance(cls)? {
        return Ok(value.clone().unbind());
    }
    let info = util::stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let (kind, swapped) = info.get().simple_kind().ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let mut buf = [0u8; 16];
    // The argument value is native: a swapped type's byte order applies to its memory only.
    let _ = swapped;
    // SAFETY: 16 bytes hold any scalar.
    match unsafe { simple::set_value(kind, false, buf.as_mut_ptr(), value) } {
        Ok(keep) => Ok(Py::new(py, CArgObject::new(kind.code, buf, ferrotypes_core::ffi_type::FfiType::Static(kind.ffi_type()), keep))?.into_any()),
        Err(_) => match value.getattr_opt(pyo3::intern!(value.py(), "_as_parameter_"))? {
            Some(inner) => util::recursion_guarded(py, || simple_from_param(py, cls, &inner)),
            None => Err(PyTypeError::new_err("wrong type")),
        },
    }
}

fn carg_pointer(py: Python<'_>, tag: u8, addr: usize, keep: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
    let mut c = CArgObject::pointer(addr, keep);
    c.tag = tag;
    Ok(Py::new(py, c)?.into_any())
}

fn elem_code_of(obj: &Bound<'_, PyAny>) -> Option<u8> {
    let info = util::stginfo_of_instance(obj)?;
    let proto = info.get().proto.as_ref()?;
    util::stginfo_of_type(proto.bind(obj.py())).and_then(|p| p.get().simple_kind().map(|(k, _)| k.code))
}

/// `c_char_p.from_param`.
#[pyfunction]
fn c_char_p_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    char_pointer_from_param(py, cls, value, b'z', b'c')
}

/// `c_wchar_p.from_param`.
#[pyfunction]
fn c_wchar_p_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    char_pointer_from_param(py, cls, value, b'Z', b'u')
}

fn char_pointer_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, tag: u8, elem: u8) -> PyResult<Py<PyAny>> {
    if value.is_none() {
        return Ok(py.None());
    }
    if tag == b'z' {
        if let Ok(b) = value.cast::<PyBytes>() {
            return carg_pointer(py, b'z', b.as_bytes().as_ptr() as usize, Some(value.clone().unbind()));
        }
    } else if let Ok(s) = value.cast::<PyString>() {
        let buf = simple::wchar_buffer(s)?;
        return carg_pointer(py, b'Z', buf.as_bytes().as_ptr() as usize, Some(buf.into_any().unbind()));
    }
    if value.is_instance(cls)? {
        return Ok(value.clone().unbind());
    }
    if let Some(info) = util::stginfo_of_instance(value) {
        if matches!(info.get().kind, stginfo::Kind::Array | stginfo::Kind::Pointer) && elem_code_of(value) == Some(elem) {
            return Ok(value.clone().unbind());
        }
    }
    if let Ok(carg) = value.cast::<CArgObject>() {
        if let Some(o) = &carg.get().obj {
            let o = o.bind(py);
            if util::stginfo_of_instance(o).and_then(|i| i.get().simple_kind()).is_some_and(|(k, _)| k.code == elem) {
                return Ok(value.clone().unbind());
            }
        }
    }
    if let Some(inner) = value.getattr_opt(pyo3::intern!(value.py(), "_as_parameter_"))? {
        return util::recursion_guarded(py, || char_pointer_from_param(py, cls, &inner, tag, elem));
    }
    Err(PyTypeError::new_err("wrong type"))
}

/// `c_void_p.from_param`.
#[pyfunction]
fn c_void_p_from_param(py: Python<'_>, cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if value.is_none() {
        return Ok(py.None());
    }
    if value.is_instance_of::<pyo3::types::PyInt>() {
        return carg_pointer(py, b'P', simple::int_mask(value)? as usize, None);
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return carg_pointer(py, b'z', b.as_bytes().as_ptr() as usize, Some(value.clone().unbind()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        let buf = simple::wchar_buffer(s)?;
        return carg_pointer(py, b'Z', buf.as_bytes().as_ptr() as usize, Some(buf.into_any().unbind()));
    }
    if value.is_instance(cls)? {
        return Ok(value.clone().unbind());
    }
    if let Some(info) = util::stginfo_of_instance(value) {
        let c = value.cast::<CData>()?;
        match info.get().kind {
            stginfo::Kind::Array | stginfo::Kind::Pointer => return Ok(value.clone().unbind()),
            stginfo::Kind::FuncPtr => {
                // SAFETY: function pointer instances hold one pointer.
                let p = unsafe { simple::read_ptr(c.get().ptr()) };
                return carg_pointer(py, b'P', p, Some(value.clone().unbind()));
            }
            stginfo::Kind::Simple { kind, .. } if matches!(kind.code, b'z' | b'Z') => {
                // SAFETY: c_char_p/c_wchar_p instances hold one pointer.
                let p = unsafe { simple::read_ptr(c.get().ptr()) };
                return carg_pointer(py, b'Z', p, Some(value.clone().unbind()));
            }
            _ => {}
        }
    }
    if let Ok(carg) = value.cast::<CArgObject>() {
        if carg.get().tag == b'P' {
            return Ok(value.clone().unbind());
        }
    }
    if let Some(inner) = value.getattr_opt(pyo3::intern!(value.py(), "_as_parameter_"))? {
        return util::recursion_guarded(py, || c_void_p_from_param(py, cls, &inner));
    }
    Err(PyTypeError::new_err("wrong type"))
}

/// The code-specific `from_param` for direct `_SimpleCData` subclasses, if any.
#[pyfunction]
fn special_from_param(py: Python<'_>, code: &str) -> Option<Py<PyAny>> {
    let fns = convert::STOCK_SPECIAL_FROM_PARAM.get(py)?;
    match code {
        "z" => Some(fns[0].clone_ref(py)),
        "Z" => Some(fns[1].clone_ref(py)),
        "P" => Some(fns[2].clone_ref(py)),
        _ => None,
    }
}

#[pyfunction]
fn enable_vectorcall(cls: &Bound<'_, PyType>) {
    funcptr::enable_vectorcall(cls, FUNCPTR_VECTORCALL_OFFSET.load(std::sync::atomic::Ordering::Relaxed));
}

// --- C entry points whose addresses ctypes/__init__.py wraps with PYFUNCTYPE ----------------

/// `string_at(ptr, size)`: bytes at an address (size -1: up to the NUL).
unsafe extern "C" fn string_at_impl(ptr: *const u8, size: c_int) -> *mut ffi::PyObject {
    if checked::enabled() {
        // SAFETY: GIL held (PYFUNCTYPE).
        return unsafe { checked::string_at(ptr, size) };
    }
    // SAFETY: called through a PYFUNCTYPE prototype, so with the GIL held; the caller vouches
    // for the address (this is the raw-memory API).
    unsafe {
        if size == -1 {
            ffi::PyBytes_FromString(ptr.cast())
        } else {
            ffi::PyBytes_FromStringAndSize(ptr.cast(), size as isize)
        }
    }
}

/// `wstring_at(ptr, size)`.
unsafe extern "C" fn wstring_at_impl(ptr: *const libc::wchar_t, size: c_int) -> *mut ffi::PyObject {
    if checked::enabled() {
        // SAFETY: GIL held (PYFUNCTYPE).
        return unsafe { checked::wstring_at(ptr, size) };
    }
    // SAFETY: as `string_at_impl`.
    unsafe {
        let n = if size == -1 { ferrotypes_core::memory::wcslen(ptr) as isize } else { size as isize };
        ffi::PyUnicode_FromWideChar(ptr, n)
    }
}

/// `cast(ptr, src, ctype)`: a new `ctype` instance holding `ptr`, keeping `src` alive.
unsafe extern "C" fn cast_impl(ptr: *mut c_void, src: *mut ffi::PyObject, ctype: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: called through a PYFUNCTYPE prototype with the GIL held and live objects.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: `src` and `ctype` are live borrowed references for the duration of the call.
    let (src, ctype) = unsafe { (Bound::from_borrowed_ptr(py, src), Bound::from_borrowed_ptr(py, ctype)) };
    match cast_rust(py, ptr as usize, &src, &ctype) {
        Ok(o) => o.into_ptr(),
        Err(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
    }
}

fn cast_rust(py: Python<'_>, ptr: usize, src: &Bound<'_, PyAny>, ctype: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let ok = util::stginfo_of_type(ctype).is_some_and(|i| match i.get().kind {
        stginfo::Kind::Pointer | stginfo::Kind::FuncPtr => true,
        stginfo::Kind::Simple { kind, .. } => b"sPzUZXO".contains(&kind.code),
        _ => false,
    });
    if !ok {
        let name = if ctype.cast::<PyType>().is_ok() { util::class_name(ctype) } else { util::type_name(ctype) };
        return Err(PyTypeError::new_err(format!("cast() argument 2 must be a pointer type, not {name}")));
    }
    let result = ctype.call0()?;
    let rc = result.cast::<CData>()?;
    if let Ok(s) = src.cast::<CData>() {
        let _ = cdata::keeped_objects_pub(s);
        if s.get().objects(py).is_some_and(|o| o.is_none(py)) {
            s.get().set_objects(Some(PyDict::new(py).into_any().unbind()));
        }
        let objs = s.get().objects(py);
        rc.get().set_objects(objs.as_ref().map(|o| o.clone_ref(py)));
        if let Some(o) = objs {
            if let Ok(d) = o.bind(py).cast::<PyDict>() {
                d.set_item(src.as_ptr() as usize, src)?;
            }
        }
    }
    // SAFETY: the result is a pointer-sized ctypes instance (checked above).
    unsafe { simple::write_ptr(rc.get().ptr(), ptr) };
    Ok(result.unbind())
}

/// The directory this extension was loaded from (the `ferrotypes` package directory, in
/// both modes), found from the address of one of our own functions.
fn extension_dir() -> PyResult<std::path::PathBuf> {
    // SAFETY: an all-zero Dl_info is a valid out-parameter for dladdr.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only inspects the loader's tables for the given code address.
    let found = unsafe { libc::dladdr(extension_dir as *const c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return Err(pyo3::exceptions::PyImportError::new_err("cannot locate the _ctypes extension file"));
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the loader.
    let path = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = std::path::PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path.to_bytes()));
    Ok(path.parent().map(std::path::Path::to_path_buf).unwrap_or_default())
}

/// Loads `_ctypes_meta.py` (the metaclasses) from beside the extension, through the normal
/// source loader so its bytecode is cached, with `_rs` injected before it runs.
fn run_metaclass_module<'py>(py: Python<'py>, rs: &Bound<'py, PyModule>) -> PyResult<Bound<'py, PyDict>> {
    let path = extension_dir()?.join("_ctypes_meta.py");
    if let Some(code) = fresh_cached_code(py, &path) {
        // The fast way in: the bytecode importlib cached for this very source, run in a new
        // module (importlib's finder and loader machinery costs a quarter of a millisecond).
        let module = PyModule::new(py, "_ctypes_meta")?;
        module.setattr("__file__", path.to_string_lossy().as_ref())?;
        module.setattr("_rs", rs)?;
        let dict = module.dict();
        py.import("builtins")?.getattr("exec")?.call1((code, &dict))?;
        return Ok(dict);
    }
    let util = py.import("importlib.util")?;
    let spec = util.call_method1("spec_from_file_location", ("_ctypes_meta", path))?;
    if spec.is_none() {
        return Err(pyo3::exceptions::PyImportError::new_err("_ctypes_meta.py is missing beside the extension"));
    }
    let module = util.call_method1("module_from_spec", (&spec,))?;
    module.setattr("_rs", rs)?;
    spec.getattr("loader")?.call_method1("exec_module", (&module,))?;
    Ok(module.getattr("__dict__")?.cast_into::<PyDict>()?)
}

/// The code object in `__pycache__` for the source at `path`, if the cache is a
/// timestamp-checked one written for this source's current mtime and size by this
/// interpreter's bytecode version (the checks importlib makes); else `None`.
fn fresh_cached_code<'py>(py: Python<'py>, path: &std::path::Path) -> Option<Bound<'py, PyAny>> {
    use std::os::unix::fs::MetadataExt;
    let tag: String = py.import("sys").ok()?.getattr("implementation").ok()?.getattr("cache_tag").ok()?.extract().ok()?;
    let stem = path.file_stem()?.to_str()?;
    let cached = path.parent()?.join("__pycache__").join(format!("{stem}.{tag}.pyc"));
    let data = std::fs::read(cached).ok()?;
    let source = std::fs::metadata(path).ok()?;
    let magic: Vec<u8> = py.import("importlib.util").ok()?.getattr("MAGIC_NUMBER").ok()?.extract().ok()?;
    let word = |at: usize| data.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let fresh = data.get(..4) == Some(&magic[..])
        && word(4) == Some(0)
        && word(8) == Some(source.mtime() as u32)
        && word(12) == Some(source.size() as u32);
    if !fresh {
        return None;
    }
    let body = pyo3::types::PyBytes::new(py, &data[16..]);
    py.import("marshal").ok()?.call_method1("loads", (body,)).ok()
}

/// Builds the helper namespace `_rs` that `py/meta.py` calls into.
fn helper_namespace<'py>(py: Python<'py>, m: &Bound<'py, PyModule>) -> PyResult<Bound<'py, PyModule>> {
    let rs = PyModule::new(py, "_ctypes._rs")?;
    rs.add_class::<stginfo::StgInfo>()?;
    rs.add("SimpleCData", m.getattr("_SimpleCData")?)?;
    rs.add("little_endian", cfg!(target_endian = "little"))?;
    rs.add_function(wrap_pyfunction!(from_address, &rs)?)?;
    rs.add_function(wrap_pyfunction!(from_buffer, &rs)?)?;
    rs.add_function(wrap_pyfunction!(from_buffer_copy, &rs)?)?;
    rs.add_function(wrap_pyfunction!(in_dll, &rs)?)?;
    rs.add_function(wrap_pyfunction!(array::array_type, &rs)?)?;
    rs.add_function(wrap_pyfunction!(array::array_type_info, &rs)?)?;
    rs.add_function(wrap_pyfunction!(simple_code_swappable, &rs)?)?;
    rs.add_function(wrap_pyfunction!(special_from_param, &rs)?)?;
    rs.add_function(wrap_pyfunction!(simple_from_param, &rs)?)?;
    rs.add_function(wrap_pyfunction!(stginfo_of, &rs)?)?;
    rs.add_function(wrap_pyfunction!(funcptr::funcptr_type_info, &rs)?)?;
    rs.add_function(wrap_pyfunction!(enable_vectorcall, &rs)?)?;
    rs.add_function(wrap_pyfunction!(pointer::pointer_from_param, &rs)?)?;
    rs.add_function(wrap_pyfunction!(pointer::generic_from_param, &rs)?)?;
    rs.add_function(wrap_pyfunction!(structure::aggregate_init, &rs)?)?;
    rs.add_function(wrap_pyfunction!(structure::aggregate_set_fields, &rs)?)?;
    rs.add_function(wrap_pyfunction!(construct::enable_construct, &rs)?)?;
    Ok(rs)
}

/// Makes `meta` the metaclass of the PyO3-built root class `cls` (what CPython does for its
/// static root types with `Py_SET_TYPE`). Both are heap types of `type`'s exact layout.
fn set_metaclass(cls: &Bound<'_, PyType>, meta: &Bound<'_, PyAny>) {
    // SAFETY: `meta` is a Python subclass of `type` with no extra slots, so it describes the
    // same C layout as the class's current type (`type`); the class keeps a strong reference
    // to its new metaclass, and the old one (`type`, immortal static) needs no release.
    unsafe {
        ffi::Py_INCREF(meta.as_ptr());
        (*cls.as_ptr()).ob_type = meta.as_ptr().cast();
    }
}

/// Create and manipulate C compatible data types in Python.
#[pymodule]
fn _ctypes(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<simple::SimpleCData>()?;
    m.add_class::<structure::Structure>()?;
    m.add_class::<structure::Union>()?;
    m.add_class::<array::Array>()?;
    m.add_class::<pointer::Pointer>()?;
    m.add_class::<funcptr::CFuncPtr>()?;
    m.add_class::<CArgObject>()?;
    // CPython's CArgObject is a static type named just "CArgObject" (module builtins); PyO3
    // spells tp_name "builtins.CArgObject", which shows in attribute errors.
    // SAFETY: tp_name of a heap type may be replaced by a string that outlives the type (a
    // static); CPython's own `__name__` setter does the same.
    unsafe { (*py.get_type::<CArgObject>().as_type_ptr()).tp_name = c"CArgObject".as_ptr() };
    m.add("ArgumentError", py.get_type::<ArgumentError>())?;

    // The stock special from_param functions must exist before the metaclasses run.
    let specials = [
        wrap_pyfunction!(c_char_p_from_param, m)?.into_any().unbind(),
        wrap_pyfunction!(c_wchar_p_from_param, m)?.into_any().unbind(),
        wrap_pyfunction!(c_void_p_from_param, m)?.into_any().unbind(),
    ];
    let _ = convert::STOCK_SPECIAL_FROM_PARAM.set(py, specials);

    let rs = helper_namespace(py, m)?;
    let globals = run_metaclass_module(py, &rs)?;
    let _ = util::META_GLOBALS.set(py, globals.clone().unbind());
    let meta = |name: &str| -> PyResult<Bound<'_, PyAny>> {
        globals.get_item(name)?.ok_or_else(|| PyValueError::new_err(format!("meta.py lacks {name}")))
    };
    // C-level messages name types by tp_name: CPython's metaclasses are static types named
    // "_ctypes.PyCSimpleType" etc. (`type.__name__`/repr come from the heap type's own
    // name and module and are unchanged).
    for (name, full) in [
        ("PyCSimpleType", c"_ctypes.PyCSimpleType"),
        ("PyCStructType", c"_ctypes.PyCStructType"),
        ("UnionType", c"_ctypes.UnionType"),
        ("PyCArrayType", c"_ctypes.PyCArrayType"),
        ("PyCPointerType", c"_ctypes.PyCPointerType"),
        ("PyCFuncPtrType", c"_ctypes.PyCFuncPtrType"),
    ] {
        let tp: *mut ffi::PyTypeObject = meta(name)?.as_ptr().cast();
        // SAFETY: a live heap type; the new name is a static string that outlives it, and
        // CPython never frees a heap type's tp_name separately (its ht_name owns the buffer).
        unsafe { (*tp).tp_name = full.as_ptr() };
    }
    let simple_meta = meta("PyCSimpleType")?;
    let _ = convert::STOCK_SIMPLE_FROM_PARAM.set(py, simple_meta.getattr("__dict__")?.get_item("from_param")?.unbind());
    let _ = convert::STOCK_POINTER_FROM_PARAM.set(py, meta("PyCPointerType")?.getattr("__dict__")?.get_item("from_param")?.unbind());
    let generic = ["PyCStructType", "PyCArrayType", "PyCFuncPtrType"]
        .iter()
        .map(|name| Ok(meta(name)?.getattr("from_param")?.unbind()))
        .collect::<PyResult<Vec<_>>>()?;
    let _ = convert::STOCK_GENERIC_FROM_PARAM.set(py, generic);

    let roots = roots::Roots {
        simple: py.get_type::<simple::SimpleCData>().unbind(),
        structure: py.get_type::<structure::Structure>().unbind(),
        union: py.get_type::<structure::Union>().unbind(),
        array: py.get_type::<array::Array>().unbind(),
        pointer: py.get_type::<pointer::Pointer>().unbind(),
        funcptr: py.get_type::<funcptr::CFuncPtr>().unbind(),
    };
    set_metaclass(roots.simple.bind(py), &simple_meta);
    set_metaclass(roots.structure.bind(py), &meta("PyCStructType")?);
    set_metaclass(roots.union.bind(py), &meta("UnionType")?);
    set_metaclass(roots.array.bind(py), &meta("PyCArrayType")?);
    set_metaclass(roots.pointer.bind(py), &meta("PyCPointerType")?);
    set_metaclass(roots.funcptr.bind(py), &meta("PyCFuncPtrType")?);
    let funcptr_root = roots.funcptr.clone_ref(py);
    let _ = roots::ROOTS.set(py, roots);

    // Where instances keep their vectorcall entry: measured on a throwaway instance.
    let probe = roots::instantiate_root_probe(py, funcptr_root.bind(py))?;
    let offset = funcptr::CFuncPtr::vectorcall_offset(&probe);
    FUNCPTR_VECTORCALL_OFFSET.store(offset, std::sync::atomic::Ordering::Relaxed);
    funcptr::enable_vectorcall(funcptr_root.bind(py), offset);
    roots::calibrate_direct_alloc(py)?;
    carg::calibrate_direct_alloc(py)?;
    {
        let r = roots::roots(py);
        let metas = ["PyCSimpleType", "PyCStructType", "UnionType", "PyCArrayType", "PyCPointerType"]
            .iter()
            .map(|name| meta(name))
            .collect::<PyResult<Vec<_>>>()?;
        let kinds = [r.simple.bind(py), r.structure.bind(py), r.union.bind(py), r.array.bind(py), r.pointer.bind(py)];
        construct::install(py, &kinds, &metas);
        array::install_array_multiply(&metas);
        array::install_array_multiply(&[meta("PyCFuncPtrType")?]);
    }

    for name in ["PyCSimpleType", "PyCStructType", "UnionType", "PyCArrayType", "PyCPointerType", "PyCFuncPtrType"] {
        rs.add(name, meta(name)?)?;
    }
    m.add("_rs", rs)?;
    m.add("__version__", "1.1.0")?;
    m.add("FUNCFLAG_CDECL", funcptr::FUNCFLAG_CDECL)?;
    m.add("FUNCFLAG_PYTHONAPI", funcptr::FUNCFLAG_PYTHONAPI)?;
    m.add("FUNCFLAG_USE_ERRNO", funcptr::FUNCFLAG_USE_ERRNO)?;
    m.add("FUNCFLAG_USE_LASTERROR", funcptr::FUNCFLAG_USE_LASTERROR)?;
    #[cfg(windows)]
    {
        m.add("FUNCFLAG_STDCALL", funcptr::FUNCFLAG_STDCALL)?;
        m.add("FUNCFLAG_HRESULT", funcptr::FUNCFLAG_HRESULT)?;
    }
    m.add("RTLD_LOCAL", libc::RTLD_LOCAL)?;
    m.add("RTLD_GLOBAL", libc::RTLD_GLOBAL)?;
    m.add("CTYPES_MAX_ARGCOUNT", funcptr::CTYPES_MAX_ARGCOUNT)?;
    m.add("_pointer_type_cache", pointer_type_cache(py)?)?;
    m.add("_memmove_addr", ferrotypes_core::memory::memmove_addr())?;
    m.add("_memset_addr", ferrotypes_core::memory::memset_addr())?;
    m.add("_string_at_addr", string_at_impl as *const c_void as usize)?;
    m.add("_wstring_at_addr", wstring_at_impl as *const c_void as usize)?;
    m.add("_cast_addr", cast_impl as *const c_void as usize)?;
    m.add_function(wrap_pyfunction!(sizeof, m)?)?;
    m.add_function(wrap_pyfunction!(alignment, m)?)?;
    m.add_function(wrap_pyfunction!(byref, m)?)?;
    m.add_function(wrap_pyfunction!(addressof, m)?)?;
    m.add_function(wrap_pyfunction!(resize, m)?)?;
    m.add_function(wrap_pyfunction!(dlopen, m)?)?;
    m.add_function(wrap_pyfunction!(dlclose, m)?)?;
    m.add_function(wrap_pyfunction!(dlsym, m)?)?;
    m.add_function(wrap_pyfunction!(errno::get_errno, m)?)?;
    m.add_function(wrap_pyfunction!(errno::set_errno, m)?)?;
    m.add_function(wrap_pyfunction!(pointer::pointer_type, m)?)?;
    m.add_function(wrap_pyfunction!(pointer::pointer, m)?)?;
    m.add_function(wrap_pyfunction!(pyobj_from_ptr, m)?)?;
    m.add_function(wrap_pyfunction!(py_incref, m)?)?;
    m.add_function(wrap_pyfunction!(py_decref, m)?)?;
    m.add_function(wrap_pyfunction!(buffer_info, m)?)?;
    m.add_function(wrap_pyfunction!(_unpickle, m)?)?;
    m.add_function(wrap_pyfunction!(funcptr::call_function, m)?)?;
    m.add("call_cdeclfunction", m.getattr("call_function")?)?;
    checked::register(m)?;
    let _ = MODULE.set(py, m.clone().unbind());
    Ok(())
}

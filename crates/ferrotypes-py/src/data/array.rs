//! `Array` and `T * n`: fixed-length C arrays, element access shared with pointers.
use super::caller_module::caller_module;
use super::cdata::{self, CData, RawInit};
use super::roots;
use super::simple;
use super::stginfo::{flags, stginfo_borrowed, stginfo_of_instance, stginfo_of_type, ItemInfo, Kind, StgInfo};
use crate::interp::long_layout;
use crate::interp::names::{class_name, type_name};
use crate::interp::GilCell;
use ferrotypes_core::ffi_type::FfiType;
use pyo3::exceptions::{PyIndexError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PySlice, PyString, PyTuple, PyType, PyWeakrefMethods, PyWeakrefReference};

#[pyclass(extends = CData, subclass, frozen, module = "_ctypes", name = "Array")]
pub struct Array;

/// Reads element `index` of type `elem` at `p`, borrowing `base`'s memory (CPython's
/// PyCData_get): simple values come back as Python values, the rest as views.
pub fn get_item_at(py: Python<'_>, elem: &Bound<'_, PyAny>, p: *mut u8, base: &Bound<'_, PyAny>, index: isize) -> PyResult<Py<PyAny>> {
    let info = stginfo_of_type(elem).ok_or_else(|| PyTypeError::new_err("this type has no size"))?;
    let i = info.get();
    if let Some((kind, swapped)) = i.simple_kind() {
        if !simple::is_simple_subclass(elem) {
            // SAFETY: `p` addresses one element inside memory kept alive by `base`.
            return unsafe { simple::get_value(py, kind, swapped, p) };
        }
    }
    let init = RawInit::Borrowed { ptr: p, size: i.size, length: i.length, base: Some(base.clone().unbind()), index };
    Ok(roots::instantiate(elem, init)?.unbind())
}

/// The `Array` root's PyO3 `mp_subscript`, behind the raw entry.
static SUBSCRIPT: super::raw_subscript::RawSubscript = super::raw_subscript::RawSubscript::new();

/// Remembers the root's own `mp_subscript` (module set-up).
pub fn install_raw_subscript(py: Python<'_>) {
    SUBSCRIPT.remember(py.get_type::<Array>().as_type_ptr());
}

/// Gives a new array class the raw `mp_subscript` if it inherited the root's.
pub fn enable_raw_subscript(tp: *mut pyo3::ffi::PyTypeObject) {
    SUBSCRIPT.enable(tp, array_subscript);
}

/// `arr[i]` for an exact `int` index in range into an array of native scalars: the
/// element type's raw getter (`simple::raw_accessors`) on the element, as CPython's
/// `Array_item` calls its getfunc. Every other case goes to PyO3's `__getitem__`.
unsafe extern "C" fn array_subscript(obj: *mut pyo3::ffi::PyObject, key: *mut pyo3::ffi::PyObject) -> *mut pyo3::ffi::PyObject {
    use pyo3::ffi;
    // SAFETY: CPython calls mp_subscript with the GIL held and `obj` (an instance of a
    // class that got this slot, so an array) and `key` live and borrowed for the call. The
    // index is checked against the instance's length; the raw getter reads one element of
    // its kind and returns a new reference or NULL with an exception set. The storage
    // info is borrowed from the type, which `obj` keeps alive, and no Python code runs
    // while it is used.
    unsafe {
        if ffi::PyLong_CheckExact(key) != 0 {
            // `None`: too big, the general path raises the right error.
            if let (Some(i), Some(c)) = (long_layout::exact_index(key), cdata::instance_of(obj)) {
                let py = Python::assume_attached();
                // Borrowed: no Python code runs before the element is read.
                if let Some(info) = stginfo_borrowed(py, ffi::Py_TYPE(obj)) {
                    if let Some(ItemInfo { size, raw_get: Some(get), .. }) = info.item {
                        let len = c.length() as isize;
                        let j = if i < 0 { i + len } else { i };
                        if (0..len).contains(&j) {
                            return get(c.ptr().add(j as usize * size));
                        }
                    }
                }
            }
        }
        SUBSCRIPT.general(obj, key)
    }
}

/// Stores `value` into element `index` of type `elem` at `p` inside `dst` (CPython's
/// PyCData_set), recording keep-alives under `index`.
pub fn set_item_at(dst: &Bound<'_, CData>, elem: &Bound<'_, PyAny>, p: *mut u8, index: isize, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let keep = assign(elem, p, value)?;
    cdata::keep_ref(dst, index, keep)
}

/// The value-assignment rules shared by array items, pointer items and structure fields.
pub fn assign(ty: &Bound<'_, PyAny>, p: *mut u8, value: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
    let py = ty.py();
    let info = stginfo_of_type(ty).ok_or_else(|| PyTypeError::new_err("this type has no size"))?;
    let i = info.get();
    let Ok(src) = value.cast::<CData>() else {
        if let Some((kind, swapped)) = i.simple_kind() {
            // SAFETY: `p` addresses `kind.size` writable bytes of the destination.
            return unsafe { simple::set_value(kind, swapped, p, value) };
        }
        if let Ok(t) = value.cast::<PyTuple>() {
            let ob = ty.call1(t.clone()).map_err(|e| {
                let msg = format!("({}) {}: {}", class_name(ty), e.get_type(py).name().map(|n| n.to_string()).unwrap_or_default(), e.value(py));
                pyo3::exceptions::PyRuntimeError::new_err(msg)
            })?;
            return assign(ty, p, &ob);
        }
        if value.is_none() && i.kind == Kind::Pointer {
            // SAFETY: a pointer field holds one pointer.
            unsafe { simple::write_ptr(p, 0) };
            return Ok(None);
        }
        return Err(PyTypeError::new_err(format!(
            "expected {} instance, got {}",
            class_name(ty),
            type_name(value)
        )));
    };
    if value.is_instance(ty)? {
        // SAFETY: both are instances of the same type: `size` bytes each; memmove tolerates
        // assigning an object to (part of) itself.
        unsafe { std::ptr::copy(src.get().ptr(), p, i.size) };
        return Ok(cdata::keeped_objects_pub(src)?.map(Bound::unbind));
    }
    if i.kind == Kind::Pointer {
        if let Some(vi) = stginfo_of_instance(value) {
            if vi.get().kind == Kind::Array {
                let same = match (&vi.get().proto, &i.proto) {
                    (Some(a), Some(b)) => a.is(b),
                    _ => false,
                };
                if !same {
                    return Err(PyTypeError::new_err(format!(
                        "incompatible types, {} instance instead of {} instance",
                        type_name(value),
                        class_name(ty)
                    )));
                }
                // SAFETY: a pointer field holds one pointer.
                unsafe { simple::write_ptr(p, src.get().ptr() as usize) };
                let keep = cdata::keeped_objects_pub(src)?.map(Bound::unbind).unwrap_or_else(|| py.None());
                return Ok(Some(PyTuple::new(py, [keep, value.clone().unbind()])?.into_any().unbind()));
            }
        }
    }
    Err(PyTypeError::new_err(format!(
        "incompatible types, {} instance instead of {} instance",
        type_name(value),
        class_name(ty)
    )))
}

fn array_info<'py>(slf: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, StgInfo>, Bound<'py, PyAny>)> {
    let info = stginfo_of_instance(slf).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let proto = info.get().proto.as_ref().map(|p| p.bind(slf.py()).clone()).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    Ok((info, proto))
}

fn elem_code(proto: &Bound<'_, PyAny>) -> Option<u8> {
    stginfo_of_type(proto).and_then(|i| i.get().simple_kind().map(|(k, _)| k.code))
}

/// A subscript as CPython's arrays and pointers read it (`PyNumber_AsSsize_t(item,
/// PyExc_IndexError)` behind `PyIndex_Check`): `None` for an object without `__index__`
/// (a slice, or a `TypeError` for the caller to word), else its value, or `IndexError`
/// ("cannot fit 'int' into an index-sized integer") beyond `isize`. Found by
/// fuzz/python/convert_fuzz.py: `a[2**70] = v` raised `TypeError`, `p[2**70]`
/// `OverflowError`, where ctypes raises `IndexError`.
pub(crate) fn ssize_index(index: &Bound<'_, PyAny>) -> PyResult<Option<isize>> {
    // SAFETY: `index` is a live object; PyIndex_Check only reads its type's slots.
    if unsafe { pyo3::ffi::PyIndex_Check(index.as_ptr()) } == 0 {
        return Ok(None);
    }
    // SAFETY: as above; the exception type is a live static. It returns -1 with an
    // exception set on failure (and -1 without one for the index -1).
    let i = unsafe { pyo3::ffi::PyNumber_AsSsize_t(index.as_ptr(), pyo3::ffi::PyExc_IndexError) };
    if i == -1 {
        if let Some(err) = PyErr::take(index.py()) {
            return Err(err);
        }
    }
    Ok(Some(i))
}

fn normalize_index(i: isize, len: usize) -> PyResult<usize> {
    let j = if i < 0 { i + len as isize } else { i };
    if j < 0 || j >= len as isize {
        return Err(PyIndexError::new_err("invalid index"));
    }
    Ok(j as usize)
}

/// A list of `n` scalar values read `step` elements apart from element `start`.
#[allow(clippy::too_many_arguments)]
fn scalar_list(
    py: Python<'_>,
    kind: &'static ferrotypes_core::simple::SimpleKind,
    swapped: bool,
    base_ptr: *mut u8,
    start: isize,
    step: isize,
    esize: isize,
    n: usize,
) -> PyResult<Py<PyAny>> {
    // SAFETY: PyList_New returns a new list of `n` NULL slots, or NULL with an exception.
    let list = unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyList_New(n as pyo3::ffi::Py_ssize_t))? };
    use ferrotypes_core::simple::ValueClass;
    let at = |k: usize| base_ptr.wrapping_offset((start + k as isize * step) * esize);
    let put = |k: usize, value: *mut pyo3::ffi::PyObject| -> PyResult<()> {
        if value.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: `k < n` indexes an empty slot of the new list, which takes the reference.
        unsafe { pyo3::ffi::PyList_SET_ITEM(list.as_ptr(), k as pyo3::ffi::Py_ssize_t, value) };
        Ok(())
    };
    // Integers, the common case, convert in a loop specialised for their width.
    let native_int = !swapped && matches!(kind.class, ValueClass::Signed | ValueClass::Unsigned);
    for k in 0..n {
        // SAFETY: (every read) indices are within the owner's memory (checked by the caller),
        // which stays alive for this call; reads are unaligned-safe.
        unsafe {
            if native_int {
                let v = simple::read_int(kind, false, at(k));
                put(k, if kind.class == ValueClass::Signed {
                    pyo3::ffi::PyLong_FromLongLong(v as i64)
                } else {
                    pyo3::ffi::PyLong_FromUnsignedLongLong(v as u64)
                })?;
            } else {
                put(k, simple::get_value(py, kind, swapped, at(k))?.into_ptr())?;
            }
        }
    }
    Ok(list.unbind())
}

/// Slices `len` elements of `elem` starting at `base_ptr` (arrays and pointers share this).
fn slice_elements(py: Python<'_>, owner: &Bound<'_, PyAny>, elem: &Bound<'_, PyAny>, base_ptr: *mut u8, start: isize, step: isize, n: usize) -> PyResult<Py<PyAny>> {
    let esize = roots::type_size(elem)? as isize;
    match elem_code(elem) {
        Some(b'c') if !simple::is_simple_subclass(elem) => {
            let mut out = Vec::with_capacity(n);
            for k in 0..n as isize {
                // SAFETY: indices are within the owner's memory (checked by the caller).
                out.push(unsafe { *base_ptr.offset(start + k * step) });
            }
            Ok(PyBytes::new(py, &out).into_any().unbind())
        }
        Some(b'u') if !simple::is_simple_subclass(elem) => {
            let mut out: Vec<libc::wchar_t> = Vec::with_capacity(n);
            for k in 0..n as isize {
                // SAFETY: as above; wchar_t elements are esize bytes apart.
                out.push(unsafe { std::ptr::read_unaligned(base_ptr.offset((start + k * step) * esize) as *const libc::wchar_t) });
            }
            // SAFETY: `out` holds `n` wide characters.
            unsafe { simple::str_from_wchars(py, out.as_ptr(), n) }
        }
        _ => {
            let info = stginfo_of_type(elem).ok_or_else(|| PyTypeError::new_err("this type has no size"))?;
            if let Some((kind, swapped)) = info.get().simple_kind().filter(|_| !simple::is_simple_subclass(elem)) {
                // Plain scalars: the element type is looked at once, the list built in place.
                return scalar_list(py, kind, swapped, base_ptr, start, step, esize, n);
            }
            let list = PyList::empty(py);
            for k in 0..n as isize {
                let idx = start + k * step;
                // SAFETY: as above.
                let p = unsafe { base_ptr.offset(idx * esize) };
                list.append(get_item_at(py, elem, p, owner, idx)?)?;
            }
            Ok(list.into_any().unbind())
        }
    }
}

/// `ptr[a:b:c]` — pointers have no length, so the slice must give its stop.
pub fn pointer_slice(slf: &Bound<'_, PyAny>, sl: &Bound<'_, PySlice>) -> PyResult<Py<PyAny>> {
    let py = slf.py();
    let start = sl.getattr(pyo3::intern!(sl.py(), "start"))?;
    let stop = sl.getattr(pyo3::intern!(sl.py(), "stop"))?;
    let step = sl.getattr(pyo3::intern!(sl.py(), "step"))?;
    let step: isize = if step.is_none() { 1 } else { step.extract()? };
    if step == 0 {
        return Err(PyValueError::new_err("slice step cannot be zero"));
    }
    let start: isize = if start.is_none() {
        if step > 0 { 0 } else { return Err(PyValueError::new_err("slice start is required for step < 0")) }
    } else {
        start.extract()?
    };
    if stop.is_none() {
        return Err(PyValueError::new_err("slice stop is required"));
    }
    let stop: isize = stop.extract()?;
    let n = if (step > 0 && start < stop) || (step < 0 && start > stop) {
        ((stop - start).abs() - 1) / step.abs() + 1
    } else {
        0
    } as usize;
    let info = stginfo_of_instance(slf).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let elem = info.get().proto.as_ref().map(|p| p.bind(py).clone()).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let cd = slf.cast::<CData>()?;
    // SAFETY: a pointer instance holds one pointer.
    let base = unsafe { simple::read_ptr(cd.get().ptr()) } as *mut u8;
    if base.is_null() && n > 0 {
        return Err(PyValueError::new_err("NULL pointer access"));
    }
    slice_elements(py, slf, &elem, base, start, step, n)
}

/// `arr[j] = value` for an in-range index: plain scalars convert straight into the
/// element (no lookup of the element type), the rest follow `assign`'s rules.
/// `Array.__init__`: the arguments are the first elements, in order.
pub fn array_init(slf: &Bound<'_, Array>, args: &[Bound<'_, PyAny>]) -> PyResult<()> {
    let len = slf.as_super().get().length();
    for (i, v) in args.iter().enumerate() {
        if i >= len {
            return Err(PyIndexError::new_err("invalid index"));
        }
        store_item(slf, i, v)?;
    }
    Ok(())
}

fn store_item(slf: &Bound<'_, Array>, j: usize, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let cd = slf.as_super().get();
    let info = stginfo_of_instance(slf.as_any()).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    if let Some(ItemInfo { size, simple: Some((kind, swapped)), .. }) = info.get().item {
        if value.cast::<CData>().is_err() {
            // SAFETY: `j < len`: the element lies inside the array's memory.
            let keep = unsafe { simple::set_value(kind, swapped, cd.ptr().add(j * size), value)? };
            return cdata::keep_ref(slf.as_super(), j as isize, keep);
        }
    }
    let elem = info.get().proto.as_ref().map(|p| p.bind(slf.py()).clone()).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let esize = roots::type_size(&elem)?;
    // SAFETY: `j < len`.
    let p = unsafe { cd.ptr().add(j * esize) };
    set_item_at(slf.as_super(), &elem, p, j as isize, value)
}

#[pymethods]
impl Array {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn __new__(cls: &Bound<'_, PyType>, _args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<PyClassInitializer<Array>> {
        let cdata = CData::for_new_instance(cls, |_| Ok(()))?;
        Ok(PyClassInitializer::from(cdata).add_subclass(Array))
    }

    #[pyo3(signature = (*args, **_kwargs))]
    fn __init__(slf: &Bound<'_, Self>, args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        let items: smallvec::SmallVec<[Bound<'_, PyAny>; 8]> = args.iter().collect();
        array_init(slf, &items)
    }

    fn __len__(slf: &Bound<'_, Self>) -> usize {
        slf.as_super().get().length()
    }

    fn __getitem__(slf: &Bound<'_, Self>, index: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let cd = slf.as_super().get();
        let len = cd.length();
        let index_value = ssize_index(index)?;
        // Fast path: an integer index into an array of plain scalars.
        if let Some(i) = index_value {
            let info = stginfo_of_instance(slf.as_any()).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
            if let Some(ItemInfo { size, simple: Some((kind, swapped)), .. }) = info.get().item {
                let j = normalize_index(i, len)?;
                // SAFETY: `j < len`: the element lies inside the array's memory.
                return unsafe { simple::get_value(py, kind, swapped, cd.ptr().add(j * size)) };
            }
        }
        let (_, elem) = array_info(slf.as_any())?;
        if let Ok(sl) = index.cast::<PySlice>() {
            let ind = sl.indices(len as isize)?;
            return slice_elements(py, slf.as_any(), &elem, cd.ptr(), ind.start, ind.step, ind.slicelength);
        }
        let i = index_value.ok_or_else(|| PyTypeError::new_err("indices must be integers"))?;
        let j = normalize_index(i, len)?;
        let esize = roots::type_size(&elem)?;
        // SAFETY: `j < len`, so the element lies inside the array's memory.
        let p = unsafe { cd.ptr().add(j * esize) };
        get_item_at(py, &elem, p, slf.as_any(), j as isize)
    }

    fn __delitem__(_slf: &Bound<'_, Self>, _index: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyTypeError::new_err("Array does not support item deletion"))
    }

    fn __setitem__(slf: &Bound<'_, Self>, index: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (_, elem) = array_info(slf.as_any())?;
        let cd = slf.as_super().get();
        let len = cd.length();
        let esize = roots::type_size(&elem)?;
        if let Ok(sl) = index.cast::<PySlice>() {
            let ind = sl.indices(len as isize)?;
            let n = value.len()?;
            if n != ind.slicelength {
                return Err(PyValueError::new_err("Can only assign sequence of same size"));
            }
            for (k, item) in value.try_iter()?.enumerate() {
                let idx = ind.start + k as isize * ind.step;
                // SAFETY: slice indices are clamped to the array.
                let p = unsafe { cd.ptr().offset(idx * esize as isize) };
                set_item_at(slf.as_super(), &elem, p, idx, &item?)?;
            }
            return Ok(());
        }
        let i = ssize_index(index)?.ok_or_else(|| PyTypeError::new_err("indices must be integers"))?;
        let j = normalize_index(i, len)?;
        let _ = (elem, esize);
        store_item(slf, j, value)
    }

    #[getter]
    fn get_value(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let (_, elem) = array_info(slf.as_any())?;
        let cd = slf.as_super().get();
        match elem_code(&elem) {
            Some(b'c') => {
                // SAFETY: reading the array's own bytes.
                let bytes = unsafe { cd.bytes() };
                let n = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                Ok(PyBytes::new(py, &bytes[..n]).into_any().unbind())
            }
            Some(b'u') => {
                let len = cd.length();
                let w = cd.ptr() as *const libc::wchar_t;
                // SAFETY: the array holds `len` wide characters.
                let n = (0..len).position(|k| unsafe { *w.add(k) } == 0).unwrap_or(len);
                // SAFETY: `n <= len` characters are readable.
                unsafe { simple::str_from_wchars(py, w, n) }
            }
            _ => Err(pyo3::exceptions::PyAttributeError::new_err("'value' attribute only exists for char and wchar arrays")),
        }
    }

    #[deleter]
    fn delete_value(_slf: &Bound<'_, Self>) -> PyResult<()> {
        Err(PyTypeError::new_err("can't delete attribute"))
    }

    #[deleter]
    fn delete_raw(_slf: &Bound<'_, Self>) -> PyResult<()> {
        Err(pyo3::exceptions::PyAttributeError::new_err("cannot delete attribute"))
    }

    #[setter]
    fn set_value(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (_, elem) = array_info(slf.as_any())?;
        let cd = slf.as_super().get();
        match elem_code(&elem) {
            Some(b'c') => {
                let b = value.cast::<PyBytes>().map_err(|_| {
                    PyTypeError::new_err(format!("bytes expected instead of {} instance", type_name(value)))
                })?;
                let data = b.as_bytes();
                if data.len() > cd.size() {
                    return Err(PyValueError::new_err("byte string too long"));
                }
                // SAFETY: `data.len() <= size`; the terminator is written only if it fits.
                unsafe {
                    std::ptr::copy_nonoverlapping(data.as_ptr(), cd.ptr(), data.len());
                    if data.len() < cd.size() {
                        *cd.ptr().add(data.len()) = 0;
                    }
                }
                Ok(())
            }
            Some(b'u') => {
                let s = value.cast::<PyString>().map_err(|_| {
                    PyTypeError::new_err(format!("unicode string expected instead of {} instance", type_name(value)))
                })?;
                let buf = simple::wchar_buffer(s)?;
                let units = buf.as_bytes();
                let wsize = std::mem::size_of::<libc::wchar_t>();
                let nchars = units.len() / wsize - 1;
                if nchars > cd.length() {
                    return Err(PyValueError::new_err("string too long"));
                }
                let n = if nchars < cd.length() { units.len() } else { units.len() - wsize };
                // SAFETY: `n` bytes fit in the array (checked above).
                unsafe { std::ptr::copy_nonoverlapping(units.as_ptr(), cd.ptr(), n) };
                Ok(())
            }
            _ => Err(pyo3::exceptions::PyAttributeError::new_err("'value' attribute only exists for char and wchar arrays")),
        }
    }

    #[getter]
    fn get_raw(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let (_, elem) = array_info(slf.as_any())?;
        if elem_code(&elem) != Some(b'c') {
            return Err(pyo3::exceptions::PyAttributeError::new_err("'raw' attribute only exists for char arrays"));
        }
        // SAFETY: reading the array's own bytes.
        Ok(PyBytes::new(slf.py(), unsafe { slf.as_super().get().bytes() }).into_any().unbind())
    }

    #[setter]
    fn set_raw(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let buf = pyo3::buffer::PyBuffer::<u8>::get(value)?;
        let cd = slf.as_super().get();
        if buf.len_bytes() > cd.size() {
            return Err(PyValueError::new_err("byte string too long"));
        }
        let data = buf.to_vec(slf.py())?;
        // SAFETY: `data.len() <= size`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), cd.ptr(), data.len()) };
        Ok(())
    }
}

/// Validates `_type_`/`_length_` of a new array class and builds its storage info.
pub fn array_type_info(cls: &Bound<'_, PyType>) -> PyResult<StgInfo> {
    let py = cls.py();
    let length = cls.getattr(pyo3::intern!(cls.py(), "_length_")).map_err(|_| pyo3::exceptions::PyAttributeError::new_err("class must define a '_length_' attribute"))?;
    if !length.is_instance_of::<pyo3::types::PyInt>() {
        return Err(PyTypeError::new_err("The '_length_' attribute must be an integer"));
    }
    if length.lt(0)? {
        return Err(PyValueError::new_err("The '_length_' attribute must not be negative"));
    }
    let length: isize = length.extract().map_err(|_| PyOverflowError::new_err("The '_length_' attribute is too large"))?;
    let proto = cls.getattr(pyo3::intern!(cls.py(), "_type_")).map_err(|_| pyo3::exceptions::PyAttributeError::new_err("class must define a '_type_' attribute"))?;
    let item = stginfo_of_type(&proto).ok_or_else(|| PyTypeError::new_err("_type_ must have storage info"))?;
    let it = item.get();
    let length = length as usize;
    let size = it.size.checked_mul(length).filter(|s| *s <= isize::MAX as usize).ok_or_else(|| PyOverflowError::new_err("array too large"))?;
    it.mark_final();
    // On x86-64 System V, a small array inside an aggregate passed by value is classified as
    // GCC does (its first element's alignment checked only).
    let sysv = if cfg!(all(target_arch = "x86_64", not(windows))) { FfiType::sysv_array(&it.ffi, it.size, length, it.align) } else { None };
    let ffi = sysv.unwrap_or_else(|| {
        let elements = vec![it.ffi.clone(); length.min(4096)];
        FfiType::aggregate(size, it.align, if length == 0 { vec![] } else { elements })
    });
    let mut info = StgInfo::new(size, it.align, length, Kind::Array, ffi, &it.format.to_string_lossy());
    let mut shape = vec![length as isize];
    shape.extend_from_slice(&it.shape);
    info.shape = shape;
    info.itemsize = if it.shape.is_empty() { it.size } else { it.itemsize };
    info.type_flags = it.type_flags & (flags::HASPOINTER | flags::ISPOINTER | flags::HASUNION | flags::HASBITFIELD);
    if it.type_flags & flags::ISPOINTER != 0 {
        info.type_flags |= flags::HASPOINTER;
    }
    info.type_flags &= !flags::ISPOINTER;
    let plain_value = !simple::is_simple_subclass(&proto);
    info.item = Some(ItemInfo::new(it.size, it.simple_kind().filter(|_| plain_value)));
    info.proto = Some(proto.unbind());
    let _ = py;
    Ok(info)
}

/// `cls * n` and `n * cls` for classes of our metaclasses: the multiply slot of their
/// common base `_CDataType` (the one instantiation of the slot function, compared by
/// address).
pub fn multiply_slot() -> pyo3::ffi::binaryfunc {
    pyo3::impl_::trampoline::get_trampoline_function!(binaryfunc, metaclass_multiply)
}

/// # Safety
/// Called by the interpreter as a multiply slot (two live operands, GIL held).
unsafe fn metaclass_multiply(py: Python<'_>, a: *mut pyo3::ffi::PyObject, b: *mut pyo3::ffi::PyObject) -> PyResult<*mut pyo3::ffi::PyObject> {
    use pyo3::ffi;
    // SAFETY: `a` and `b` are live borrowed references for the call.
    let (a, b) = unsafe { (Bound::from_borrowed_ptr(py, a), Bound::from_borrowed_ptr(py, b)) };
    // `seq * cls`: the left operand's own repetition comes first, as for CPython's
    // sequence-repeat slot (so `"x" * c_int` fails in str, naming the class's type).
    // SAFETY: reading the sequence slots of a live object's type.
    let left_repeats = unsafe {
        let s = (*ffi::Py_TYPE(a.as_ptr())).tp_as_sequence;
        !s.is_null() && (*s).sq_repeat.is_some()
    };
    let (cls, length) = if is_array_element_class(&a) { (a, b) } else if is_array_element_class(&b) && !left_repeats { (b, a) } else {
        // SAFETY: returning a new reference to NotImplemented.
        return Ok(unsafe { ffi::Py_NewRef(ffi::Py_NotImplemented()) });
    };
    Ok(array_type_impl(py, &cls, &length)?.into_ptr())
}

/// A class whose metaclass multiplies through [`metaclass_multiply`].
fn is_array_element_class(o: &Bound<'_, PyAny>) -> bool {
    let slot = multiply_slot();
    // SAFETY: type check and slot read of a live object.
    unsafe {
        let p = o.as_ptr();
        if pyo3::ffi::PyType_Check(p) == 0 {
            return false;
        }
        let n = (*pyo3::ffi::Py_TYPE(p)).tp_as_number;
        !n.is_null() && (*n).nb_multiply.map(|f| f as usize) == Some(slot as usize)
    }
}

/// `T * n`'s types, keyed by (element class, length) and held weakly (see `array_type_impl`).
static ARRAY_TYPE_CACHE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

pub fn array_type_cache(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    Ok(ARRAY_TYPE_CACHE.get_or_init(py, || PyDict::new(py).unbind()).bind(py).clone())
}


fn array_type_impl(py: Python<'_>, cls: &Bound<'_, PyAny>, length: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    // CPython gets here through sequence_repeat, which takes any object with `__index__` as
    // the count (numpy integers, for one: numba's carray does `c_byte * np.int64(n)`). The
    // count is made an exact int before it keys the cache, so `c_int * np.int64(3)` is
    // `c_int * 3`.
    let length = if length.is_instance_of::<pyo3::types::PyInt>() {
        length.clone()
    } else if length.get_type().hasattr(pyo3::intern!(py, "__index__"))? {
        py.import("operator")?.getattr("index")?.call1((length,))?
    } else {
        return Err(PyTypeError::new_err(format!("can't multiply sequence by non-int of type '{}'", type_name(length))));
    };
    let length = &length;
    let n: isize = length.extract()?;
    if n < 0 {
        return Err(PyValueError::new_err(format!("Array length must be >= 0, not {n}")));
    }
    let cache = array_type_cache(py)?;
    let key = PyTuple::new(py, [cls.clone(), length.clone()])?;
    // The cache holds the array type weakly, as CPython's does (`PyDict_SetItemProxy`): a
    // strong value would keep every `T * n` ever made alive for good. The key, like
    // CPython's, holds the element type.
    if let Some(hit) = cache.get_item(&key)? {
        if let Some(alive) = hit.cast::<PyWeakrefReference>()?.upgrade() {
            return Ok(alive.unbind());
        }
    }
    let meta = roots::roots(py).array.bind(py).get_type();
    let ns = PyDict::new(py);
    ns.set_item("_length_", n)?;
    ns.set_item("_type_", cls)?;
    if let Some(m) = caller_module(py) {
        ns.set_item("__module__", m)?;
    }
    let name = format!("{}_Array_{}", class_name(cls), n);
    let t = meta.call1((name, PyTuple::new(py, [roots::roots(py).array.bind(py).clone()])?, ns))?;
    let remover = DictRemover { entry: GilCell::new(Some((cache.clone().unbind(), key.clone().into_any().unbind()))) };
    cache.set_item(key, PyWeakrefReference::new_with(&t, remover)?)?;
    Ok(t.unbind())
}

/// The callback of an array-cache weak reference (CPython's `DictRemover`): when the array
/// type dies, its entry goes, and with it the key's reference to the element type.
#[pyclass(frozen, module = "_ctypes", name = "DictRemover")]
struct DictRemover {
    entry: GilCell<Option<(Py<PyDict>, Py<PyAny>)>>,
}

#[pymethods]
impl DictRemover {
    fn __call__(&self, weakref: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = weakref.py();
        if let Some((dict, key)) = self.entry.replace(None) {
            let (dict, key) = (dict.bind(py), key.bind(py));
            // Only our own entry: the key may since map to a newer array type.
            if dict.get_item(key)?.is_some_and(|current| current.is(weakref)) {
                dict.del_item(key)?;
            }
        }
        Ok(())
    }
}

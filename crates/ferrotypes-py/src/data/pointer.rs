//! `_Pointer` and `POINTER()`: typed pointers to ctypes instances.
use super::caller_module::caller_module;
use super::cdata::{self, CData, RawInit};
use super::roots;
use super::simple;
use super::stginfo::{own_stginfo, stginfo_of_instance, stginfo_of_type, ItemInfo, StgInfo};
use crate::interp::version;
use crate::checked;
use crate::interp::long_layout;
use crate::interp::names::{class_name, type_name};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

#[pyclass(extends = CData, subclass, frozen, module = "_ctypes", name = "_Pointer")]
pub struct Pointer;

/// The `_Pointer` root's PyO3 `mp_subscript`, behind the raw entry.
static SUBSCRIPT: super::raw_subscript::RawSubscript = super::raw_subscript::RawSubscript::new();

/// Remembers the root's own `mp_subscript` (module set-up).
pub fn install_raw_subscript(py: Python<'_>) {
    SUBSCRIPT.remember(py.get_type::<Pointer>().as_type_ptr());
}

/// Gives a new pointer class the raw `mp_subscript` if it inherited the root's.
pub fn enable_raw_subscript(tp: *mut pyo3::ffi::PyTypeObject) {
    SUBSCRIPT.enable(tp, pointer_subscript);
}

/// `p[i]` for an exact `int` index into a non-NULL pointer to native scalars (the
/// comparator of a `qsort` reads `a[0]`): the target type's raw getter on element `i`, as
/// CPython's `Pointer_item` calls its getfunc. Every other case (slices, NULL, checked
/// mode, other targets) goes to PyO3's `__getitem__`, which raises or builds objects.
unsafe extern "C" fn pointer_subscript(obj: *mut pyo3::ffi::PyObject, key: *mut pyo3::ffi::PyObject) -> *mut pyo3::ffi::PyObject {
    use pyo3::ffi;
    // SAFETY: CPython calls mp_subscript with the GIL held and `obj` (an instance of a
    // class that got this slot, so a pointer) and `key` live and borrowed for the call. The
    // storage info is borrowed from the type, which `obj` keeps alive, and no Python code
    // runs while it is used. As for any ctypes pointer, the user vouches that element `i`
    // of the pointee is readable; the raw getter reads one value of its kind and returns a
    // new reference or NULL with an exception set.
    unsafe {
        if ffi::PyLong_CheckExact(key) != 0 && !checked::enabled() {
            // `None`: too big, the general path raises the right error.
            if let Some(i) = long_layout::exact_index(key) {
                let py = Python::assume_attached();
                if let Some(info) = super::stginfo::stginfo_borrowed(py, ffi::Py_TYPE(obj)) {
                    if let Some(ItemInfo { size, raw_get: Some(get), .. }) = info.item {
                        // Only pointer classes get this slot, and a heap type's slot is
                        // called only on its instances: `obj` is a `_Pointer` instance.
                        let c = pyo3::Borrowed::from_ptr(py, obj).cast_unchecked::<CData>();
                        let addr = simple::read_ptr(c.get().ptr());
                        if addr != 0 {
                            return get((addr as isize).wrapping_add(i.wrapping_mul(size as isize)) as *mut u8);
                        }
                    }
                }
            }
        }
        SUBSCRIPT.general(obj, key)
    }
}

fn target_type<'py>(slf: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    stginfo_of_instance(slf)
        .and_then(|i| i.get().proto.as_ref().map(|p| p.bind(slf.py()).clone()))
        .ok_or_else(|| PyTypeError::new_err("Cannot create instance: has no _type_"))
}

fn pointee_address(slf: &Bound<'_, Pointer>) -> usize {
    // SAFETY: pointer instances hold one pointer.
    unsafe { simple::read_ptr(slf.as_super().get().ptr()) }
}

/// The target type and the address of element `i` (`p[i]`), refusing a NULL pointer.
fn element_address<'py>(slf: &Bound<'py, Pointer>, i: isize) -> PyResult<(Bound<'py, PyAny>, *mut u8)> {
    let addr = pointee_address(slf);
    if addr == 0 {
        return Err(PyValueError::new_err("NULL pointer access"));
    }
    let target = target_type(slf.as_any())?;
    let size = roots::type_size(&target)? as isize;
    Ok((target, (addr as isize).wrapping_add(i.wrapping_mul(size)) as *mut u8))
}

/// Stores `value` (an instance of the target type) as the pointee, keeping it alive.
pub fn set_contents(slf: &Bound<'_, Pointer>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = slf.py();
    let target = target_type(slf.as_any())?;
    // As CPython 3.11: any ctypes instance is accepted (a pointer may be aimed at memory of
    // another type, e.g. POINTER(c_char)(buffer)); only other objects are type-checked.
    let Ok(cd) = value.cast::<CData>() else {
        return Err(PyTypeError::new_err(format!(
            "expected {} instead of {}",
            class_name(&target),
            type_name(value)
        )));
    };
    // SAFETY: the pointer instance owns (or borrows) room for one pointer.
    unsafe { simple::write_ptr(slf.as_super().get().ptr(), cd.get().ptr() as usize) };
    // Keep the pointee (slot 1) and what it keeps (slot 0), as CPython does.
    cdata::keep_ref(slf.as_super(), 1, Some(value.clone().unbind()))?;
    let objs = cdata::keeped_objects_pub(cd)?;
    cdata::keep_ref(slf.as_super(), 0, objs.map(Bound::unbind))?;
    let _ = py;
    Ok(())
}

#[pymethods]
impl Pointer {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn __new__(cls: &Bound<'_, PyType>, _args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<PyClassInitializer<Pointer>> {
        let cdata = CData::for_new_instance(cls, |i| match i.proto {
            Some(_) => Ok(()),
            None => Err(PyTypeError::new_err("Cannot create instance: has no _type_")),
        })?;
        Ok(PyClassInitializer::from(cdata).add_subclass(Pointer))
    }

    #[pyo3(signature = (*args, **_kwargs))]
    fn __init__(slf: &Bound<'_, Self>, args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        if let Ok(v) = args.get_item(0) {
            set_contents(slf, &v)?;
        }
        Ok(())
    }

    #[getter]
    fn get_contents(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let addr = pointee_address(slf);
        if addr == 0 {
            return Err(PyValueError::new_err("NULL pointer access"));
        }
        let target = target_type(slf.as_any())?;
        let size = roots::type_size(&target)?;
        if checked::enabled() {
            checked::check_readable(addr, size)?;
        }
        let length = stginfo_of_type(&target).map_or(0, |i| i.get().length);
        let init = RawInit::Borrowed { ptr: addr as *mut u8, size, length, base: Some(slf.clone().into_any().unbind()), index: 0 };
        Ok(roots::instantiate(&target, init)?.unbind())
    }

    #[setter(contents)]
    fn set_contents_attr(slf: &Bound<'_, Self>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        set_contents(slf, value)
    }

    #[deleter(contents)]
    fn delete_contents(_slf: &Bound<'_, Self>) -> PyResult<()> {
        Err(PyTypeError::new_err("Pointer does not support item deletion"))
    }

    fn __bool__(slf: &Bound<'_, Self>) -> bool {
        pointee_address(slf) != 0
    }

    fn __getitem__(slf: &Bound<'_, Self>, index: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if let Ok(sl) = index.cast::<pyo3::types::PySlice>() {
            return super::array::pointer_slice(slf.as_any(), sl);
        }
        let i = super::array::ssize_index(index)?.ok_or_else(|| PyTypeError::new_err("Pointer indices must be integer"))?;
        // Fast path: a pointer to plain scalars reads the value directly.
        if let Some(info) = stginfo_of_instance(slf.as_any()) {
            if let Some(ItemInfo { size, simple: Some((kind, swapped)), .. }) = info.get().item {
                let addr = pointee_address(slf);
                if addr == 0 {
                    return Err(PyValueError::new_err("NULL pointer access"));
                }
                let p = (addr as isize).wrapping_add(i.wrapping_mul(size as isize)) as *const u8;
                if checked::enabled() {
                    checked::check_readable(p as usize, size)?;
                }
                // SAFETY: as for any ctypes pointer, the user vouches that element `i` of
                // the pointee is readable.
                return unsafe { simple::get_value(py, kind, swapped, p) };
            }
        }
        let (target, p) = element_address(slf, i)?;
        if checked::enabled() {
            check_instance(&target, p as usize, false)?;
        }
        super::array::get_item_at(py, &target, p, slf.as_any(), i)
    }

    fn __setitem__(slf: &Bound<'_, Self>, index: isize, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (target, p) = element_address(slf, index)?;
        if checked::enabled() {
            check_instance(&target, p as usize, true)?;
        }
        super::array::set_item_at(slf.as_super(), &target, p, index, value)
    }

    fn __delitem__(_slf: &Bound<'_, Self>, _index: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyTypeError::new_err("Pointer does not support item deletion"))
    }
}

/// Gives the pointer class `cls` its storage info for target `proto` (None: incomplete),
/// keeping the class's own `__pointer_type__`; from 3.14, `proto`'s `__pointer_type__`
/// becomes `cls` if it has none yet. What the metaclass does for a new pointer class and
/// what `set_type` does.
fn install_target(cls: &Bound<'_, PyType>, proto: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    let py = cls.py();
    let modern = version::at_least(py, 14);
    if let Some(p) = proto {
        if modern && p.cast::<PyType>().is_err() {
            return Err(PyTypeError::new_err("_type_ must be a type"));
        }
        if stginfo_of_type(p).is_none() {
            return Err(PyTypeError::new_err(if modern {
                format!("{} must have storage info", p.repr()?)
            } else {
                "_type_ must have storage info".to_owned()
            }));
        }
    }
    let info = StgInfo::pointer(py, proto.cloned())?;
    if let Some(old) = own_stginfo(cls.as_any()) {
        drop(info.pointer_type.replace(old.get().pointer_type.get_ref(py)));
    }
    super::stginfo::store(cls, info)?;
    if modern {
        if let Some(target) = proto.and_then(own_stginfo) {
            if !target.get().pointer_type.is_some() {
                drop(target.get().pointer_type.replace(Some(cls.clone().into_any().unbind())));
            }
        }
    }
    Ok(())
}

/// The metaclass's set-up of a new `_Pointer` subclass (`_type_` from its namespace).
pub fn pointer_setup(cls: &Bound<'_, PyType>, proto: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    install_target(cls, proto.filter(|p| !p.is_none()))
}

/// `PyCPointerType.set_type(cls, type_)`: completes (or retargets) a pointer class.
pub fn pointer_set_type(cls: &Bound<'_, PyType>, type_: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = cls.py();
    if !version::at_least(py, 14) && stginfo_of_type(type_).is_none() {
        return Err(PyTypeError::new_err("_type_ must have storage info"));
    }
    install_target(cls, Some(type_))?;
    crate::interp::descriptors::type_setattr(cls, pyo3::intern!(py, "_type_"), type_)?;
    Ok(())
}

/// The storage info `__pointer_type__` lives in: the class's own (3.14+).
fn pointer_type_owner<'py>(cls: &Bound<'py, PyAny>) -> PyResult<Bound<'py, StgInfo>> {
    own_stginfo(cls).ok_or_else(|| match cls.repr() {
        Ok(r) => PyTypeError::new_err(format!("{r} must have storage info")),
        Err(e) => e,
    })
}

/// `cls.__pointer_type__` (3.14; on every version here): the pointer type `POINTER(cls)`
/// returns. Before 3.14 `POINTER` keeps its types in `_pointer_type_cache`, which this
/// reads, so both stay one truth.
#[pyfunction]
pub fn pointer_type_get(cls: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let py = cls.py();
    let missing = || match cls.repr() {
        Ok(r) => pyo3::exceptions::PyAttributeError::new_err(format!("{r} has no attribute '__pointer_type__'")),
        Err(e) => e,
    };
    if !version::at_least(py, 14) {
        return pointer_type_cache(py)?.get_item(cls)?.map(Bound::unbind).ok_or_else(missing);
    }
    pointer_type_owner(cls)?.get().pointer_type.get_ref(py).ok_or_else(missing)
}

/// `cls.__pointer_type__ = value` (before 3.14: `_pointer_type_cache[cls] = value`).
#[pyfunction]
pub fn pointer_type_set(cls: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if !version::at_least(cls.py(), 14) {
        return pointer_type_cache(cls.py())?.set_item(cls, value);
    }
    drop(pointer_type_owner(cls)?.get().pointer_type.replace(Some(value.clone().unbind())));
    Ok(())
}

/// `del cls.__pointer_type__` (before 3.14: `del _pointer_type_cache[cls]`).
#[pyfunction]
pub fn pointer_type_del(cls: &Bound<'_, PyAny>) -> PyResult<()> {
    if !version::at_least(cls.py(), 14) {
        let cache = pointer_type_cache(cls.py())?;
        if !cache.contains(cls)? {
            return Err(pyo3::exceptions::PyAttributeError::new_err("__pointer_type__"));
        }
        return cache.del_item(cls);
    }
    drop(pointer_type_owner(cls)?.get().pointer_type.replace(None));
    Ok(())
}

/// `_pointer_type_cache`: `POINTER()`'s types by target class (or by id for a name).
static POINTER_TYPE_CACHE: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

pub fn pointer_type_cache(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    Ok(POINTER_TYPE_CACHE.get_or_init(py, || PyDict::new(py).unbind()).bind(py).clone())
}


/// `POINTER(cls)`: the cached pointer type for `cls` (or an incomplete one for a name).
#[pyfunction(name = "POINTER")]
pub fn pointer_type(py: Python<'_>, cls: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    if version::behaves_as(py, 14) && cls.is_instance_of::<PyString>() {
        // 3.14 deprecates incomplete pointer types made from a name (opted in to here; from
        // 3.14 `POINTER` is the package's).
        let category = py.get_type::<pyo3::exceptions::PyDeprecationWarning>();
        PyErr::warn(py, &category, c"'ctypes.POINTER with string' is deprecated and slated for removal in Python 3.19", 1)?;
    }
    let cache = pointer_type_cache(py)?;
    if let Some(hit) = cache.get_item(cls)? {
        return Ok(hit.unbind());
    }
    let meta = roots::roots(py).pointer.bind(py).get_type();
    let base = roots::roots(py).pointer.bind(py).clone();
    let module = caller_module(py);
    let (result, key): (Bound<'_, PyAny>, Bound<'_, PyAny>) = if let Ok(name) = cls.cast::<PyString>() {
        let ns = PyDict::new(py);
        if let Some(m) = &module {
            ns.set_item("__module__", m)?;
        }
        let t = meta.call1((format!("LP_{}", name.to_str()?), PyTuple::new(py, [base])?, ns))?;
        let key = (t.as_ptr() as usize).into_pyobject(py)?.into_any();
        (t, key)
    } else if cls.cast::<PyType>().is_ok() {
        let ns = PyDict::new(py);
        ns.set_item("_type_", cls)?;
        if let Some(m) = &module {
            ns.set_item("__module__", m)?;
        }
        let name = format!("LP_{}", class_name(cls));
        (meta.call1((name, PyTuple::new(py, [base])?, ns))?, cls.clone())
    } else {
        return Err(PyTypeError::new_err("must be a ctypes type"));
    };
    cache.set_item(key, &result)?;
    Ok(result.unbind())
}

/// `pointer(obj)`: a new pointer instance to `obj`.
#[pyfunction]
pub fn pointer(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let t = pointer_type(py, obj.get_type().as_any())?;
    Ok(t.bind(py).call1((obj,))?.unbind())
}

/// Checked mode's probe of an instance of `cls` at `addr` (the type's size, read or
/// written), before a pointer reads or writes a non-scalar element.
#[cold]
#[inline(never)]
fn check_instance(cls: &Bound<'_, PyAny>, addr: usize, write: bool) -> PyResult<()> {
    let size = stginfo_of_type(cls).map_or(0, |i| i.get().size);
    if write {
        checked::check_writable(addr, size)
    } else {
        checked::check_readable(addr, size)
    }
}

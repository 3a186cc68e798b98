//! `Structure` and `Union`: aggregates laid out by `ferrotypes_core::layout`.
//!
//! How a `_fields_` assignment becomes a type (CPython's `stgdict.c`):
//!
//! 1. validate the options (`_pack_`, `_align_`, `_layout_`, `_swappedbytes_`) and every
//!    `(name, type[, bits])` entry, marking each member type final;
//! 2. ask the layout engine where every member goes, inherited members first;
//! 3. build the new `StgInfo`: size, alignment, PEP 3118 format, flags, and the libffi
//!    element list used to pass the aggregate by value;
//! 4. install one [`CField`] descriptor per member, then promote the members of
//!    `_anonymous_` members.
use super::cdata::CData;
use super::cfield::{Access, CField};
use super::stginfo::{flags, namespace_item, stginfo_of_type, store, Kind, StgInfo, STGINFO_KEY};
use crate::interp::names::class_name;
use crate::interp::private_api::type_lookup;
use crate::interp::GilCell;
use crate::native::core_error::core_err;
use ferrotypes_core::ffi_type::{ByValueMember, FfiType};
use ferrotypes_core::layout::{FieldLayout, FieldRequest, LayoutKind, LayoutRequest, StructLayout};
use ferrotypes_core::simple::{SimpleKind, ValueClass};
use pyo3::exceptions::{PyAttributeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyString, PyTuple, PyType};
use std::sync::atomic::AtomicBool;

#[pyclass(extends = CData, subclass, frozen, module = "_ctypes", name = "Structure")]
pub struct Structure;

#[pyclass(extends = CData, subclass, frozen, module = "_ctypes", name = "Union")]
pub struct Union;


/// An attribute of the class's own `__dict__` (not inherited).
fn own_attr<'py>(cls: &Bound<'py, PyAny>, name: &Bound<'py, PyString>) -> PyResult<Option<Bound<'py, PyAny>>> {
    let ty = cls.cast::<PyType>()?;
    // SAFETY: reading tp_dict of a live (ready) type object; the dict is borrowed from the
    // type, and we take our own reference before any Python code runs.
    let dict = unsafe { (*ty.as_type_ptr()).tp_dict };
    if dict.is_null() {
        return Ok(None);
    }
    // SAFETY: `dict` is the type's live namespace dict (see above).
    let dict = unsafe { Bound::from_borrowed_ptr(cls.py(), dict) }.cast_into::<PyDict>()?;
    dict.get_item(name)
}

/// The names positional initializer arguments go to, base classes' fields first (CPython's
/// `_init_pos_args` walks the same chain on every call; the layout is final once an
/// instance exists, so the walk is done once per class).
fn init_names(ty: &Bound<'_, PyType>, names: &mut Vec<Py<PyString>>) -> PyResult<()> {
    let py = ty.py();
    // SAFETY: reading tp_base of a live type object.
    let base = unsafe { (*ty.as_type_ptr()).tp_base };
    if !base.is_null() {
        // SAFETY: `base` is a live type object borrowed from `ty`.
        let base = unsafe { Bound::from_borrowed_ptr(py, base.cast()) }.cast_into::<PyType>()?;
        if stginfo_of_type(base.as_any()).is_some() {
            init_names(&base, names)?;
        }
    }
    let Some(fields) = own_attr(ty.as_any(), pyo3::intern!(py, "_fields_"))? else { return Ok(()) };
    let Some(info) = stginfo_of_type(ty.as_any()) else { return Ok(()) };
    let index = names.len();
    for i in index..info.get().length {
        let pair = match fields.cast::<PyList>() {
            Ok(list) => list.get_item(i - index)?,
            Err(_) => fields.get_item(i - index)?,
        };
        let name = match pair.cast::<PyTuple>() {
            Ok(t) => t.get_item(0)?,
            Err(_) => pair.get_item(0)?,
        };
        names.push(name.cast_into::<PyString>()?.unbind());
    }
    Ok(())
}

/// Fills fields from positional arguments (CPython's `_init_pos_args`). Returns how many
/// positional arguments the fields take.
fn init_pos_args(slf: &Bound<'_, PyAny>, ty: &Bound<'_, PyType>, args: &[Bound<'_, PyAny>], kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<usize> {
    let py = slf.py();
    // The storage-info lookup gives the type a valid version tag if it can have one.
    let info = stginfo_of_type(ty.as_any());
    let tp = ty.as_type_ptr();
    // SAFETY: reading the version tag of a live type object (valid as each version keeps
    // it: up to 3.11 with a flag, from 3.12 nonzero; 3.13 no longer sets the flag).
    let tag = unsafe { crate::interp::type_cache::TypeVersionCache::tag(tp) };
    let cached = match (&info, tag) {
        (Some(info), Some(tag)) => {
            // SAFETY: GIL-serialised read; the tuple is cloned out before Python code runs.
            match unsafe { &*info.get().init_names.as_ptr() } {
                Some((t, v, names)) if *t == tp as usize && *v == tag => Some(names.clone_ref(py)),
                _ => None,
            }
        }
        _ => None,
    };
    let names = match cached {
        Some(names) => names.into_bound(py),
        None => {
            let mut v = Vec::new();
            init_names(ty, &mut v)?;
            let names = PyTuple::new(py, v)?;
            if let (Some(info), Some(tag)) = (&info, tag) {
                drop(info.get().init_names.replace(Some((tp as usize, tag, names.clone().unbind()))));
            }
            names
        }
    };
    for (name, value) in names.iter().zip(args.iter()) {
        let name = name.cast_into::<PyString>()?;
        let name = &name;
        if let Some(kw) = kwargs {
            if kw.contains(name)? {
                return Err(PyTypeError::new_err(format!("duplicate values for field {}", name.repr()?)));
            }
        }
        set_field(slf, name, value)?;
    }
    Ok(names.len())
}

/// `Structure.__init__`/`Union.__init__` (CPython's Struct_init), on the positional
/// arguments as a slice (a class call passes its argument vector, no tuple).
pub fn struct_init(slf: &Bound<'_, PyAny>, args: &[Bound<'_, PyAny>], kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    if !args.is_empty() {
        let used = init_pos_args(slf, &slf.get_type(), args, kwargs)?;
        if used < args.len() {
            return Err(PyTypeError::new_err("too many initializers"));
        }
    }
    if let Some(kw) = kwargs {
        for (k, v) in kw.iter() {
            set_field(slf, k.cast::<PyString>()?, &v)?;
        }
    }
    Ok(())
}

/// `setattr(slf, name, value)` for a structure initializer. When the attribute the type
/// resolves `name` to is one of our field descriptors (a data descriptor, so it wins over
/// the instance dict exactly as in `setattr`), its setter is called directly; anything
/// else (a property of a subclass, a plain attribute) goes through `setattr`.
fn set_field(slf: &Bound<'_, PyAny>, name: &Bound<'_, PyString>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: `slf`'s type is live and `name` a str; the result is borrowed from the type's
    // MRO dicts and used before any Python code runs.
    let found = unsafe { type_lookup(slf.get_type().as_type_ptr(), name.as_ptr()) };
    if !found.is_null() {
        // SAFETY: a live object, borrowed (see above); we take our own reference.
        let attr = unsafe { Bound::from_borrowed_ptr(slf.py(), found) };
        if let Ok(field) = attr.cast::<CField>() {
            return field.get().set_value(slf, value);
        }
    }
    slf.setattr(name, value)
}

#[pymethods]
impl Structure {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn __new__(cls: &Bound<'_, PyType>, _args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<PyClassInitializer<Structure>> {
        Ok(PyClassInitializer::from(CData::for_new_instance(cls, |_| Ok(()))?).add_subclass(Structure))
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __init__(slf: &Bound<'_, Self>, args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        struct_init(slf.as_any(), &args.iter().collect::<Vec<_>>(), kwargs)
    }
}

#[pymethods]
impl Union {
    #[new]
    #[classmethod]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn __new__(cls: &Bound<'_, PyType>, _args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<PyClassInitializer<Union>> {
        Ok(PyClassInitializer::from(CData::for_new_instance(cls, |_| Ok(()))?).add_subclass(Union))
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __init__(slf: &Bound<'_, Self>, args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        struct_init(slf.as_any(), &args.iter().collect::<Vec<_>>(), kwargs)
    }
}

/// The base class's storage info, if the direct base is a complete ctypes aggregate.
fn base_info<'py>(cls: &Bound<'py, PyType>) -> PyResult<Option<Bound<'py, StgInfo>>> {
    let py = cls.py();
    // SAFETY: reading tp_base of a live type object.
    let base = unsafe { (*cls.as_type_ptr()).tp_base };
    if base.is_null() {
        return Ok(None);
    }
    // SAFETY: `base` is a live type object borrowed from `cls`.
    let base = unsafe { Bound::from_borrowed_ptr(py, base.cast()) };
    Ok(stginfo_of_type(&base).filter(|i| matches!(i.get().kind, Kind::Struct | Kind::Union)))
}

/// A subclass starts with a copy of its base's storage info (not final).
fn inherit(py: Python<'_>, base: &StgInfo) -> StgInfo {
    StgInfo {
        size: base.size,
        align: base.align,
        length: base.length,
        kind: base.kind,
        ffi: base.ffi.clone(),
        proto: base.proto.as_ref().map(|p| p.clone_ref(py)),
        format: base.format.clone(),
        shape: base.shape.clone(),
        itemsize: base.itemsize,
        type_flags: base.type_flags,
        item: None,
        func: None,
        final_: AtomicBool::new(false),
        init_names: GilCell::new(None),
        pointer_type: GilCell::new(None),
        bound_methods: super::stginfo::no_bound_methods(),
    }
}

/// `type.__setattr__(cls, name, value)`, bypassing the metaclass's own `__setattr__`.
fn type_setattr(cls: &Bound<'_, PyType>, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = cls.py();
    crate::interp::descriptors::type_setattr(cls, &pyo3::types::PyString::new(py, name), value)
}

/// Called by the metaclass for every new Structure/Union subclass.
pub fn aggregate_init(cls: &Bound<'_, PyType>, is_union: bool, namespace: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = cls.py();
    if namespace_item(namespace, pyo3::intern!(py, "_abstract_"))?.is_some() {
        return Ok(());
    }
    let info = match base_info(cls)? {
        Some(b) => {
            // A subclassed aggregate can no longer change its fields.
            b.get().mark_final();
            inherit(py, b.get())
        }
        None => {
            let kind = if is_union { Kind::Union } else { Kind::Struct };
            StgInfo::new(0, 1, 0, kind, FfiType::aggregate(0, 1, vec![]), "B")
        }
    };
    store(cls, info)?;
    if let Some(fields) = namespace_item(namespace, pyo3::intern!(py, "_fields_"))? {
        // Through the metaclass, so that e.g. `_endian`'s swapping metaclass sees it.
        cls.setattr(pyo3::intern!(cls.py(), "_fields_"), fields)?;
    }
    Ok(())
}

/// An optional non-negative integer class attribute (`_pack_`, `_align_`).
fn non_negative_attr(cls: &Bound<'_, PyType>, name: &Bound<'_, PyString>) -> PyResult<Option<usize>> {
    let Some(v) = cls.getattr_opt(name)? else { return Ok(None) };
    let bad = || PyValueError::new_err(format!("{name} must be a non-negative integer"));
    if !v.is_instance_of::<PyInt>() {
        return Err(bad());
    }
    let n: i32 = v.extract().map_err(|_| bad())?;
    if n < 0 {
        return Err(bad());
    }
    Ok(Some(n as usize))
}

/// One validated `_fields_` entry.
struct Member<'py> {
    name: Bound<'py, PyString>,
    ty: Bound<'py, PyAny>,
    info: Bound<'py, StgInfo>,
    bits: Option<u32>,
}

fn parse_entry<'py>(item: &Bound<'py, PyAny>, index: usize) -> PyResult<Member<'py>> {
    let bad = || PyTypeError::new_err("'_fields_' must be a sequence of (name, C type) pairs");
    let t = item.cast::<PyTuple>().map_err(|_| bad())?;
    if !(2..=3).contains(&t.len()) {
        return Err(bad());
    }
    let name = t.get_item(0)?.cast_into::<PyString>().map_err(|_| bad())?;
    let ty = t.get_item(1)?;
    let bits_obj = if t.len() == 3 { Some(t.get_item(2)?) } else { None };
    let bits: Option<i64> = match &bits_obj {
        Some(b) => Some(b.extract::<i32>().map_err(|_| bad())? as i64),
        None => None,
    };
    let info = stginfo_of_type(&ty)
        .ok_or_else(|| PyTypeError::new_err(format!("second item in _fields_ tuple (index {index}) must be a C type")))?;
    let bits = match bits {
        None => None,
        Some(n) => {
            let i = info.get();
            let allowed = i
                .simple_kind()
                .is_some_and(|(k, _)| matches!(k.class, ValueClass::Signed | ValueClass::Unsigned | ValueClass::Bool));
            if !allowed {
                return Err(PyTypeError::new_err(format!("bit fields not allowed for type {}", class_name(&ty))));
            }
            if n <= 0 || n as usize > i.size * 8 {
                return Err(PyValueError::new_err("number of bits invalid for bit field"));
            }
            Some(n as u32)
        }
    };
    Ok(Member { name, ty, info, bits })
}

/// How a non-bit-field member of type `ty` is read and written.
pub fn plain_access(py: Python<'_>, ty: &Bound<'_, PyAny>, info: &StgInfo) -> Access {
    if let Some((kind, swapped)) = info.simple_kind() {
        if !super::simple::is_simple_subclass(ty) {
            return Access::Scalar { kind, swapped };
        }
    }
    if info.kind != Kind::Array {
        return Access::Plain;
    }
    let elem = info.proto.as_ref().and_then(|p| stginfo_of_type(p.bind(py)));
    match elem.and_then(|e| e.get().simple_kind().map(|(k, _)| k.code)) {
        Some(b'c') => Access::CharArray,
        Some(b'u') => Access::WCharArray,
        _ => Access::Plain,
    }
}

/// Whether passing `info` by value only involves floating-point registers' worth of data.
fn float_only(py: Python<'_>, info: &StgInfo) -> bool {
    match info.kind {
        Kind::Simple { kind, .. } => kind.class == ValueClass::Float,
        Kind::Array => info
            .proto
            .as_ref()
            .and_then(|p| stginfo_of_type(p.bind(py)))
            .is_some_and(|e| float_only(py, e.get())),
        _ => false,
    }
}

fn int_ffi(size: usize) -> FfiType {
    ferrotypes_core::ffi_type::uint_of_size(size)
}

/// Integer elements covering `size` bytes: classifies the bytes as INTEGER for libffi. Like
/// an array's element list, at most 4096 entries: a union of a gigantic array (`c_char *
/// 2**40`) would otherwise need gigabytes of elements, and no ABI classifies past the first
/// few (the fuzzed cdef harness aborted on exactly that, out of memory).
fn int_filler(size: usize) -> Vec<FfiType> {
    const MAX_ELEMENTS: usize = 4096;
    let mut out = Vec::new();
    let mut left = size;
    for unit in [8, 4, 2, 1] {
        while left >= unit && out.len() < MAX_ELEMENTS {
            out.push(int_ffi(unit));
            left -= unit;
        }
    }
    out
}

/// On x86-64 System V, the descriptor of an aggregate of at most 16 bytes, classified as GCC
/// does. libffi's own classification of the plain element list goes wrong for unions (it
/// lays elements out one after another), bit fields (their storage windows overlap other
/// members) and `_pack_` (GCC passes an aggregate in memory if a scalar anywhere inside it
/// ends up misaligned, also one in a packed member of an unpacked aggregate). A larger
/// aggregate is MEMORY, with an opaque element (see `FfiType::sysv_by_value`). `None` for
/// empty aggregates and on other platforms: the element list is right as it is.
fn sysv_x86_64_ffi(base: Option<&StgInfo>, members: &[Member<'_>], layout: &StructLayout, is_union: bool, big_endian: bool) -> Option<FfiType> {
    if !cfg!(all(target_arch = "x86_64", not(windows))) {
        return None;
    }
    let by_value: Vec<ByValueMember<'_>> = members
        .iter()
        .map(|m| ByValueMember { ty: &m.info.get().ffi, size: m.info.get().size, bits: m.bits })
        .collect();
    FfiType::sysv_by_value(layout, base.filter(|b| b.size > 0).map(|b| &b.ffi), &by_value, is_union, big_endian)
}

/// The element list libffi classifies an aggregate by where it does so itself: the base,
/// then for a structure each member (one element per bit-field storage window), for a union
/// its largest member if all are floating-point and it fills the union, else integers.
fn plain_elements(py: Python<'_>, base: Option<&StgInfo>, members: &[Member<'_>], layout: &StructLayout, is_union: bool) -> Vec<FfiType> {
    let mut elements: Vec<FfiType> = Vec::new();
    if let Some(b) = base {
        if b.size > 0 {
            elements.push(b.ffi.clone());
        }
    }
    if is_union {
        let all_float = members.iter().all(|m| float_only(py, m.info.get()));
        let largest = members.iter().max_by_key(|m| m.info.get().size);
        match largest {
            Some(m) if all_float && m.info.get().size == layout.size => elements.push(m.info.get().ffi.clone()),
            _ => elements.extend(int_filler(layout.size)),
        }
    } else {
        let mut last_window: Option<usize> = None;
        for (m, fl) in members.iter().zip(&layout.fields) {
            if m.info.get().size == 0 {
                continue;
            }
            if m.bits.is_some() {
                // One element per storage window; bit fields sharing a window add nothing.
                if last_window.is_some_and(|w| fl.offset < w) {
                    continue;
                }
                last_window = Some(fl.offset + fl.size);
                elements.push(if fl.size == m.info.get().size { m.info.get().ffi.clone() } else { int_ffi(fl.size) });
            } else {
                last_window = None;
                elements.push(m.info.get().ffi.clone());
            }
        }
    }
    elements
}

/// A structure's PEP 3118 format as CPython 3.12+ writes it: `T{`, each own member as
/// `[(shape)]format:name:` preceded by the padding (`x`, `3x`) between the end of the data
/// before it (the base's size, at first) and its offset, then the trailing padding and `}`.
fn padded_format(members: &[Member<'_>], layout: &StructLayout, base_size: usize, kind: LayoutKind, big_endian: bool) -> PyResult<String> {
    fn padding(f: &mut String, bytes: usize) {
        match bytes {
            0 => {}
            1 => f.push('x'),
            n => f.push_str(&format!("{n}x")),
        }
    }
    let mut f = String::from("T{");
    let mut data_end = base_size;
    for (m, fl) in members.iter().zip(&layout.fields) {
        padding(&mut f, fl.offset.saturating_sub(data_end));
        let fi = m.info.get();
        if !fi.shape.is_empty() {
            let dims: Vec<String> = fi.shape.iter().map(|d| d.to_string()).collect();
            f.push_str(&format!("({})", dims.join(",")));
        }
        let field_fmt = fi.format.to_string_lossy();
        f.push_str(if field_fmt.is_empty() { "B" } else { &field_fmt });
        f.push(':');
        f.push_str(m.name.to_str()?);
        f.push(':');
        // Where this member's data ends: a bit field's last bit (its whole storage unit in
        // the MSVC rules), any other member's last byte.
        let end = match m.bits {
            Some(width) if kind == LayoutKind::GccSysv => {
                let window_bits = fl.size * 8;
                let lsb = if big_endian { window_bits - fl.bit_offset as usize - width as usize } else { fl.bit_offset as usize };
                // In bytes from the member's offset: offsets near usize::MAX / 8 must not
                // overflow when counted in bits.
                fl.offset.saturating_add((lsb + width as usize).div_ceil(8))
            }
            _ => fl.offset + fl.size,
        };
        data_end = data_end.max(end);
    }
    padding(&mut f, layout.size.saturating_sub(data_end));
    f.push('}');
    Ok(f)
}

/// The libffi descriptor used to pass the aggregate by value: classified on x86-64 System V,
/// elsewhere a plain element list (only built where it is used).
fn aggregate_ffi(py: Python<'_>, base: Option<&StgInfo>, members: &[Member<'_>], layout: &StructLayout, is_union: bool, big_endian: bool) -> FfiType {
    match sysv_x86_64_ffi(base, members, layout, is_union, big_endian) {
        Some(ffi) => ffi,
        None => FfiType::aggregate(layout.size, layout.align, plain_elements(py, base, members, layout, is_union)),
    }
}

/// Called by the metaclass when `_fields_` is assigned.
pub fn aggregate_set_fields(cls: &Bound<'_, PyType>, fields: &Bound<'_, PyAny>, is_union: bool) -> PyResult<()> {
    let py = cls.py();
    if crate::interp::version::at_least(py, 14) {
        set_fields_from_layout(cls, fields, is_union)?;
        return type_setattr(cls, "_fields_", fields);
    }
    type_setattr(cls, "_fields_", fields)?;

    let swapped = cls.getattr_opt(pyo3::intern!(cls.py(), "_swappedbytes_"))?.is_some();
    let pack_attr = non_negative_attr(cls, pyo3::intern!(py, "_pack_"))?;
    let min_align = non_negative_attr(cls, pyo3::intern!(py, "_align_"))?.unwrap_or(0);
    let kind = match cls.getattr_opt(pyo3::intern!(cls.py(), "_layout_"))? {
        // 3.14 (opted in to here; from 3.14 `_layout.py` decides): `_pack_` without
        // `_layout_` means MSVC's rules, with a deprecation warning at the class.
        None if !cfg!(windows) && pack_attr.is_some_and(|p| p > 0) && crate::interp::version::behaves_as(py, 14) => {
            super::caller_module::warn_implicit_ms(cls, !is_union)?;
            LayoutKind::Ms
        }
        None => LayoutKind::GccSysv,
        Some(l) => match l.extract::<String>().ok().as_deref() {
            Some("gcc-sysv") => LayoutKind::GccSysv,
            Some("ms") => LayoutKind::Ms,
            _ => return Err(PyValueError::new_err(format!("unknown _layout_: {}", l.repr()?))),
        },
    };
    let len = fields.len().map_err(|e| {
        if e.is_instance_of::<PyTypeError>(py) {
            PyTypeError::new_err("'_fields_' must be a sequence of pairs")
        } else {
            e
        }
    })?;

    let own = own_stginfo_open_for_fields(cls)?;
    let base = base_info(cls)?;
    let (base_size, base_align, base_len, base_flags) = match &base {
        Some(b) => (b.get().size, b.get().align, b.get().length, b.get().type_flags),
        None => (0, 1, 0, 0),
    };

    // 1. The entries.
    let mut members = Vec::with_capacity(len);
    let mut type_flags = base_flags & (flags::HASPOINTER | flags::HASUNION | flags::HASBITFIELD);
    for i in 0..len {
        let m = parse_entry(&fields.get_item(i)?, i)?;
        let fi = m.info.get();
        if fi.type_flags & (flags::ISPOINTER | flags::HASPOINTER) != 0 {
            type_flags |= flags::HASPOINTER;
        }
        type_flags |= fi.type_flags & (flags::HASUNION | flags::HASBITFIELD);
        if m.bits.is_some() {
            type_flags |= flags::HASBITFIELD;
        }
        fi.mark_final();
        members.push(m);
    }
    if is_union {
        type_flags |= flags::HASUNION;
    }

    // 2. The layout.
    let requests: Vec<FieldRequest> = members
        .iter()
        .map(|m| FieldRequest { size: m.info.get().size, align: m.info.get().align, bit_width: m.bits })
        .collect();
    let big_endian = cfg!(target_endian = "big") != swapped;
    let request = LayoutRequest {
        fields: &requests,
        is_union,
        pack: pack_attr.filter(|&p| p > 0),
        min_align,
        kind,
        base_size,
        base_align,
        big_endian,
    };
    let layout = StructLayout::compute(&request).map_err(core_err)?;

    // 3. The PEP 3118 format: CPython 3.11 describes only unpacked structures' own members;
    // from 3.12 every structure's, with the padding between and after them.
    let format = if !is_union && crate::interp::version::behaves_as(py, 12) {
        padded_format(&members, &layout, base_size, kind, big_endian)?
    } else if !is_union && pack_attr.is_none() {
        let mut f = String::from("T{");
        for m in &members {
            let fi = m.info.get();
            let field_fmt = fi.format.to_string_lossy();
            let field_fmt = if field_fmt.is_empty() { "B".into() } else { field_fmt };
            if !fi.shape.is_empty() {
                let dims: Vec<String> = fi.shape.iter().map(|d| d.to_string()).collect();
                f.push_str(&format!("({})", dims.join(",")));
            }
            f.push_str(&format!("{}:{}:", field_fmt, m.name.to_str()?));
        }
        f.push('}');
        f
    } else {
        "B".to_owned()
    };

    let ffi = aggregate_ffi(py, base.as_ref().map(|b| b.get()), &members, &layout, is_union, big_endian);

    if own.get().is_final() {
        return Err(PyAttributeError::new_err("Structure or union cannot contain itself"));
    }
    let mut info = StgInfo::new(layout.size, layout.align, base_len + len, if is_union { Kind::Union } else { Kind::Struct }, ffi, &format);
    info.type_flags = type_flags;
    info.pointer_type = GilCell::new(own.get().pointer_type.get_ref(py));
    info.mark_final();
    store(cls, info)?;

    // 4. The descriptors.
    for (i, (m, fl)) in members.iter().zip(&layout.fields).enumerate() {
        let access = match m.bits {
            Some(_) => Access::Bits { kind: m.info.get().simple_kind().map(|(k, _)| k).unwrap_or_else(|| SimpleKind::from_code(b'i').expect("int kind")) },
            None => plain_access(py, &m.ty, m.info.get()),
        };
        let field = CField {
            name: m.name.clone().unbind(),
            proto: m.ty.clone().unbind(),
            offset: fl.offset,
            byte_size: if m.bits.is_some() { fl.size } else { m.info.get().size },
            index: base_len + i,
            bit_size: fl.bit_size,
            bit_offset: fl.bit_offset,
            swapped,
            access,
            raw: super::cfield::raw_accessors(access),
            anonymous: AtomicBool::new(false),
        };
        type_setattr(cls, m.name.to_str()?, Bound::new(py, field)?.as_any())?;
    }
    make_anon_fields(cls)
}

/// Promotes the members of every `_anonymous_` member (CPython's MakeAnonFields).
fn make_anon_fields(cls: &Bound<'_, PyType>) -> PyResult<()> {
    let Some(anon) = cls.getattr_opt(pyo3::intern!(cls.py(), "_anonymous_"))? else { return Ok(()) };
    let names: Vec<Bound<'_, PyAny>> = anon
        .try_iter()
        .map_err(|_| PyTypeError::new_err("_anonymous_ must be a sequence"))?
        .collect::<PyResult<_>>()?;
    for name in names {
        let descr = cls.getattr(name.cast::<PyString>()?)?;
        let Ok(field) = descr.cast::<CField>() else {
            return Err(PyAttributeError::new_err(format!("'{}' is specified in _anonymous_ but not in _fields_", name.str()?)));
        };
        field.get().set_anonymous();
        promote(cls, field.get(), field.get().index, field.get().offset)?;
    }
    Ok(())
}

/// Installs `descr.proto`'s members on `cls`, shifted by `offset` and `index`.
fn promote(cls: &Bound<'_, PyType>, descr: &CField, index: usize, offset: usize) -> PyResult<()> {
    let py = cls.py();
    let proto = descr.proto.bind(py);
    let fields = proto.getattr(pyo3::intern!(proto.py(), "_fields_"))?;
    for item in fields.try_iter().map_err(|_| PyTypeError::new_err("_fields_ must be a sequence"))? {
        let item = item?;
        let fname = item.get_item(0)?;
        let fdescr = proto.getattr(fname.cast::<PyString>()?)?;
        let f = fdescr.cast::<CField>().map_err(|_| PyTypeError::new_err("unexpected type"))?;
        let f = f.get();
        if f.is_anonymous() {
            promote(cls, f, index + f.index, offset + f.offset)?;
            continue;
        }
        let shifted = f.shifted(py, offset, index);
        type_setattr(cls, &fname.cast::<PyString>()?.to_string(), Bound::new(py, shifted)?.as_any())?;
    }
    Ok(())
}

/// The module with 3.14's `get_layout`: ctypes' own (`ctypes._layout`) under the stdlib
/// package (core mode), ours (`ferrotypes._layout`) when this extension is ferrotypes' own
/// `_ctypes`.
fn layout_function(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    static GET_LAYOUT: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    GET_LAYOUT
        .get_or_try_init(py, || {
            let module = super::cdata::MODULE.get(py).map(|m| m.bind(py).name()).transpose()?;
            let package = match module.as_ref().map(|n| n.to_string()) {
                Some(n) if n.starts_with("ferrotypes.") => "ferrotypes._layout",
                _ => "ctypes._layout",
            };
            Ok::<_, PyErr>(py.import(package)?.getattr("get_layout")?.unbind())
        })
        .map(|f| f.bind(py).clone())
}

/// The class's own storage info, refused when its `_fields_` can no longer be set (an
/// instance or subclass already exists).
fn own_stginfo_open_for_fields<'py>(cls: &Bound<'py, PyType>) -> PyResult<Bound<'py, StgInfo>> {
    let own = own_attr(cls.as_any(), pyo3::intern!(cls.py(), STGINFO_KEY))?
        .and_then(|o| o.cast_into::<StgInfo>().ok())
        .ok_or_else(|| PyTypeError::new_err("ctypes state is not initialized"))?;
    if own.get().is_final() {
        return Err(PyAttributeError::new_err("_fields_ is final"));
    }
    Ok(own)
}

/// 3.14+: a `_fields_` assignment as CPython 3.14 makes it. The layout (rules, options,
/// errors, warnings, the PEP 3118 format) comes from `get_layout`, which returns one
/// `CField` per member; the type gets its storage info from them and the fields become its
/// descriptors. Nothing is changed when anything fails, and `_fields_` itself is stored by
/// the caller only afterwards.
fn set_fields_from_layout(cls: &Bound<'_, PyType>, fields: &Bound<'_, PyAny>, is_union: bool) -> PyResult<()> {
    let py = cls.py();
    let own = own_stginfo_open_for_fields(cls)?;
    let base = base_info(cls)?;
    let base_type = match &base {
        // SAFETY: reading tp_base of a live type object (`base_info` found it non-null).
        Some(_) => unsafe { Bound::from_borrowed_ptr(py, (*cls.as_type_ptr()).tp_base.cast()) },
        None => py.None().into_bound(py),
    };
    let layout = layout_function(py)?.call1((cls, fields, !is_union, base_type))?;
    let align: usize = layout.getattr(pyo3::intern!(py, "align"))?.extract()?;
    let size: usize = layout.getattr(pyo3::intern!(py, "size"))?.extract()?;
    let format: String = layout.getattr(pyo3::intern!(py, "format_spec"))?.extract()?;
    let descriptors = PyTuple::new(py, layout.getattr(pyo3::intern!(py, "fields"))?.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;

    let (base_len, base_flags) = match &base {
        Some(b) => (b.get().length, b.get().type_flags),
        None => (0, 0),
    };
    let mut type_flags = base_flags & (flags::HASPOINTER | flags::HASUNION | flags::HASBITFIELD);
    let mut members = Vec::with_capacity(descriptors.len());
    let mut placed = Vec::with_capacity(descriptors.len());
    let mut fields_made = Vec::with_capacity(descriptors.len());
    for item in descriptors.iter() {
        let field = item.cast_into::<CField>().map_err(|_| PyTypeError::new_err("fields must be of type CField"))?;
        let f = field.get();
        let ty = f.proto.bind(py).clone();
        let info = stginfo_of_type(&ty).ok_or_else(|| PyTypeError::new_err("has no _stginfo_"))?;
        let fi = info.get();
        if fi.type_flags & (flags::ISPOINTER | flags::HASPOINTER) != 0 {
            type_flags |= flags::HASPOINTER;
        }
        type_flags |= fi.type_flags & (flags::HASUNION | flags::HASBITFIELD);
        let bits = (f.bit_size > 0).then_some(f.bit_size);
        if bits.is_some() {
            type_flags |= flags::HASBITFIELD;
        }
        fi.mark_final();
        placed.push(FieldLayout { offset: f.offset, size: f.byte_size, bit_offset: f.bit_offset, bit_size: f.bit_size });
        members.push(Member { name: f.name.bind(py).clone(), ty, info, bits });
        fields_made.push(field);
    }
    if is_union {
        type_flags |= flags::HASUNION;
    }
    if own.get().is_final() {
        return Err(PyAttributeError::new_err("Structure or union cannot contain itself"));
    }
    let layout = StructLayout { size, align, fields: placed };
    let swapped = cls.getattr_opt(pyo3::intern!(py, "_swappedbytes_"))?.is_some();
    let big_endian = cfg!(target_endian = "big") != swapped;
    let ffi = aggregate_ffi(py, base.as_ref().map(|b| b.get()), &members, &layout, is_union, big_endian);
    let kind = if is_union { Kind::Union } else { Kind::Struct };
    let mut info = StgInfo::new(size, align, base_len + members.len(), kind, ffi, &format);
    info.type_flags = type_flags;
    info.pointer_type = GilCell::new(own.get().pointer_type.get_ref(py));
    info.mark_final();
    store(cls, info)?;
    for field in &fields_made {
        type_setattr(cls, field.get().name.bind(py).to_str()?, field.as_any())?;
    }
    make_anon_fields(cls)
}

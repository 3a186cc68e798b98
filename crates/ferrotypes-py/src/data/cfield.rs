//! `CField`: the descriptor of one structure or union member (CPython's `cfield.c`).
//!
//! The layout engine decides where a member lives; a `CField` remembers that place (byte
//! offset, storage size, bit position) together with the member's type and its index in the
//! aggregate (the keep-alive slot), and reads and writes the member on instances:
//!
//! * simple members of a stock type come back as Python values, any other member as an
//!   object borrowing the aggregate's memory (`_b_base_` is the aggregate);
//! * `c_char` and `c_wchar` arrays are read and written as strings, as CPython does;
//! * bit fields read their storage window as one integer in the aggregate's byte order,
//!   extract (and sign-extend) their bits, and are written read-modify-write.
use super::array;
use super::cdata::{self, CData};
use super::simple;
use super::stginfo::stginfo_of_type;
use crate::interp::names::{class_name, type_name};
use crate::interp::version;
use ferrotypes_core::simple::{SimpleKind, ValueClass};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::Borrowed;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use std::sync::atomic::{AtomicBool, Ordering};

/// How a member's value is converted, decided once when the field is made.
#[derive(Clone, Copy, Debug)]
pub enum Access {
    /// Through the member type's own rules (`array::assign`, sub-objects for reads).
    Plain,
    /// A stock simple type (not a subclass): converted directly, no type lookup per access.
    Scalar { kind: &'static SimpleKind, swapped: bool },
    /// An array of `c_char`: bytes, NUL-terminated if there is room (CPython's `s` codes).
    CharArray,
    /// An array of `c_wchar`: str (CPython's `U` codes).
    WCharArray,
    /// A bit field of an integer type.
    Bits { kind: &'static SimpleKind },
}

#[pyclass(frozen, module = "_ctypes", name = "CField")]
pub struct CField {
    pub name: Py<PyString>,
    /// The member's ctypes type.
    pub proto: Py<PyAny>,
    /// Byte offset from the start of the aggregate (for a bit field: of its window).
    pub offset: usize,
    /// Bytes read and written: the type's size, or a bit field's window size.
    pub byte_size: usize,
    /// Keep-alive slot in the aggregate: the member's position counting inherited members.
    pub index: usize,
    pub bit_size: u32,
    pub bit_offset: u32,
    /// Bit field windows are read in the non-native byte order (`_swappedbytes_`).
    pub swapped: bool,
    pub access: Access,
    /// The getter/setter of the member's C type when the descriptor slots take the member
    /// raw (`raw_accessors(access)`, decided once).
    pub raw: Option<(simple::RawGet, simple::RawSet)>,
    pub anonymous: AtomicBool,
}

impl CField {
    /// The same member seen from an aggregate that embeds its owner anonymously at
    /// `offset`, as slot `index` (CPython's MakeFields).
    pub fn shifted(&self, py: Python<'_>, offset: usize, index: usize) -> CField {
        CField {
            name: self.name.clone_ref(py),
            proto: self.proto.clone_ref(py),
            offset: self.offset + offset,
            byte_size: self.byte_size,
            index: self.index + index,
            bit_size: self.bit_size,
            bit_offset: self.bit_offset,
            swapped: self.swapped,
            access: self.access,
            raw: self.raw,
            anonymous: AtomicBool::new(false),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.anonymous.load(Ordering::Relaxed)
    }

    pub fn set_anonymous(&self) {
        self.anonymous.store(true, Ordering::Relaxed);
    }

    fn instance<'a, 'py>(obj: &'a Bound<'py, PyAny>) -> PyResult<&'a Bound<'py, CData>> {
        obj.cast::<CData>().map_err(|_| PyTypeError::new_err("not a ctype instance"))
    }

    /// Address of the member inside `inst`, checked against the instance's memory.
    fn address(&self, inst: &Bound<'_, CData>) -> PyResult<*mut u8> {
        let c = inst.get();
        if self.offset.checked_add(self.byte_size).is_none_or(|end| end > c.size()) {
            return Err(PyValueError::new_err("field lies outside the instance's memory"));
        }
        // SAFETY: offset + byte_size <= size (checked above).
        Ok(unsafe { c.ptr().add(self.offset) })
    }

    /// The window as an unsigned integer in the aggregate's byte order.
    ///
    /// # Safety
    /// `p` must be readable for `byte_size` bytes.
    unsafe fn read_window(&self, p: *const u8) -> u128 {
        let big = cfg!(target_endian = "big") != self.swapped;
        let mut v: u128 = 0;
        for k in 0..self.byte_size {
            let i = if big { k } else { self.byte_size - 1 - k };
            // SAFETY: `i < byte_size` (contract).
            v = (v << 8) | u128::from(unsafe { *p.add(i) });
        }
        v
    }

    /// # Safety
    /// `p` must be writable for `byte_size` bytes.
    unsafe fn write_window(&self, p: *mut u8, mut v: u128) {
        let big = cfg!(target_endian = "big") != self.swapped;
        for k in 0..self.byte_size {
            let i = if big { self.byte_size - 1 - k } else { k };
            // SAFETY: `i < byte_size` (contract).
            unsafe { *p.add(i) = v as u8 };
            v >>= 8;
        }
    }

    fn mask(&self) -> u128 {
        if self.bit_size >= 128 {
            u128::MAX
        } else {
            (1u128 << self.bit_size) - 1
        }
    }

    /// Reads the member of `inst` (CPython's PyCField_get).
    pub fn get_value(&self, py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let inst = Self::instance(obj)?;
        let p = self.address(inst)?;
        let proto = self.proto.bind(py);
        match self.access {
            Access::Bits { kind } => {
                // SAFETY: the window lies inside the instance (checked by `address`).
                let raw = (unsafe { self.read_window(p) } >> self.bit_offset) & self.mask();
                // A bit field is at most 64 bits wide, so its value converts as a 64-bit
                // int (PyLong_From[Unsigned]LongLong). The 128-bit conversion goes through
                // _PyLong_FromByteArray: slower, and for 0 it reads a digit CPython 3.11
                // never wrote (memcheck noise under scripts/valgrind.sh).
                match kind.class {
                    ValueClass::Bool => Ok((raw != 0).into_pyobject(py)?.to_owned().into_any().unbind()),
                    ValueClass::Signed if self.bit_size > 0 && raw >> (self.bit_size - 1) & 1 == 1 => {
                        let v = raw as i128 - (1i128 << self.bit_size);
                        match i64::try_from(v) {
                            Ok(v) => Ok(v.into_pyobject(py)?.into_any().unbind()),
                            Err(_) => Ok(v.into_pyobject(py)?.into_any().unbind()),
                        }
                    }
                    _ => match u64::try_from(raw) {
                        Ok(v) => Ok(v.into_pyobject(py)?.into_any().unbind()),
                        Err(_) => Ok(raw.into_pyobject(py)?.into_any().unbind()),
                    },
                }
            }
            Access::CharArray => {
                // SAFETY: `byte_size` bytes of the instance are readable.
                let bytes = unsafe { std::slice::from_raw_parts(p, self.byte_size) };
                let n = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                Ok(PyBytes::new(py, &bytes[..n]).into_any().unbind())
            }
            Access::WCharArray => {
                let len = self.byte_size / std::mem::size_of::<libc::wchar_t>();
                let w = p as *const libc::wchar_t;
                // SAFETY: the member holds `len` wide characters (read unaligned: packed
                // structures may misalign them).
                let n = (0..len).position(|k| unsafe { std::ptr::read_unaligned(w.add(k)) } == 0).unwrap_or(len);
                // SAFETY: `n <= len` characters are readable, as above.
                let chars: Vec<libc::wchar_t> = (0..n).map(|k| unsafe { std::ptr::read_unaligned(w.add(k)) }).collect();
                // SAFETY: `chars` holds `n` wide characters.
                unsafe { simple::str_from_wchars(py, chars.as_ptr(), n) }
            }
            // SAFETY: the member lies inside the instance (checked by `address`) and holds a
            // value of `kind`, written by `set_value` or by C code.
            Access::Scalar { kind, swapped } => unsafe { simple::get_value(py, kind, swapped, p) },
            Access::Plain => array::get_item_at(py, proto, p, obj, self.index as isize),
        }
    }

    /// Stores `value` into the member of `inst` (CPython's PyCField_set).
    pub fn set_value(&self, obj: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        // A plain number into a native scalar member: its C type's own setter, as the
        // descriptor slot does (structure initializers come here).
        if let Some((_, set)) = self.raw {
            // SAFETY: `obj` is live for the call and the GIL is held.
            if let Some(p) = unsafe { cdata::instance_of(obj.as_ptr()) }.and_then(|c| self.member_ptr(c)) {
                // SAFETY: the member lies inside the instance's memory and is of the
                // setter's kind; `value` is live.
                match unsafe { set(p, value.as_ptr()) } {
                    0 => return Ok(()),
                    simple::RAW_DECLINED => {}
                    _ => return Err(PyErr::fetch(obj.py())),
                }
            }
        }
        let inst = Self::instance(obj)?;
        let p = self.address(inst)?;
        let proto = self.proto.bind(obj.py());
        let keep = match self.access {
            Access::Bits { kind } => {
                let v: u128 = if kind.class == ValueClass::Bool {
                    u128::from(value.is_truthy()?)
                } else {
                    u128::from(simple::int_mask(value)?)
                };
                let field_mask = self.mask() << self.bit_offset;
                // SAFETY: the window lies inside the instance (checked by `address`).
                unsafe {
                    let old = self.read_window(p);
                    let new = (old & !field_mask) | ((v << self.bit_offset) & field_mask);
                    self.write_window(p, new);
                }
                None
            }
            Access::CharArray => {
                let b = value.cast::<PyBytes>().map_err(|_| {
                    PyTypeError::new_err(format!("expected bytes, {} found", type_name(value)))
                })?;
                let data = b.as_bytes();
                // Like C's strlen: the value ends at its first NUL.
                let mut n = data.iter().position(|&c| c == 0).unwrap_or(data.len());
                if n > self.byte_size {
                    return Err(PyValueError::new_err(format!("bytes too long ({n}, maximum length {})", self.byte_size)));
                }
                if n < self.byte_size {
                    n += 1; // the terminating NUL fits too
                }
                let src: Vec<u8> = data.iter().copied().chain(std::iter::once(0)).take(n).collect();
                // SAFETY: `n <= byte_size` bytes of the member are writable.
                unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), p, n) };
                // The bytes were copied: nothing to keep (CPython keeps the str of a
                // `c_wchar` array, below, but not these).
                None
            }
            Access::WCharArray => {
                let s = value.cast::<PyString>().map_err(|_| {
                    PyTypeError::new_err(format!("unicode string expected instead of {} instance", type_name(value)))
                })?;
                let wsize = std::mem::size_of::<libc::wchar_t>();
                let length = self.byte_size / wsize;
                let buf = simple::wchar_buffer(s)?;
                let units = buf.as_bytes();
                let nchars = units.len() / wsize - 1;
                if nchars > length {
                    return Err(PyValueError::new_err(format!("string too long ({nchars}, maximum length {length})")));
                }
                let n = (nchars + 1).min(length) * wsize;
                // SAFETY: `n <= byte_size` bytes of the member are writable.
                unsafe { std::ptr::copy_nonoverlapping(units.as_ptr(), p, n) };
                Some(value.clone().unbind())
            }
            Access::Scalar { kind, swapped } if not_cdata(value) => {
                // SAFETY: `kind.size` bytes of the member are writable (checked by `address`).
                unsafe { simple::set_value(kind, swapped, p, value)? }
            }
            Access::Scalar { .. } | Access::Plain => array::assign(proto, p, value)?,
        };
        cdata::keep_ref(inst, self.index as isize, keep)
    }
}

// --- The descriptor slots -------------------------------------------------------------
//
// `p.x` and `p.x = 5` call the field type's `tp_descr_get`/`tp_descr_set`. The common case —
// a member of a stock integer, floating or `_Bool` type, read, or written with an exact
// `int` or `float` — runs in the raw entries below: the instance check against the
// remembered `_CData` type, the bounds check, and straight into the getter or setter of
// the member's C type (`simple::raw_accessors`), as CPython's `PyCField_get` does.
// Every other case (other member kinds, other values, deletion, class access with an
// explicit `None`) takes PyO3's trampoline into the same code as before.

/// Makes the raw entries below the `CField` type's descriptor slots (module set-up, before
/// any field exists).
pub fn install_descriptor_slots(py: Python<'_>) {
    cdata::remember_type(py);
    let tp = py.get_type::<CField>().as_type_ptr();
    // SAFETY: `CField` is a ready heap type of this module that cannot be subclassed (its
    // pyclass is not `subclass`), so no other type inherits these slots; the entries have
    // the signatures of `descrgetfunc`/`descrsetfunc`. The `__get__`/`__set__` wrappers in
    // its dict keep PyO3's entries, which do the same thing. Cached lookups are reset.
    unsafe {
        (*tp).tp_descr_get = Some(field_descr_get);
        (*tp).tp_descr_set = Some(field_descr_set);
        pyo3::ffi::PyType_Modified(tp);
    }
}

/// The raw getter/setter pair of a member of a stock scalar type (see
/// `simple::raw_accessors`).
pub fn raw_accessors(access: Access) -> Option<(simple::RawGet, simple::RawSet)> {
    match access {
        Access::Scalar { kind, swapped } => simple::raw_accessors(kind, swapped),
        _ => None,
    }
}

impl CField {
    /// The address of this member inside `c`, or `None` if it lies outside its memory.
    #[inline]
    fn member_ptr(&self, c: &CData) -> Option<*mut u8> {
        let end = self.offset.checked_add(self.byte_size)?;
        // SAFETY: `offset + byte_size <= size`, so the member lies inside the memory.
        (end <= c.size()).then(|| unsafe { c.ptr().add(self.offset) })
    }
}

/// The field behind `descr` and the address of its member inside `obj`, when the member has
/// raw accessors and `obj` passes [`cdata::instance_of_quick`]: the whole test of the raw
/// entries, with no call in it, so that they keep no stack frame and reach the accessor with
/// a jump.
///
/// # Safety
/// As the descriptor slots: the GIL is held, `descr` is a live `CField`, `obj` a live object
/// or NULL, both borrowed for the call.
#[inline(always)]
unsafe fn raw_member<'a>(descr: *mut pyo3::ffi::PyObject, obj: *mut pyo3::ffi::PyObject) -> Option<(&'a CField, *mut u8)> {
    // SAFETY: forwarded from the contract: `descr` is a live CField (the slots are only on
    // that type; NULL is refused, not assumed away) and `obj` live or NULL.
    unsafe {
        let field = Borrowed::from_ptr_or_opt(Python::assume_attached(), descr)?.cast_unchecked::<CField>().get();
        let c = cdata::instance_of_quick(obj)?;
        Some((field, field.member_ptr(c)?))
    }
}

unsafe extern "C" fn field_descr_get(
    descr: *mut pyo3::ffi::PyObject,
    obj: *mut pyo3::ffi::PyObject,
    owner: *mut pyo3::ffi::PyObject,
) -> *mut pyo3::ffi::PyObject {
    // SAFETY: CPython calls tp_descr_get with the GIL held, `descr` a live CField (the slot
    // is only on that type) and `obj` a live object or NULL, all borrowed for the call. The
    // raw getter reads a member of its own kind inside the instance's memory and returns a
    // new reference or NULL with an exception set, as the slot must; it cannot panic. Both
    // ways out are calls in tail position.
    unsafe {
        if let Some((CField { raw: Some((get, _)), .. }, p)) = raw_member(descr, obj) {
            return get(p);
        }
        field_descr_get_slow(descr, obj, owner)
    }
}

/// [`field_descr_get`] when the quick test did not settle it: a subclass of `_CData` whose
/// class replaced the buffer entry still takes the raw getter, everything else PyO3's
/// trampoline into [`field_get_general`].
///
/// # Safety
/// As [`field_descr_get`].
#[cold]
#[inline(never)]
unsafe extern "C" fn field_descr_get_slow(
    descr: *mut pyo3::ffi::PyObject,
    obj: *mut pyo3::ffi::PyObject,
    owner: *mut pyo3::ffi::PyObject,
) -> *mut pyo3::ffi::PyObject {
    // SAFETY: as in `field_descr_get`.
    unsafe {
        // An instance that passed the quick test was settled there (no raw getter, or a
        // member outside its memory): only the subtype walk can find another that may
        // still take the raw getter.
        if !obj.is_null() && cdata::instance_of_quick(obj).is_none() {
            let field = Borrowed::from_ptr(Python::assume_attached(), descr).cast_unchecked::<CField>().get();
            if let (Some((get, _)), Some(c)) = (field.raw, cdata::instance_by_walk(obj)) {
                if let Some(p) = field.member_ptr(c) {
                    return get(p);
                }
            }
        }
        let general = pyo3::impl_::trampoline::get_trampoline_function!(descrgetfunc, field_get_general);
        general(descr, obj, owner)
    }
}

unsafe extern "C" fn field_descr_set(
    descr: *mut pyo3::ffi::PyObject,
    obj: *mut pyo3::ffi::PyObject,
    value: *mut pyo3::ffi::PyObject,
) -> std::ffi::c_int {
    // SAFETY: CPython calls tp_descr_set with the GIL held, `descr` a live CField, `obj` a
    // live object and `value` a live object or NULL (deletion), all borrowed for the call.
    // The raw setter writes a member of its own kind inside the instance's memory, or
    // declines the value; it runs no Python code, keeps nothing alive (numbers are copied
    // into the member) and cannot panic. A value it declines, and every other case, goes
    // on to the slow entry (a call in tail position).
    unsafe {
        if !value.is_null() {
            if let Some((CField { raw: Some((_, set)), .. }, p)) = raw_member(descr, obj) {
                let done = set(p, value);
                if done != simple::RAW_DECLINED {
                    return done;
                }
            }
        }
        field_descr_set_slow(descr, obj, value)
    }
}

/// [`field_descr_set`] when the quick test did not settle it (as [`field_descr_get_slow`]).
///
/// # Safety
/// As [`field_descr_set`].
#[cold]
#[inline(never)]
unsafe extern "C" fn field_descr_set_slow(
    descr: *mut pyo3::ffi::PyObject,
    obj: *mut pyo3::ffi::PyObject,
    value: *mut pyo3::ffi::PyObject,
) -> std::ffi::c_int {
    // SAFETY: as in `field_descr_set`.
    unsafe {
        // As in `field_descr_get_slow`; a value the raw setter declined there is not offered
        // to it again.
        if !value.is_null() && cdata::instance_of_quick(obj).is_none() {
            let field = Borrowed::from_ptr(Python::assume_attached(), descr).cast_unchecked::<CField>().get();
            if let (Some((_, set)), Some(c)) = (field.raw, cdata::instance_by_walk(obj)) {
                if let Some(p) = field.member_ptr(c) {
                    let done = set(p, value);
                    if done != simple::RAW_DECLINED {
                        return done;
                    }
                }
            }
        }
        let general = pyo3::impl_::trampoline::get_trampoline_function!(setattrofunc, field_set_general);
        general(descr, obj, value)
    }
}

/// `tp_descr_get` for every case the raw entry does not take (PyO3's `__get__`).
///
/// # Safety
/// Called through PyO3's trampoline with `tp_descr_get`'s arguments for a `CField`.
unsafe fn field_get_general(
    py: Python<'_>,
    descr: *mut pyo3::ffi::PyObject,
    obj: *mut pyo3::ffi::PyObject,
    _owner: *mut pyo3::ffi::PyObject,
) -> PyResult<*mut pyo3::ffi::PyObject> {
    // SAFETY: the arguments are live and borrowed for the call (contract).
    let slf = unsafe { Borrowed::from_ptr(py, descr).cast_unchecked::<CField>() };
    // `None` as the instance is class access too, as PyO3's `__get__` took it.
    if obj.is_null() || obj == py.None().as_ptr() {
        return Ok(slf.to_owned().into_any().into_ptr());
    }
    // SAFETY: as above.
    let obj = unsafe { Borrowed::from_ptr(py, obj) };
    Ok(slf.get().get_value(py, &obj)?.into_ptr())
}

/// `tp_descr_set` for every case the raw entry does not take (PyO3's `__set__` and
/// `__delete__`).
///
/// # Safety
/// Called through PyO3's trampoline with `tp_descr_set`'s arguments for a `CField`.
unsafe fn field_set_general(
    py: Python<'_>,
    descr: *mut pyo3::ffi::PyObject,
    obj: *mut pyo3::ffi::PyObject,
    value: *mut pyo3::ffi::PyObject,
) -> PyResult<std::ffi::c_int> {
    // SAFETY: the arguments are live and borrowed for the call (contract).
    let (field, obj) = unsafe { (Borrowed::from_ptr(py, descr).cast_unchecked::<CField>().get(), Borrowed::from_ptr(py, obj)) };
    if value.is_null() {
        CField::instance(&obj)?;
        return Err(PyTypeError::new_err("can't delete attribute"));
    }
    // SAFETY: as above.
    let value = unsafe { Borrowed::from_ptr(py, value) };
    field.set_value(&obj, &value)?;
    Ok(0)
}

/// Whether `value` is not a ctypes instance (exact ints and floats answer without an MRO
/// walk: they are the common field values).
fn not_cdata(value: &Bound<'_, PyAny>) -> bool {
    // SAFETY: exact-type checks of a live object.
    let exact = unsafe { pyo3::ffi::PyLong_CheckExact(value.as_ptr()) != 0 || pyo3::ffi::PyFloat_CheckExact(value.as_ptr()) != 0 };
    exact || value.cast::<CData>().is_err()
}

/// The arguments of 3.14's `CField(...)` constructor, as `ctypes._layout` passes them.
#[pyfunction]
#[pyo3(signature = (*, name, r#type, byte_size, byte_offset, index, _internal_use, bit_size=None, bit_offset=None))]
#[allow(clippy::too_many_arguments)]
fn cfield_arguments<'py>(
    name: Bound<'py, PyAny>,
    r#type: Bound<'py, PyAny>,
    byte_size: isize,
    byte_offset: isize,
    index: isize,
    _internal_use: bool,
    bit_size: Option<Bound<'py, PyAny>>,
    bit_offset: Option<Bound<'py, PyAny>>,
) -> PyResult<CField> {
    let py = name.py();
    if !name.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!("CField() argument 'name' must be str, not {}", type_name(&name))));
    }
    let name = name.cast_into::<PyString>()?;
    if !_internal_use {
        // Made only by ctypes' own layout code, for now (as CPython 3.14).
        return Err(PyTypeError::new_err("cannot create CField object"));
    }
    if byte_size < 0 {
        return Err(PyValueError::new_err(format!("byte size of field {} must not be negative, got {byte_size}", name.repr()?)));
    }
    let Some(info) = stginfo_of_type(&r#type) else {
        return Err(PyTypeError::new_err(format!("type of field {} must be a C type", name.repr()?)));
    };
    let info = info.get();
    if byte_size as usize != info.size {
        return Err(PyValueError::new_err(format!(
            "byte size of field {} ({byte_size}) does not match type size ({})",
            name.repr()?,
            info.size
        )));
    }
    let not_none = |o: Option<Bound<'py, PyAny>>| o.filter(|o| !o.is_none());
    let (bit_size, bit_offset) = (not_none(bit_size), not_none(bit_offset));
    let mut bits = 0u32;
    let mut bit_pos = 0u32;
    let access = match &bit_size {
        Some(size_obj) => {
            // Bit fields: integer types (`_Bool` included), not characters.
            let kind = info
                .simple_kind()
                .map(|(k, _)| k)
                .filter(|k| matches!(k.class, ValueClass::Signed | ValueClass::Unsigned | ValueClass::Bool | ValueClass::VariantBool))
                .ok_or_else(|| PyTypeError::new_err(format!("bit fields not allowed for type {}", class_name(&r#type))))?;
            if byte_size > 100 {
                return Err(PyValueError::new_err(format!("bit field {} size too large, got {byte_size}", name.repr()?)));
            }
            let size = index_arg(size_obj)?;
            if !(1..=255).contains(&size) {
                return Err(PyValueError::new_err(format!("bit size of field {} out of range, got {size}", name.repr()?)));
            }
            let offset = match &bit_offset {
                Some(o) => index_arg(o)?,
                None => return Err(PyTypeError::new_err("an integer is required")),
            };
            if !(0..=255).contains(&offset) {
                return Err(PyValueError::new_err(format!("bit offset of field {} out of range, got {offset}", name.repr()?)));
            }
            if size + offset > byte_size * 8 {
                return Err(PyValueError::new_err(format!(
                    "bit field {} overflows its type ({offset} + {size} > {})",
                    name.repr()?,
                    byte_size * 8
                )));
            }
            bits = size as u32;
            bit_pos = offset as u32;
            Access::Bits { kind }
        }
        None => {
            if bit_offset.is_some() {
                return Err(PyValueError::new_err(format!("field {}: bit_offset must be specified if bit_size is", name.repr()?)));
            }
            super::structure::plain_access(py, &r#type, info)
        }
    };
    // A bit field's storage is read in its own type's byte order (the twin types
    // `BigEndianStructure` members are swapped to).
    let swapped = info.simple_kind().is_some_and(|(_, swapped)| swapped);
    Ok(CField {
        name: name.unbind(),
        proto: r#type.unbind(),
        offset: byte_offset as usize,
        byte_size: byte_size as usize,
        index: index as usize,
        bit_size: bits,
        bit_offset: bit_pos,
        swapped,
        access,
        raw: raw_accessors(access),
        anonymous: AtomicBool::new(false),
    })
}

/// An integer argument (`__index__`), as `Py_ssize_t` arguments are converted.
fn index_arg(o: &Bound<'_, PyAny>) -> PyResult<isize> {
    if !o.is_instance_of::<pyo3::types::PyInt>() && !o.hasattr(pyo3::intern!(o.py(), "__index__"))? {
        return Err(PyTypeError::new_err("an integer is required"));
    }
    o.extract()
}

#[pymethods]
impl CField {
    /// 3.14+: `CField(*, name, type, byte_size, byte_offset, index, _internal_use,
    /// bit_size=None, bit_offset=None)`, what `ctypes._layout` makes each member with. Earlier
    /// versions make fields only from `_fields_`.
    #[new]
    #[pyo3(signature = (*args, **kwargs))]
    fn __new__(py: Python<'_>, args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<CField> {
        if !version::at_least(py, 14) {
            return Err(PyTypeError::new_err("cannot create '_ctypes.CField' instances"));
        }
        let parse = wrap_pyfunction!(cfield_arguments, py)?;
        let made = parse.call(args, kwargs).map_err(|e| {
            // The argument parser's messages name the helper; CPython's name the class.
            let msg = e.value(py).to_string().replace("cfield_arguments()", "CField()");
            if e.is_instance_of::<PyTypeError>(py) { PyTypeError::new_err(msg) } else { e }
        })?;
        let field = made.cast_into::<CField>()?;
        let f = field.get();
        Ok(CField {
            name: f.name.clone_ref(py),
            proto: f.proto.clone_ref(py),
            offset: f.offset,
            byte_size: f.byte_size,
            index: f.index,
            bit_size: f.bit_size,
            bit_offset: f.bit_offset,
            swapped: f.swapped,
            access: f.access,
            raw: f.raw,
            anonymous: AtomicBool::new(false),
        })
    }

    fn __get__(slf: &Bound<'_, Self>, instance: Option<&Bound<'_, PyAny>>, _owner: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        match instance {
            None => Ok(slf.clone().into_any().unbind()),
            Some(obj) => slf.get().get_value(slf.py(), obj),
        }
    }

    fn __set__(&self, instance: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_value(instance, value)
    }

    fn __delete__(&self, instance: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::instance(instance)?;
        Err(PyTypeError::new_err("can't delete attribute"))
    }

    /// Byte offset of the member (of the storage window for a bit field).
    #[getter]
    fn offset(&self) -> isize {
        self.offset as isize
    }

    /// CPython 3.11's encoding: the byte size, or `(bit_size << 16) | bit_offset`.
    #[getter]
    fn size(&self) -> usize {
        if self.bit_size > 0 {
            ((self.bit_size as usize) << 16) | self.bit_offset as usize
        } else {
            self.byte_size
        }
    }

    #[getter]
    fn name(&self, py: Python<'_>) -> Py<PyString> {
        self.name.clone_ref(py)
    }

    #[getter(r#type)]
    fn type_(&self, py: Python<'_>) -> Py<PyAny> {
        self.proto.clone_ref(py)
    }

    #[getter]
    fn byte_offset(&self) -> isize {
        self.offset as isize
    }

    #[getter]
    fn byte_size(&self) -> usize {
        self.byte_size
    }

    #[getter]
    fn bit_offset(&self) -> u32 {
        self.bit_offset
    }

    /// Bits of the member: a bit field's width, else its size in bits (which may exceed
    /// `Py_ssize_t` for the largest arrays).
    #[getter]
    fn bit_size(&self) -> u128 {
        if self.bit_size > 0 {
            u128::from(self.bit_size)
        } else {
            self.byte_size as u128 * 8
        }
    }

    #[getter]
    fn is_bitfield(&self) -> bool {
        self.bit_size > 0
    }

    #[getter(is_anonymous)]
    fn get_is_anonymous(&self) -> bool {
        self.is_anonymous()
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let this = slf.get();
        let tname = class_name(this.proto.bind(py));
        if version::behaves_as(py, 14) {
            // 3.14's public name (before 3.14 the type lives in `_ctypes`).
            let ty = slf.get_type();
            let module = ty.module()?;
            let module = if module.to_str()? == "_ctypes" { "ctypes".to_owned() } else { module.to_string() };
            let cls = format!("{module}.{}", ty.qualname()?);
            let name = this.name.bind(py).repr()?;
            let ofs = this.offset as isize;
            return Ok(if this.bit_size > 0 {
                format!("<{cls} {name} type={tname}, ofs={ofs}, bit_size={}, bit_offset={}>", this.bit_size, this.bit_offset)
            } else {
                format!("<{cls} {name} type={tname}, ofs={ofs}, size={}>", this.byte_size)
            });
        }
        Ok(this.legacy_repr(&tname))
    }

    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        visit.call(&self.proto)
    }
}

impl CField {
    /// Up to 3.13: `<Field type=c_int, ofs=0, size=4>`.
    fn legacy_repr(&self, tname: &str) -> String {
        if self.bit_size > 0 {
            format!("<Field type={tname}, ofs={}:{}, bits={}>", self.offset, self.bit_offset, self.bit_size)
        } else {
            format!("<Field type={tname}, ofs={}, size={}>", self.offset, self.byte_size)
        }
    }
}

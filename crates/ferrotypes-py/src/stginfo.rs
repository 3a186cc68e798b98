//! Per-type storage information (CPython's StgDict): what every instance of a ctypes type
//! needs to know about its C representation. One immutable `StgInfo` per ctypes class,
//! stored in the class `__dict__` under `_stginfo_` by the metaclasses in `py/meta.py`.
use crate::convert::ArgConv;
use ferrotypes_core::ffi_type::FfiType;
use ferrotypes_core::simple::{self, SimpleKind};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};

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
}

/// What indexing an array needs to know about its element type.
#[derive(Clone, Copy)]
pub struct ItemInfo {
    pub size: usize,
    pub simple: Option<(&'static SimpleKind, bool)>,
}

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
    pub init_names: crate::util::GilCell<Option<(usize, u32, Py<PyTuple>)>>,
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
            init_names: crate::util::GilCell::new(None),
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
    fn simple(code: &str, swapped: bool) -> PyResult<Self> {
        let kind = code
            .bytes()
            .next()
            .and_then(SimpleKind::from_code)
            .ok_or_else(|| PyValueError::new_err(format!("_type_ '{code}' not supported")))?;
        let mut fmt = String::from(Self::endian_prefix(swapped));
        fmt.push_str(kind.format);
        let mut info = StgInfo::new(kind.size, kind.align, 0, Kind::Simple { kind, swapped }, FfiType::Static(kind.ffi_type()), &fmt);
        if matches!(kind.code, b'z' | b'Z' | b'P' | b'O') {
            info.type_flags |= flags::ISPOINTER;
        }
        Ok(info)
    }

    /// Storage info of a pointer type to `proto` (None: incomplete until `set_type`).
    #[staticmethod]
    fn pointer(py: Python<'_>, proto: Option<Bound<'_, PyAny>>) -> PyResult<Self> {
        let size = std::mem::size_of::<*const u8>();
        let target_format = match &proto {
            Some(p) => crate::util::stginfo_of_type(p)
                .map(|s| s.get().format_with_shape())
                .unwrap_or_else(|| "B".into()),
            None => "B".into(),
        };
        let mut info = StgInfo::new(size, size, 1, Kind::Pointer, FfiType::Static(simple::ffi_pointer()), &format!("&{target_format}"));
        // Indexing a pointer to a plain scalar needs no lookup of the target type (whose
        // size cannot change: only structures can be completed later).
        info.item = proto.as_ref().and_then(|p| {
            let target = crate::util::stginfo_of_type(p)?;
            let simple = target.get().simple_kind().filter(|_| !crate::simple::is_simple_subclass(p))?;
            Some(ItemInfo { size: target.get().size, simple: Some(simple) })
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
        if let Some(func) = &self.func {
            visit.call(&func.argtypes)?;
            crate::convert::traverse_converters(&func.converters, &visit)?;
            visit.call(&func.restype)?;
            visit.call(&func.checker)?;
        }
        Ok(())
    }
    fn __repr__(&self) -> String {
        format!("<StgInfo size={} align={} length={} kind={:?}>", self.size, self.align, self.length, self.kind)
    }
}

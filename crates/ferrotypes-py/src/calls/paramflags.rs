//! `paramflags`: prototypes instantiated from a library with input/output parameter flags,
//! `proto(("name", dll), ((1, "x"), (2, "result")))` (CPython's `_validate_paramflags`,
//! `_build_callargs` and `_build_result`).
//!
//! Each entry is `(flag [, name [, default]])`; the flag combines `1` (in), `2` (out) and
//! `4` (lcid). At call time:
//! 1. [`build_callargs`] builds the C argument list from the positional and keyword
//!    arguments: in-parameters are taken in order (by name from keywords, else the default);
//!    an out-parameter without default gets a fresh instance of the pointed-to type, which
//!    the pointer type's `from_param` passes by reference; lcid parameters use their default.
//! 2. After the call (and `errcheck`, which may return the arguments tuple to carry on),
//!    [`build_result`] returns the out values instead of the C result: one value alone,
//!    several as a tuple.
use crate::data::from_param::ArgConv;
use crate::data::stginfo::{stginfo_of_type, Kind};
use crate::interp::names::{class_name, type_name};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

pub const PARAMFLAG_FIN: u32 = 0x1;
pub const PARAMFLAG_FOUT: u32 = 0x2;
pub const PARAMFLAG_FLCID: u32 = 0x4;
const FLAG_MASK: u32 = PARAMFLAG_FIN | PARAMFLAG_FOUT | PARAMFLAG_FLCID;

/// What a parameter contributes to the result.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Returned {
    /// An in/out parameter: returned as passed.
    AsPassed,
    /// An out parameter: returned through `__ctypes_from_outparam__()`.
    FromOutparam,
}

/// The argument list built from positional/keyword arguments and defaults, and which
/// arguments are returned as the call's result.
pub struct BuiltArgs<'py> {
    pub args: Vec<Bound<'py, PyAny>>,
    returned: Vec<(usize, Returned)>,
}

const MALFORMED: &str = "paramflags must be a sequence of (int [,string [,value]]) tuples";

/// One parsed `(flag [, name [, default]])` entry.
struct Entry<'py> {
    flag: u32,
    name: Option<Bound<'py, PyAny>>,
    default: Option<Bound<'py, PyAny>>,
}

fn parse_entry<'py>(item: &Bound<'py, PyAny>) -> PyResult<Entry<'py>> {
    let t = item.cast::<PyTuple>().map_err(|_| PyTypeError::new_err(MALFORMED))?;
    if t.is_empty() || t.len() > 3 {
        return Err(PyTypeError::new_err(MALFORMED));
    }
    let flag = t.get_item(0)?;
    if !flag.is_instance_of::<pyo3::types::PyInt>() {
        return Err(PyTypeError::new_err(MALFORMED));
    }
    let flag = flag.extract::<i32>().map_err(|_| PyTypeError::new_err(MALFORMED))? as u32;
    let name = if t.len() > 1 { Some(t.get_item(1)?) } else { None };
    if let Some(n) = &name {
        if !n.is_none() && !n.is_instance_of::<pyo3::types::PyString>() {
            return Err(PyTypeError::new_err(MALFORMED));
        }
    }
    let name = name.filter(|n| !n.is_none());
    let default = if t.len() > 2 { Some(t.get_item(2)?) } else { None };
    Ok(Entry { flag, name, default })
}

/// An out-parameter type must be a pointer, an array, or one of the pointer-like simple
/// types (`c_void_p`, `c_char_p`, `c_wchar_p`).
fn check_outarg_type(typ: &Bound<'_, PyAny>, index: usize) -> PyResult<()> {
    if let Some(info) = stginfo_of_type(typ) {
        match info.get().kind {
            Kind::Pointer | Kind::Array => return Ok(()),
            Kind::Simple { kind, .. } if matches!(kind.code, b'P' | b'z' | b'Z') => return Ok(()),
            _ => {}
        }
    }
    let name = if typ.is_instance_of::<pyo3::types::PyType>() { class_name(typ) } else { type_name(typ) };
    Err(PyTypeError::new_err(format!("'out' parameter {index} must be a pointer type, not {name}")))
}

/// Checks `paramflags` against the prototype `cls`'s argtypes (CPython's
/// `_validate_paramflags`); nothing to check when the prototype has no argtypes.
pub fn validate(cls: &Bound<'_, PyAny>, paramflags: &Bound<'_, PyTuple>) -> PyResult<()> {
    let py = cls.py();
    let info = stginfo_of_type(cls).ok_or_else(|| PyTypeError::new_err("abstract class"))?;
    let Some(argtypes) = info.get().func.as_ref().and_then(|f| f.argtypes.as_ref()).map(|a| a.bind(py).clone()) else {
        return Ok(());
    };
    validate_against(paramflags, &argtypes)
}

/// Checks `paramflags` against `argtypes`: at construction (the prototype's), and from 3.14
/// also when a function object's `argtypes` are replaced (the new ones).
pub fn validate_against(paramflags: &Bound<'_, PyTuple>, argtypes: &Bound<'_, PyTuple>) -> PyResult<()> {
    if paramflags.len() != argtypes.len() {
        return Err(PyValueError::new_err("paramflags must have the same length as argtypes"));
    }
    for (i, item) in paramflags.iter().enumerate() {
        let entry = parse_entry(&item)?;
        match entry.flag & FLAG_MASK {
            0 | PARAMFLAG_FIN => {}
            f if f == PARAMFLAG_FIN | PARAMFLAG_FLCID || f == PARAMFLAG_FIN | PARAMFLAG_FOUT => {}
            PARAMFLAG_FOUT => check_outarg_type(&argtypes.get_item(i)?, i + 1)?,
            _ => return Err(PyTypeError::new_err(format!("paramflag value {} not supported", entry.flag as i32))),
        }
    }
    Ok(())
}

/// Takes the next in-parameter: positionally, else by name from the keywords, else the
/// default. `consumed` counts the caller's arguments used (CPython's `_get_arg`).
fn next_in_arg<'py>(
    consumed: &mut usize,
    entry: &Entry<'py>,
    args: &[Bound<'py, PyAny>],
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    if *consumed < args.len() {
        *consumed += 1;
        return Ok(args[*consumed - 1].clone());
    }
    if let (Some(kw), Some(name)) = (kwargs, &entry.name) {
        if let Some(v) = kw.get_item(name)? {
            *consumed += 1;
            return Ok(v);
        }
    }
    if let Some(d) = &entry.default {
        return Ok(d.clone());
    }
    Err(PyTypeError::new_err(match &entry.name {
        Some(n) => format!("required argument '{}' missing", n.str()?),
        None => "not enough arguments".to_string(),
    }))
}

/// Builds the C argument list of a call through a prototype with paramflags.
/// `kwargs` is the vectorcall entry's keyword holder: a 1-tuple with the keyword dict.
pub fn build_callargs<'py>(
    func: &Bound<'py, PyAny>,
    paramflags: &Bound<'py, PyAny>,
    _converters: Option<&[ArgConv]>,
    args: &[Bound<'py, PyAny>],
    kwargs: Option<&Bound<'py, PyTuple>>,
) -> PyResult<BuiltArgs<'py>> {
    let py = func.py();
    let passthrough = || BuiltArgs { args: args.to_vec(), returned: Vec::new() };
    let argtypes = func.getattr(pyo3::intern!(py, "argtypes"))?;
    if argtypes.is_none() || paramflags.is_none() {
        return Ok(passthrough());
    }
    // `argtypes` reads back whatever sequence was assigned (a list, say).
    let argtypes = match argtypes.cast::<PyTuple>() {
        Ok(t) => t.clone(),
        Err(_) => PyTuple::new(py, argtypes.try_iter()?.collect::<PyResult<Vec<_>>>()?)?,
    };
    if argtypes.is_empty() {
        return Ok(passthrough());
    }
    let paramflags = paramflags.cast::<PyTuple>().map_err(PyErr::from)?;
    let kwargs: Option<Bound<'py, PyDict>> = match kwargs {
        Some(t) => Some(t.get_item(0)?.cast_into::<PyDict>().map_err(PyErr::from)?),
        None => None,
    };

    let mut consumed = 0usize;
    let mut out = Vec::with_capacity(argtypes.len());
    let mut returned = Vec::new();
    for (i, typ) in argtypes.iter().enumerate() {
        let entry = parse_entry(&paramflags.get_item(i)?)?;
        match entry.flag & FLAG_MASK {
            f if f == PARAMFLAG_FIN | PARAMFLAG_FLCID => {
                // Always the default (or 0): the locale id is never passed by the caller.
                out.push(entry.default.clone().unwrap_or_else(|| 0i32.into_pyobject(py).expect("int").into_any()));
            }
            0 | PARAMFLAG_FIN => {
                out.push(next_in_arg(&mut consumed, &entry, args, kwargs.as_ref())?);
            }
            f if f == PARAMFLAG_FIN | PARAMFLAG_FOUT => {
                returned.push((i, Returned::AsPassed));
                out.push(next_in_arg(&mut consumed, &entry, args, kwargs.as_ref())?);
            }
            PARAMFLAG_FOUT => {
                returned.push((i, Returned::FromOutparam));
                if let Some(d) = &entry.default {
                    out.push(d.clone());
                    continue;
                }
                out.push(new_out_value(&typ)?);
            }
            _ => {
                return Err(PyValueError::new_err(format!("paramflag {} not yet implemented", entry.flag)));
            }
        }
    }
    let given = args.len() + kwargs.as_ref().map_or(0, |k| k.len());
    if given != consumed {
        return Err(PyTypeError::new_err(format!("call takes exactly {consumed} arguments ({given} given)")));
    }
    Ok(BuiltArgs { args: out, returned })
}

/// The object an out-parameter without default receives: a new array for an array type,
/// else a new instance of the pointed-to type (the pointer type's `from_param` then passes
/// it by reference).
fn new_out_value<'py>(typ: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = typ.py();
    let info = stginfo_of_type(typ).ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("NULL stgdict unexpected"))?;
    let info = info.get();
    match info.kind {
        Kind::Simple { .. } => Err(PyTypeError::new_err(format!(
            "{} 'out' parameter must be passed as default value",
            class_name(typ)
        ))),
        Kind::Array => typ.call0(),
        _ => match &info.proto {
            Some(target) => target.bind(py).call0(),
            None => Err(PyTypeError::new_err(format!("{} 'out' parameter has no target type", class_name(typ)))),
        },
    }
}

/// The call's result when output parameters exist: their values (one alone, several as a
/// tuple); otherwise `result` unchanged.
pub fn build_result(py: Python<'_>, result: Py<PyAny>, built: &BuiltArgs<'_>) -> PyResult<Py<PyAny>> {
    if built.returned.is_empty() {
        return Ok(result);
    }
    let mut values = Vec::with_capacity(built.returned.len());
    for &(i, how) in &built.returned {
        let v = &built.args[i];
        values.push(match how {
            Returned::AsPassed => v.clone(),
            Returned::FromOutparam => v.call_method0(pyo3::intern!(py, "__ctypes_from_outparam__"))?,
        });
    }
    if values.len() == 1 {
        return Ok(values.pop().expect("one value").unbind());
    }
    Ok(PyTuple::new(py, values)?.into_any().unbind())
}

//! The variadic part of a call: the `argtypes` marker and C's default argument promotions.
//!
//! `argtypes = [c_char_p, ...]` (the last item `Ellipsis`, exported as
//! `ferrotypes.VARIADIC`) says "the entries before the marker are the fixed parameters, the
//! function is variadic": every call then goes through `ffi_prep_cif_var`, even one with
//! exactly the fixed arguments. Arguments past the fixed ones get C's default argument
//! promotions, as a C compiler applies them at a `...` call site: `float` becomes `double`,
//! integers narrower than `int` (and `bool`) become `int`. libffi rejects the unpromoted
//! types in the variadic part of a cif; without the marker that error is kept, as CPython
//! reports it.
use super::convert::{self, ArgSlot, KeepAlive};
use libffi::low::types;
use pyo3::prelude::*;
use std::ptr::addr_of_mut;

/// Splits the variadic marker off an `argtypes` sequence: the fixed entries, and whether the
/// marker was the last one. A marker anywhere else is an error.
pub fn split_marker<'py>(items: Vec<Bound<'py, PyAny>>) -> PyResult<(Vec<Bound<'py, PyAny>>, bool)> {
    let mut items = items;
    let marked = items.last().is_some_and(|last| last.is(last.py().Ellipsis()));
    if marked {
        items.pop();
    }
    if let Some(pos) = items.iter().position(|it| it.is(it.py().Ellipsis())) {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "item {} in _argtypes_: the variadic marker must be the last item",
            pos + 1
        )));
    }
    Ok((items, marked))
}

/// Applies C's default argument promotions to one converted argument of the variadic part.
pub fn promote(slot: &mut ArgSlot) {
    if !slot.by_value.is_null() {
        return; // structures are passed as they are
    }
    let v = &mut slot.value.0;
    let ffi = slot.ffi;
    let widened: Option<i32> = if ffi == addr_of_mut!(types::sint8) {
        Some(i32::from(v[0] as i8))
    } else if ffi == addr_of_mut!(types::uint8) {
        Some(i32::from(v[0]))
    } else if ffi == addr_of_mut!(types::sint16) {
        Some(i32::from(i16::from_ne_bytes([v[0], v[1]])))
    } else if ffi == addr_of_mut!(types::uint16) {
        Some(i32::from(u16::from_ne_bytes([v[0], v[1]])))
    } else {
        None
    };
    if let Some(i) = widened {
        v[..4].copy_from_slice(&i.to_ne_bytes());
        slot.ffi = addr_of_mut!(types::sint32);
    } else if ffi == addr_of_mut!(types::float) {
        let f = f32::from_ne_bytes([v[0], v[1], v[2], v[3]]);
        v[..8].copy_from_slice(&f64::from(f).to_ne_bytes());
        slot.ffi = addr_of_mut!(types::double);
    }
}

/// Converts one argument of the variadic part of a call whose `argtypes` carry the marker:
/// ctypes' default conversions, plus a Python `float` passed as a C `double` (what a C
/// compiler passes for a floating-point argument to `...`).
pub fn convert_arg(arg: &Bound<'_, PyAny>, index: usize, slot: &mut ArgSlot, keep: &mut KeepAlive) -> PyResult<()> {
    if let Ok(f) = arg.cast_exact::<pyo3::types::PyFloat>() {
        slot.value.0[..8].copy_from_slice(&f.value().to_ne_bytes());
        slot.ffi = addr_of_mut!(types::double);
        return Ok(());
    }
    convert::conv_param(arg, index, slot, keep)
}

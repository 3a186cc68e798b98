//! The x86-64 System V by-value descriptors (`FfiType::sysv_by_value`, hence
//! `FfiType::sysv_x86_64`) of arbitrary aggregates: never a panic; every descriptor of 1 to
//! 16 bytes classifies, as libffi reads it, exactly as the psABI classifies the aggregate's
//! scalars at their real places (MEMORY for a misaligned one), larger ones are left to
//! libffi (MEMORY), and `ffi_prep_cif` accepts or refuses each descriptor cleanly.
#![no_main]
use ferrotypes_fuzz::{check_classification, shape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let shapes = shape::decode(data);
    let computed = shape::compute_all(&shapes);
    check_classification(&shapes, &computed);
});

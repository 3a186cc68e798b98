//! `StructLayout::compute` on arbitrary aggregates: `Ok` or a clean `Err`, never a panic,
//! an overflow or a hang, and every `Ok` has the properties `check_layout` lists.
#![no_main]
use ferrotypes_fuzz::{check_layout, shape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let shapes = shape::decode(data);
    let computed = shape::compute_all(&shapes);
    for (s, c) in shapes.iter().zip(&computed) {
        check_layout(s, c);
    }
});

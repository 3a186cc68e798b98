//! Replays the committed corpora through the fuzz targets' checks without libFuzzer
//! (`cargo test` in `fuzz/`, stable toolchain), and prints how often each verdict came up,
//! so a change to the input format that stops reaching the interesting paths shows.
use ferrotypes_fuzz::{check_classification, check_layout, shape, Verdict};
use std::path::Path;

/// The committed corpus of a target and its regression inputs.
fn corpus(name: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = ["corpus", "regressions"]
        .iter()
        .flat_map(|d| std::fs::read_dir(root.join(d).join(name)).into_iter().flatten().flatten())
        .map(|e| e.path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn layout_corpus_passes() {
    let (mut ok, mut err) = (0, 0);
    for data in corpus("layout") {
        let shapes = shape::decode(&data);
        let computed = shape::compute_all(&shapes);
        for (s, c) in shapes.iter().zip(&computed) {
            check_layout(s, c);
            if c.result.is_ok() { ok += 1 } else { err += 1 }
        }
    }
    println!("layout corpus: {ok} aggregates laid out, {err} refused");
    assert!(ok > 0 && err > 0);
}

#[test]
fn classify_corpus_passes() {
    let (mut memory, mut x87, mut registers, mut sse) = (0, 0, 0, 0);
    for data in corpus("classify") {
        let shapes = shape::decode(&data);
        let computed = shape::compute_all(&shapes);
        for v in check_classification(&shapes, &computed).verdicts.into_iter().flatten() {
            match v {
                Verdict::Memory => memory += 1,
                Verdict::X87 => x87 += 1,
                Verdict::Registers(c) => {
                    registers += 1;
                    if c.contains(&ferrotypes_fuzz::Class::Sse) { sse += 1 }
                }
            }
        }
    }
    println!("classify corpus: {memory} MEMORY, {x87} X87, {registers} in registers ({sse} with an SSE eightbyte)");
    assert!(memory > 0 && registers > 0 && sse > 0);
}

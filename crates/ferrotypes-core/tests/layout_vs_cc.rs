//! Randomized comparison of `StructLayout::compute` with the system C compiler.
//!
//! Generates random structures and unions (every C scalar type, arrays, nested aggregates,
//! bit fields of mixed types and widths, `#pragma pack`, `__attribute__((aligned))`, base
//! members, big-endian storage via GCC's `scalar_storage_order`), writes one C program that
//! prints what the compiler made of them, compiles it once and compares line by line.
//! `LayoutKind::GccSysv` is checked against plain GCC, `LayoutKind::Ms` against GCC's
//! `ms_struct` attribute (its MSVC emulation).
//!
//! Ordinary members are compared by `offsetof`; bit fields by the exact bits they occupy:
//! the program zeroes an object, stores all ones into the field and dumps the bytes, and the
//! test derives the same bytes from `offset`/`size`/`bit_offset`/`bit_size`.
//!
//! `FERROTYPES_LAYOUT_CASES` sets the number of top-level aggregates (default 500) and
//! `FERROTYPES_LAYOUT_SEED` the generator seed. Without a `cc` on the PATH the test says so
//! and passes.
//!
//! A third test takes its aggregates from the committed fuzz corpora instead
//! (`fuzz/corpus/layout` and `fuzz/corpus/classify`, decoded by `fuzz/src/shape.rs`): every
//! aggregate there that C can express (valid, no `_pack_`/`_align_` C lacks, no sizes only
//! a custom type could claim) is compared the same way, both rule sets mixed.
//! `FERROTYPES_LAYOUT_CORPUS_FILES` limits how many corpus files are read (default: all).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use ferrotypes_core::layout::{FieldLayout, FieldRequest, LayoutKind, LayoutRequest, StructLayout};

/// The fuzz targets' input format (`fuzz/src/shape.rs`), to replay their corpus here.
#[path = "../../../fuzz/src/shape.rs"]
#[allow(dead_code)]
mod shape;

/// splitmix64: tiny, deterministic, good enough to pick shapes.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound`.
    fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A C scalar type as GCC on x86-64 sees it.
#[derive(Clone, Copy)]
struct Scalar {
    c_name: &'static str,
    size: usize,
    align: usize,
    /// May be the declared type of a bit field.
    integer: bool,
}

const fn scalar(c_name: &'static str, size: usize, align: usize, integer: bool) -> Scalar {
    Scalar {
        c_name,
        size,
        align,
        integer,
    }
}

const SCALARS: &[Scalar] = &[
    scalar("char", 1, 1, true),
    scalar("signed char", 1, 1, true),
    scalar("unsigned char", 1, 1, true),
    scalar("short", 2, 2, true),
    scalar("unsigned short", 2, 2, true),
    scalar("int", 4, 4, true),
    scalar("unsigned int", 4, 4, true),
    scalar("long", 8, 8, true),
    scalar("unsigned long", 8, 8, true),
    scalar("long long", 8, 8, true),
    scalar("unsigned long long", 8, 8, true),
    scalar("_Bool", 1, 1, true),
    scalar("float", 4, 4, false),
    scalar("double", 8, 8, false),
    scalar("long double", 16, 16, false),
    scalar("void *", 8, 8, false),
    scalar("char *", 8, 8, false),
];

fn integer_scalars() -> Vec<Scalar> {
    SCALARS.iter().copied().filter(|s| s.integer).collect()
}

#[derive(Clone, Copy)]
enum Member {
    Scalar(Scalar),
    Array(Scalar, usize),
    BitField(Scalar, u32),
    /// Index of another generated aggregate.
    Nested(usize),
    NestedArray(usize, usize),
}

struct Case {
    name: String,
    is_union: bool,
    pack: Option<usize>,
    min_align: usize,
    big_endian: bool,
    /// A leading member standing for a ctypes base class (structures only).
    base: Option<usize>,
    members: Vec<Member>,
    /// The aggregates this one names, for printing a mismatch on its own.
    depends_on: Vec<usize>,
    c_definition: String,
    layout: StructLayout,
}

fn field_request(cases: &[Case], member: Member) -> FieldRequest {
    let (size, align, bit_width) = match member {
        Member::Scalar(s) => (s.size, s.align, None),
        Member::Array(s, n) => (s.size * n, s.align, None),
        Member::BitField(s, width) => (s.size, s.align, Some(width)),
        Member::Nested(i) => (cases[i].layout.size, cases[i].layout.align, None),
        Member::NestedArray(i, n) => (cases[i].layout.size * n, cases[i].layout.align, None),
    };
    FieldRequest {
        size,
        align,
        bit_width,
    }
}

/// Generate one aggregate (and, first, the aggregates it nests); returns its index.
fn generate(rng: &mut Rng, cases: &mut Vec<Case>, depth: usize, kind: LayoutKind) -> usize {
    let is_union = rng.chance(20);
    // GCC's `ms_struct` sizes a packed union by the bytes its bit fields touch, where
    // CPython's "ms" layout (which ours follows) counts their whole declared type: the two
    // are only compared on unpacked unions.
    let packable = !(is_union && kind == LayoutKind::Ms);
    let pack = (packable && rng.chance(40)).then(|| rng.pick(&[1, 2, 4, 8]));
    let min_align = if rng.chance(20) {
        rng.pick(&[1, 2, 4, 8, 16, 32])
    } else {
        0
    };
    let big_endian = rng.chance(20);
    // ctypes does not shrink a base's alignment under `_pack_`, while GCC would shrink a
    // leading member's: only the unpacked case has a C equivalent.
    let base = (!is_union && pack.is_none() && depth < 2 && rng.chance(10))
        .then(|| generate(rng, cases, depth + 1, kind));
    let integers = integer_scalars();
    let member_count = 1 + rng.below(if is_union { 5 } else { 9 });
    // Runs of one bit-field type are where sharing rules show; favour them.
    let mut last_bit_type = rng.pick(&integers);
    let mut members = Vec::with_capacity(member_count);
    for _ in 0..member_count {
        let roll = rng.below(100);
        let member = if roll < 45 {
            let ty = if rng.chance(50) {
                last_bit_type
            } else {
                rng.pick(&integers)
            };
            last_bit_type = ty;
            let type_bits = ty.size as u32 * 8;
            let width = if ty.c_name == "_Bool" {
                1
            } else if rng.chance(15) {
                type_bits
            } else if rng.chance(50) {
                1 + rng.below(type_bits.min(12) as usize) as u32
            } else {
                1 + rng.below(type_bits as usize) as u32
            };
            Member::BitField(ty, width)
        } else if roll < 75 || depth >= 2 {
            Member::Scalar(rng.pick(SCALARS))
        } else if roll < 85 {
            Member::Array(rng.pick(SCALARS), 1 + rng.below(4))
        } else if roll < 95 {
            Member::Nested(generate(rng, cases, depth + 1, kind))
        } else {
            let inner = generate(rng, cases, depth + 1, kind);
            Member::NestedArray(inner, 1 + rng.below(3))
        };
        members.push(member);
    }

    make_case(cases, kind, is_union, pack, min_align, big_endian, base, members)
}

/// Lay out one aggregate (its nested ones are in `cases` already), write its C definition
/// and add it; returns its index. Shared by the random generator and the fuzz corpus.
#[allow(clippy::too_many_arguments)]
fn make_case(
    cases: &mut Vec<Case>,
    kind: LayoutKind,
    is_union: bool,
    pack: Option<usize>,
    min_align: usize,
    big_endian: bool,
    base: Option<usize>,
    members: Vec<Member>,
) -> usize {
    let index = cases.len();
    let name = format!("A{index}");
    let requests: Vec<FieldRequest> = members.iter().map(|&m| field_request(cases, m)).collect();
    let (base_size, base_align) =
        base.map_or((0, 1), |b| (cases[b].layout.size, cases[b].layout.align));
    let layout = StructLayout::compute(&LayoutRequest {
        fields: &requests,
        is_union,
        pack,
        min_align,
        kind,
        base_size,
        base_align,
        big_endian,
    })
    .expect("generated requests are valid");

    let mut depends_on: Vec<usize> = base.into_iter().collect();
    let mut c_definition = String::new();
    if let Some(pack) = pack {
        writeln!(c_definition, "#pragma pack(push, {pack})").unwrap();
    }
    let mut attributes = Vec::new();
    if kind == LayoutKind::Ms {
        attributes.push("ms_struct".to_owned());
    }
    if min_align > 0 {
        attributes.push(format!("aligned({min_align})"));
    }
    if big_endian {
        attributes.push("scalar_storage_order(\"big-endian\")".to_owned());
    }
    let keyword = if is_union { "union" } else { "struct" };
    let attributes = if attributes.is_empty() {
        String::new()
    } else {
        format!(" __attribute__(({}))", attributes.join(", "))
    };
    writeln!(c_definition, "typedef {keyword}{attributes} {name} {{").unwrap();
    if let Some(b) = base {
        writeln!(c_definition, "    {} base;", cases[b].name).unwrap();
    }
    for (i, member) in members.iter().enumerate() {
        let declaration = match *member {
            Member::Scalar(s) => format!("{} f{i};", s.c_name),
            Member::Array(s, n) => format!("{} f{i}[{n}];", s.c_name),
            Member::BitField(s, width) => format!("{} f{i} : {width};", s.c_name),
            Member::Nested(inner) => {
                depends_on.push(inner);
                format!("{} f{i};", cases[inner].name)
            }
            Member::NestedArray(inner, n) => {
                depends_on.push(inner);
                format!("{} f{i}[{n}];", cases[inner].name)
            }
        };
        writeln!(c_definition, "    {declaration}").unwrap();
    }
    writeln!(c_definition, "}} {name};").unwrap();
    if pack.is_some() {
        writeln!(c_definition, "#pragma pack(pop)").unwrap();
    }

    cases.push(Case {
        name,
        is_union,
        pack,
        min_align,
        big_endian,
        base,
        members,
        depends_on,
        c_definition,
        layout,
    });
    index
}

/// The C function that prints what the compiler did with case `index`.
fn c_checker(index: usize, case: &Case) -> String {
    let name = &case.name;
    let mut code = format!("static void check_{name}(void) {{\n");
    writeln!(
        code,
        "    printf(\"{index} S %zu %zu\\n\", sizeof({name}), _Alignof({name}));"
    )
    .unwrap();
    for (i, member) in case.members.iter().enumerate() {
        match member {
            Member::BitField(ty, _) => {
                let all_ones = if ty.c_name == "_Bool" { "1" } else { "-1" };
                writeln!(
                    code,
                    "    {{ {name} v; memset(&v, 0, sizeof v); v.f{i} = {all_ones}; \
                     dump({index}, {i}, &v, sizeof v); }}"
                )
                .unwrap();
            }
            _ => writeln!(
                code,
                "    printf(\"{index} O {i} %zu\\n\", offsetof({name}, f{i}));"
            )
            .unwrap(),
        }
    }
    code.push_str("}\n");
    code
}

/// The lines `c_checker` would print if the compiler agreed with `StructLayout::compute`.
fn expected_lines(index: usize, case: &Case) -> Vec<String> {
    let layout = &case.layout;
    let mut lines = vec![format!("{index} S {} {}", layout.size, layout.align)];
    for (i, (member, field)) in case.members.iter().zip(&layout.fields).enumerate() {
        match member {
            Member::BitField(..) => {
                let mut bytes = vec![0u8; layout.size];
                if field.offset + field.size > layout.size {
                    lines.push(format!(
                        "{index} window {i} ({}+{}) overruns the aggregate",
                        field.offset, field.size
                    ));
                }
                for bit in field.bit_offset..field.bit_offset + field.bit_size {
                    let byte_in_window = (bit / 8) as usize;
                    let byte_in_window = if case.big_endian {
                        field.size - 1 - byte_in_window
                    } else {
                        byte_in_window
                    };
                    if let Some(byte) = bytes.get_mut(field.offset + byte_in_window) {
                        *byte |= 1 << (bit % 8);
                    }
                }
                let hex: String = bytes.iter().map(|b| format!(" {b:02x}")).collect();
                lines.push(format!("{index} B {i}{hex}"));
            }
            _ => lines.push(format!("{index} O {i} {}", field.offset)),
        }
    }
    lines
}

fn print_definition(cases: &[Case], index: usize, out: &mut String) {
    for &dep in &cases[index].depends_on {
        print_definition(cases, dep, out);
    }
    out.push_str(&cases[index].c_definition);
}

fn cc_available() -> bool {
    Command::new("cc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
        })
        .unwrap_or(default)
}

#[test]
fn gcc_sysv_layout_matches_the_c_compiler() {
    compare_with_cc(LayoutKind::GccSysv);
}

#[test]
fn ms_layout_matches_gcc_ms_struct() {
    compare_with_cc(LayoutKind::Ms);
}

fn compare_with_cc(kind: LayoutKind) {
    if !cc_available() {
        println!("skipping layout_vs_cc: no `cc` on PATH");
        return;
    }
    let top_level = env_number("FERROTYPES_LAYOUT_CASES", 500) as usize;
    let seed = env_number("FERROTYPES_LAYOUT_SEED", 0x5EED_0FC7_1A0E_u64);
    let mut rng = Rng(seed);
    let mut cases = Vec::new();
    for _ in 0..top_level {
        generate(&mut rng, &mut cases, 0, kind);
    }
    check_against_cc(
        &format!("layout_vs_cc {kind:?}"),
        &format!("layout_vs_cc_{kind:?}_{seed:x}_{top_level}"),
        &format!("{top_level} top-level, seed {seed:#x}"),
        &cases,
    );
}

/// Compile one program printing what the C compiler made of every case, and compare it
/// with `StructLayout::compute`; fails listing the first 20 differing aggregates.
fn check_against_cc(label: &str, dir_name: &str, origin: &str, cases: &[Case]) {
    let mut program = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <string.h>\n\
         static void dump(int c, int f, const void *p, size_t n) {\n\
         \x20   const unsigned char *b = p;\n\
         \x20   printf(\"%d B %d\", c, f);\n\
         \x20   for (size_t i = 0; i < n; i++) printf(\" %02x\", b[i]);\n\
         \x20   printf(\"\\n\");\n}\n",
    );
    for case in cases {
        program.push_str(&case.c_definition);
    }
    for (index, case) in cases.iter().enumerate() {
        program.push_str(&c_checker(index, case));
    }
    program.push_str("int main(void) {\n");
    for case in cases {
        writeln!(program, "    check_{}();", case.name).unwrap();
    }
    program.push_str("    return 0;\n}\n");

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(dir_name);
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("layouts.c");
    let binary = dir.join("layouts");
    std::fs::write(&source, &program).unwrap();
    let compiled = Command::new("cc")
        .args(["-std=gnu11", "-O0", "-w", "-o"])
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("run cc");
    assert!(
        compiled.status.success(),
        "cc failed on {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&compiled.stderr)
    );
    let run = Command::new(&binary)
        .output()
        .expect("run the layout program");
    assert!(run.status.success(), "the layout program failed");

    let mut actual: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for line in String::from_utf8(run.stdout).unwrap().lines() {
        let index: usize = line.split(' ').next().unwrap().parse().unwrap();
        actual.entry(index).or_default().push(line.to_owned());
    }

    let mut report = String::new();
    let mut mismatches = 0;
    for (index, case) in cases.iter().enumerate() {
        let expected = expected_lines(index, case);
        let got = actual.remove(&index).unwrap_or_default();
        if expected == got {
            continue;
        }
        mismatches += 1;
        if mismatches <= 20 {
            let mut definition = String::new();
            print_definition(cases, index, &mut definition);
            writeln!(
                report,
                "--- {} (union={}, pack={:?}, align={}, big_endian={}, base={:?})\n{definition}\
                 computed: {:?}\nexpected lines:\n  {}\ncompiler lines:\n  {}\n",
                case.name,
                case.is_union,
                case.pack,
                case.min_align,
                case.big_endian,
                case.base.map(|b| &cases[b].name),
                case.layout,
                expected.join("\n  "),
                got.join("\n  "),
            )
            .unwrap();
        }
    }
    // How often the rarer paths were exercised, so a generator change cannot quietly stop
    // covering them.
    let bit_fields: Vec<(&Member, &FieldLayout)> = cases
        .iter()
        .flat_map(|case| case.members.iter().zip(&case.layout.fields))
        .filter(|(_, field)| field.bit_size > 0)
        .collect();
    let odd_windows = bit_fields
        .iter()
        .filter(
            |(member, field)| matches!(member, Member::BitField(ty, _) if ty.size != field.size),
        )
        .count();
    println!(
        "{label}: {} aggregates ({origin}; {} packed, \
         {} unions, {} big-endian), {} bit fields ({odd_windows} read through a window wider or \
         narrower than their type): {mismatches} mismatches",
        cases.len(),
        cases.iter().filter(|c| c.pack.is_some()).count(),
        cases.iter().filter(|c| c.is_union).count(),
        cases.iter().filter(|c| c.big_endian).count(),
        bit_fields.len(),
    );
    assert!(
        mismatches == 0,
        "{mismatches} of {} aggregates differ from cc (first 20 shown):\n{report}",
        cases.len()
    );
}

/// The complex kinds, only reached from the fuzz corpus.
const COMPLEX_SCALARS: &[Scalar] = &[
    scalar("float _Complex", 8, 4, false),
    scalar("double _Complex", 16, 8, false),
    scalar("long double _Complex", 32, 16, false),
];

/// The C spelling of a scalar-table type, as GCC on x86-64 Linux lays it out.
fn scalar_of_kind(kind: &ferrotypes_core::simple::SimpleKind) -> Scalar {
    let name = match kind.code {
        b'F' => "float _Complex",
        b'D' => "double _Complex",
        b'G' => "long double _Complex",
        b'c' => "char",
        b'b' => "signed char",
        b'B' => "unsigned char",
        b'h' | b'v' => "short",
        b'H' => "unsigned short",
        b'i' | b'u' => "int",
        b'I' => "unsigned int",
        b'l' => "long",
        b'L' => "unsigned long",
        b'q' => "long long",
        b'Q' => "unsigned long long",
        b'f' => "float",
        b'd' => "double",
        b'g' => "long double",
        b'?' => "_Bool",
        _ => "void *",
    };
    let s = SCALARS.iter().chain(COMPLEX_SCALARS).copied().find(|s| s.c_name == name).expect("a scalar of the table");
    assert_eq!((s.size, s.align), (kind.size, kind.align), "{name}");
    s
}

/// Turn the fuzz input `data` into cases; the aggregates C cannot express are dropped (and
/// so is everything that uses them).
fn cases_from_input(data: &[u8], cases: &mut Vec<Case>) {
    use shape::{Elem, MemberShape};
    let shapes = shape::decode(data);
    let computed = shape::compute_all(&shapes);
    // Index of each shape's case, if it became one.
    let mut made: Vec<Option<usize>> = Vec::with_capacity(shapes.len());
    for (s, c) in shapes.iter().zip(&computed) {
        let expressible = c.result.as_ref().is_ok_and(|l| l.size <= 1 << 16)
            && matches!(s.pack, None | Some(1 | 2 | 4 | 8 | 16))
            && (s.min_align == 0 || s.min_align.is_power_of_two() && s.min_align <= 1 << 12)
            // As the generator: GCC's ms_struct sizes packed unions differently from
            // CPython's "ms", and a base is only a leading member when nothing is packed.
            && !(s.is_union && s.kind == LayoutKind::Ms && s.pack.is_some())
            && s.base.is_none_or(|_| !s.is_union && s.pack.is_none());
        let elem = |e: Elem| -> Option<Result<Scalar, usize>> {
            match e {
                Elem::Scalar(k) => Some(Ok(scalar_of_kind(k))),
                Elem::Aggregate(j) => made[j].map(Err),
                Elem::Raw { .. } => None,
            }
        };
        let members: Option<Vec<Member>> = s
            .members
            .iter()
            .map(|&m| match m {
                MemberShape::Plain(e) => Some(match elem(e)? {
                    Ok(sc) => Member::Scalar(sc),
                    Err(j) => Member::Nested(j),
                }),
                MemberShape::Array(e, n) if (1..=64).contains(&n) => Some(match elem(e)? {
                    Ok(sc) => Member::Array(sc, n),
                    Err(j) => Member::NestedArray(j, n),
                }),
                MemberShape::Bits(Elem::Scalar(k), w) => {
                    let sc = scalar_of_kind(k);
                    let max = if sc.c_name == "_Bool" { 1 } else { 8 * sc.size as u32 };
                    (sc.integer && (1..=max).contains(&w)).then_some(Member::BitField(sc, w))
                }
                _ => None,
            })
            .collect();
        let base = match s.base {
            Some(b) => made[b].map(Some),
            None => Some(None),
        };
        made.push(match (expressible, members, base) {
            (true, Some(members), Some(base)) => {
                let index = make_case(cases, s.kind, s.is_union, s.pack, s.min_align, s.big_endian, base, members);
                assert_eq!(
                    Ok(&cases[index].layout),
                    c.result.as_ref(),
                    "the corpus replay laid out {} differently from the fuzz target",
                    cases[index].name
                );
                Some(index)
            }
            _ => None,
        });
    }
}

/// The aggregates C can express from the committed corpora of both Rust fuzz targets, and
/// how many corpus files they came from.
fn corpus_cases() -> (Vec<Case>, usize) {
    let limit = env_number("FERROTYPES_LAYOUT_CORPUS_FILES", u64::MAX) as usize;
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files: Vec<PathBuf> = ["corpus/layout", "corpus/classify"]
        .iter()
        .flat_map(|d| std::fs::read_dir(fuzz.join(d)).into_iter().flatten().flatten())
        .map(|e| e.path())
        .collect();
    files.sort();
    files.truncate(limit);
    assert!(!files.is_empty(), "no fuzz corpus under {}", fuzz.display());
    let mut cases = Vec::new();
    for file in &files {
        cases_from_input(&std::fs::read(file).unwrap(), &mut cases);
    }
    assert!(cases.len() > 100, "only {} expressible aggregates in the corpus", cases.len());
    (cases, files.len())
}

#[test]
fn fuzz_corpus_layouts_match_the_c_compiler() {
    if !cc_available() {
        println!("skipping layout_vs_cc: no `cc` on PATH");
        return;
    }
    let (cases, files) = corpus_cases();
    check_against_cc(
        "layout_vs_cc fuzz corpus",
        &format!("layout_vs_cc_corpus_{files}"),
        &format!("from {files} corpus files"),
        &cases,
    );
}

// --- By value: the corpus aggregates passed to and returned from C ----------------------
//
// The classify fuzz target checks `FfiType::sysv_by_value` against an independent model of
// the psABI; this checks the same descriptors against the C compiler itself. Every corpus
// aggregate C can express (up to 64 bytes) gets three C functions,
//   void take_A(unsigned char *out, A s)              copies the argument it received out,
//   void take_late_A(out, 4 longs, 7 doubles, A s)    the same with one register of each left,
//   A give_A(const unsigned char *in)                returns an aggregate holding `in`,
// called through libffi with the descriptor the extension would build (`out` first, so a
// wrong classification shows as wrong bytes rather than a wild pointer). The value bits
// (scalars' value bytes and bit fields' bits, not padding) must arrive unchanged. The shapes
// that `tests/test_layout_vs_cc.py` leaves out of its by-value part are left out here for the
// same reasons (`by_value_exclusion`).

use ferrotypes_core::call::CallInterface;
use ferrotypes_core::ffi_type::{ByValueMember, FfiType};
use ferrotypes_core::simple::{self, SimpleKind};
use std::ffi::{c_void, CString};

/// The ctypes type code of a scalar of the table.
fn code_of(s: Scalar) -> u8 {
    match s.c_name {
        "char" => b'c',
        "signed char" => b'b',
        "unsigned char" => b'B',
        "short" => b'h',
        "unsigned short" => b'H',
        "int" => b'i',
        "unsigned int" => b'I',
        "long" => b'l',
        "unsigned long" => b'L',
        "long long" => b'q',
        "unsigned long long" => b'Q',
        "_Bool" => b'?',
        "float" => b'f',
        "double" => b'd',
        "long double" => b'g',
        "float _Complex" => b'F',
        "double _Complex" => b'D',
        "long double _Complex" => b'G',
        _ => b'P',
    }
}

fn scalar_ffi(s: Scalar) -> FfiType {
    FfiType::Static(SimpleKind::from_code(code_of(s)).expect("a simple type").ffi_type())
}

/// The by-value descriptor of an array member of `n` elements of type `item`, as the
/// extension's `array_type_info` builds it: classified as GCC does where it is small, else a
/// plain element list.
fn array_ffi(item: FfiType, n: usize, r: &FieldRequest) -> FfiType {
    FfiType::sysv_array(&item, r.size.checked_div(n).unwrap_or(0), n, r.align)
        .unwrap_or_else(|| FfiType::aggregate(r.size, r.align, vec![item; n]))
}

/// The by-value descriptor of every case, built as the extension builds it (and as
/// `fuzz/src/lib.rs` does for the classify target); an empty aggregate as an empty STRUCT.
fn by_value_types(cases: &[Case]) -> Vec<FfiType> {
    let mut types: Vec<FfiType> = Vec::with_capacity(cases.len());
    for case in cases {
        let requests: Vec<FieldRequest> = case.members.iter().map(|&m| field_request(cases, m)).collect();
        let member_types: Vec<FfiType> = case
            .members
            .iter()
            .zip(&requests)
            .map(|(&m, r)| match m {
                Member::Scalar(s) | Member::BitField(s, _) => scalar_ffi(s),
                Member::Array(s, n) => array_ffi(scalar_ffi(s), n, r),
                Member::Nested(j) => types[j].clone(),
                Member::NestedArray(j, n) => array_ffi(types[j].clone(), n, r),
            })
            .collect();
        let members: Vec<ByValueMember<'_>> = member_types
            .iter()
            .zip(&requests)
            .map(|(ty, r)| ByValueMember { ty, size: r.size, bits: r.bit_width })
            .collect();
        let base = case.base.filter(|&b| cases[b].layout.size > 0).map(|b| types[b].clone());
        let ty = FfiType::sysv_by_value(&case.layout, base.as_ref(), &members, case.is_union, case.big_endian)
            .unwrap_or_else(|| FfiType::aggregate(0, case.layout.align, vec![]));
        types.push(ty);
    }
    types
}

/// Marks in `mask` (one bit per bit of the object) the bits of case `index`, placed at `at`,
/// that hold a value: its scalars' bytes (ten of a `long double`'s sixteen, the low bit of a
/// `_Bool`) and its bit fields' bits; padding stays clear.
fn value_bits(cases: &[Case], index: usize, at: usize, mask: &mut [u8]) {
    fn scalar_bits(s: Scalar, at: usize, mask: &mut [u8]) {
        let ranges: &[(usize, usize)] = match s.c_name {
            "long double" => &[(0, 10)],
            "long double _Complex" => &[(0, 10), (16, 26)],
            _ => &[(0, s.size)],
        };
        for &(from, to) in ranges {
            for byte in &mut mask[at + from..at + to] {
                *byte = if s.c_name == "_Bool" { 1 } else { 0xff };
            }
        }
    }
    let case = &cases[index];
    if let Some(b) = case.base {
        value_bits(cases, b, at, mask);
    }
    for (member, field) in case.members.iter().zip(&case.layout.fields) {
        let here = at + field.offset;
        match *member {
            Member::Scalar(s) => scalar_bits(s, here, mask),
            Member::Array(s, n) => (0..n).for_each(|k| scalar_bits(s, here + k * s.size, mask)),
            Member::BitField(..) => {
                for bit in field.bit_offset..field.bit_offset + field.bit_size {
                    let byte = (bit / 8) as usize;
                    let byte = if case.big_endian { field.size - 1 - byte } else { byte };
                    mask[here + byte] |= 1 << (bit % 8);
                }
            }
            Member::Nested(j) => value_bits(cases, j, here, mask),
            Member::NestedArray(j, n) => {
                (0..n).for_each(|k| value_bits(cases, j, here + k * cases[j].layout.size, mask))
            }
        }
    }
}

/// Where the scalars of case `index` (placed at `at`) lie and how they must be aligned, as
/// the psABI checks them for classification. As `misaligned_inside` in
/// `tests/test_layout_vs_cc.py`: a structure's bit fields are not scalars (but with
/// `whole_mode_bit_fields`, one of 8/16/32/64 bits at a multiple of its width is, as GCC makes
/// it), a union's count as the smallest integer holding them, and `first_elements_only` looks
/// at the first element of an array only, as GCC does.
fn scalar_places(
    cases: &[Case],
    index: usize,
    at: usize,
    first_elements_only: bool,
    whole_mode_bit_fields: bool,
    out: &mut Vec<(usize, usize)>,
) {
    let case = &cases[index];
    if let Some(b) = case.base {
        scalar_places(cases, b, at, first_elements_only, whole_mode_bit_fields, out);
    }
    for (member, field) in case.members.iter().zip(&case.layout.fields) {
        let here = at + field.offset;
        let count = |n: usize| if first_elements_only { n.min(1) } else { n };
        match *member {
            Member::BitField(_, width) if !case.is_union => {
                let first = if case.big_endian {
                    field.size as u32 * 8 - field.bit_offset - width
                } else {
                    field.bit_offset
                };
                if whole_mode_bit_fields
                    && matches!(width, 8 | 16 | 32 | 64)
                    && (field.offset as u32 * 8 + first) % width == 0
                {
                    out.push((here + first as usize / 8, width as usize / 8));
                }
            }
            Member::BitField(_, width) => {
                out.push((here, [1, 2, 4, 8].into_iter().find(|n| 8 * n >= width).unwrap_or(8) as usize))
            }
            Member::Scalar(s) => out.push((here, s.align)),
            Member::Array(s, n) => (0..count(n)).for_each(|k| out.push((here + k * s.size, s.align))),
            Member::Nested(j) => {
                scalar_places(cases, j, here, first_elements_only, whole_mode_bit_fields, out)
            }
            Member::NestedArray(j, n) => (0..count(n)).for_each(|k| {
                scalar_places(cases, j, here + k * cases[j].layout.size, first_elements_only, whole_mode_bit_fields, out)
            }),
        }
    }
}

fn misaligned_inside(cases: &[Case], index: usize, first_elements_only: bool, whole_mode_bit_fields: bool) -> bool {
    let mut places = Vec::new();
    scalar_places(cases, index, 0, first_elements_only, whole_mode_bit_fields, &mut places);
    places.iter().any(|&(at, align)| at % align != 0)
}

/// Every aggregate case `index` nests, at any depth (its base included).
fn dependencies(cases: &[Case], index: usize, out: &mut Vec<usize>) {
    for &d in &cases[index].depends_on {
        out.push(d);
        dependencies(cases, d, out);
    }
}

/// Why case `index` is not compared, if it is not. The reasons of `by_value_supported` in
/// `tests/test_layout_vs_cc.py`: a shape libffi cannot express and the one corner of GCC's
/// classification that ferrotypes does not model (GCC looks at an array's first element
/// only and makes a whole-mode bit field an ordinary member: so does ferrotypes).
fn by_value_exclusion(cases: &[Case], index: usize) -> Option<&'static str> {
    let layout = &cases[index].layout;
    if layout.size == 0 {
        return Some("empty");
    }
    if layout.align > 16 {
        return Some("aligned beyond libffi's 16-byte argument area");
    }
    let gcc_misaligned = |i: usize| misaligned_inside(cases, i, true, true);
    let mut deps = Vec::new();
    dependencies(cases, index, &mut deps);
    if !gcc_misaligned(index) && deps.iter().any(|&d| gcc_misaligned(d)) {
        return Some("a nested aggregate misaligned inside itself, realigned by the enclosing one");
    }
    None
}

/// A 64-byte-aligned scratch buffer for an argument, a result or a copy.
#[repr(C, align(64))]
struct Buf([u8; 128]);

/// Calls `func` through `cif` with `args`, into `result`.
///
/// # Safety
/// `func` must be a C function of the signature `cif` describes and each of `args` must point
/// to a live value of its parameter's type (pointers it receives must be valid as the function
/// uses them).
unsafe fn call(cif: &CallInterface, func: *mut c_void, args: &mut [*mut c_void], result: &mut Buf) {
    assert_eq!(args.len(), cif.nargs());
    assert!(cif.result_size() <= result.0.len());
    // SAFETY: the caller vouches for `func` and `args`; `result` is 128 bytes, 64-aligned,
    // at least the result size checked above.
    unsafe { cif.call(func, result.0.as_mut_ptr().cast(), args.as_mut_ptr()) }
}

#[test]
fn fuzz_corpus_by_value_matches_the_c_compiler() {
    if !cc_available() || !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        println!("skipping the by-value corpus comparison: no `cc`, or not x86-64 Linux");
        return;
    }
    let (cases, files) = corpus_cases();
    let types = by_value_types(&cases);
    let chosen: Vec<usize> = (0..cases.len()).filter(|&i| (1..=64).contains(&cases[i].layout.size)).collect();

    let mut program = String::from("#include <string.h>\n");
    for case in &cases {
        program.push_str(&case.c_definition);
    }
    for &i in &chosen {
        let name = &cases[i].name;
        writeln!(
            program,
            "void take_{name}(unsigned char *out, {name} s) {{ memcpy(out, &s, sizeof s); }}\n\
             void take_late_{name}(unsigned char *out, long i0, long i1, long i2, long i3, \
             double d0, double d1, double d2, double d3, double d4, double d5, double d6, \
             {name} s) {{ memcpy(out, &s, sizeof s); }}\n\
             {name} give_{name}(const unsigned char *in) {{ {name} s; memcpy(&s, in, sizeof s); return s; }}"
        )
        .unwrap();
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("layout_vs_cc_by_value_{files}"));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("by_value.c");
    let library = dir.join("libby_value.so");
    std::fs::write(&source, &program).unwrap();
    let compiled = Command::new("cc")
        .args(["-std=gnu11", "-O2", "-w", "-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .output()
        .expect("run cc");
    assert!(
        compiled.status.success(),
        "cc failed on {}:\n{}",
        source.display(),
        String::from_utf8_lossy(&compiled.stderr)
    );
    let path = CString::new(library.to_str().unwrap()).unwrap();
    let lib = ferrotypes_core::loader::open(Some(&path), libc::RTLD_NOW).expect("load the by-value library");

    let pointer = || FfiType::Static(simple::ffi_pointer());
    let long = scalar_ffi(scalar("long", 8, 8, true));
    let double = scalar_ffi(scalar("double", 8, 8, false));
    let mut rng = Rng(0x0B1_7A1E);
    let (mut compared, mut in_registers_range) = (0, 0);
    let mut excluded: BTreeMap<&str, usize> = BTreeMap::new();
    let mut report = String::new();
    let mut mismatches = 0;
    for &i in &chosen {
        let case = &cases[i];
        let size = case.layout.size;
        let ty = &types[i];
        let mut mask = vec![0u8; size];
        value_bits(&cases, i, 0, &mut mask);
        let mut value = Buf([0; 128]);
        value.0.iter_mut().for_each(|b| *b = rng.next_u64() as u8);
        let sent = value.0;
        let mut differs = |what: &str, got: &[u8]| {
            let bad: Vec<usize> = (0..size).filter(|&k| (got[k] ^ sent[k]) & mask[k] != 0).collect();
            if bad.is_empty() {
                return;
            }
            mismatches += 1;
            if mismatches <= 20 {
                let mut definition = String::new();
                print_definition(&cases, i, &mut definition);
                writeln!(
                    report,
                    "--- {what}_{} ({size} bytes, descriptor {ty:?}), value bits differ at bytes {bad:?}\n\
                     {definition}sent {:02x?}\ngot  {:02x?}\nmask {:02x?}\n",
                    case.name,
                    &sent[..size],
                    &got[..size],
                    mask
                )
                .unwrap();
            }
        };
        let symbol = |prefix: &str| ferrotypes_core::loader::symbol(lib, &format!("{prefix}_{}", case.name)).unwrap();
        if let Some(reason) = by_value_exclusion(&cases, i) {
            *excluded.entry(reason).or_default() += 1;
            continue;
        }
        compared += 1;
        in_registers_range += usize::from(size <= 16);
        let mut out = Buf([0; 128]);
        let mut out_ptr: *mut u8 = out.0.as_mut_ptr();
        let mut result = Buf([0; 128]);
        let take = CallInterface::new(None, vec![pointer(), ty.clone()], None).expect("prep take");
        let mut args = [(&raw mut out_ptr).cast(), value.0.as_mut_ptr().cast()];
        // SAFETY: take_A(unsigned char *, A) as declared above; `value` holds an A
        // (any bytes are one) and `out` has room for it.
        unsafe { call(&take, symbol("take"), &mut args, &mut result) };
        differs("take", &out.0);

        out.0.fill(0);
        let (mut ints, mut doubles) = ([1i64, 2, 3, 4], [0.5f64, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
        let mut late_types = vec![pointer()];
        late_types.extend(vec![long.clone(); 4]);
        late_types.extend(vec![double.clone(); 7]);
        late_types.push(ty.clone());
        let take_late = CallInterface::new(None, late_types, None).expect("prep take_late");
        let mut args: Vec<*mut c_void> = vec![(&raw mut out_ptr).cast()];
        args.extend(ints.iter_mut().map(|v| (v as *mut i64).cast::<c_void>()));
        args.extend(doubles.iter_mut().map(|v| (v as *mut f64).cast::<c_void>()));
        args.push(value.0.as_mut_ptr().cast());
        // SAFETY: take_late_A(unsigned char *, 4 longs, 7 doubles, A) as declared
        // above, every argument a live value of its type.
        unsafe { call(&take_late, symbol("take_late"), &mut args, &mut result) };
        differs("take_late", &out.0);

        result.0.fill(0);
        let mut in_ptr: *mut u8 = value.0.as_mut_ptr();
        let give = CallInterface::new(Some(ty.clone()), vec![pointer()], None).expect("prep give");
        let mut args = [(&raw mut in_ptr).cast()];
        // SAFETY: A give_A(const unsigned char *) as declared above; `value` holds
        // `sizeof(A)` readable bytes and `result` room for an A.
        unsafe { call(&give, symbol("give"), &mut args, &mut result) };
        differs("give", &result.0);
    }
    println!(
        "layout_vs_cc by value: {} corpus aggregates of 1..=64 bytes from {files} corpus files, \
         {compared} passed to C ({in_registers_range} of them 16 bytes or less), excluded: \
         {excluded:?}: {mismatches} mismatches",
        chosen.len()
    );
    assert!(in_registers_range > 50, "only {in_registers_range} small aggregates compared");
    assert!(mismatches == 0, "{mismatches} calls lost value bits (first 20 shown):\n{report}");
}

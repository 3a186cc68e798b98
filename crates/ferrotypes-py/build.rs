//! Sets PyO3's cfgs for the interpreter this extension is built for (`Py_3_12`, `Py_3_13`,
//! ...), so the interpreter seam can choose each CPython version's C API at compile time;
//! on Linux with glibc, links the unwinder into the extension (see `link_unwinder_statically`).
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=FERROTYPES_SHARED_LIBGCC");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" && std::env::var_os("FERROTYPES_SHARED_LIBGCC").is_none() {
        link_unwinder_statically();
    }
}

/// Rust's standard library links the unwinder (used by panics, which PyO3 turns into
/// Python exceptions) as the shared `libgcc_s.so.1`. Loading that library costs
/// `import ferrotypes` more than anything else the extension does at load time: its
/// constructor (`__cpu_indicator_init`) executes `cpuid` about a dozen times, and in a
/// virtual machine every `cpuid` traps to the hypervisor (3.5 µs each on the machines this
/// project is measured on; the whole `dlopen` of the extension went from 194 to 115 µs).
/// GCC's static copy of the same unwinder, `libgcc_eh.a` (what `gcc -static-libgcc` links
/// into shared libraries), has no such constructor.
///
/// `std` asks for `-lgcc_s` by name, so this puts a directory first on the library search
/// path in which `libgcc_s.a` is GCC's `libgcc_eh.a`: the linker finds the archive there
/// before any `libgcc_s.so`. `-static-libgcc` makes the compiler driver's own libgcc
/// references static as well. Where the archive cannot be found, the build says so and
/// links the shared library as before; `FERROTYPES_SHARED_LIBGCC=1` asks for that anyway.
fn link_unwinder_statically() {
    let Some(archive) = libgcc_eh() else {
        println!(
            "cargo:warning=libgcc_eh.a not found: the extension links the shared libgcc_s \
             (slower to import, see build.rs)"
        );
        return;
    };
    println!("cargo:rerun-if-changed={}", archive.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir = out.join("static-unwinder");
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/static-unwinder");
    std::fs::copy(&archive, dir.join("libgcc_s.a")).expect("copy libgcc_eh.a");
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-cdylib-link-arg=-static-libgcc");
}

/// The C compiler's `libgcc_eh.a` (the compiler cargo's linker step uses: `$CC`, else `cc`).
fn libgcc_eh() -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let output = Command::new(cc).arg("-print-file-name=libgcc_eh.a").output().ok()?;
    let printed = String::from_utf8(output.stdout).ok()?;
    let path = Path::new(printed.trim());
    // The driver prints the bare name back when it has no such file.
    (output.status.success() && path.is_absolute() && path.is_file()).then(|| path.to_owned())
}

//! Compiles `src/guard_shim.c`: checked mode's `sigsetjmp` wrapper around foreign calls.
fn main() {
    println!("cargo:rerun-if-changed=src/guard_shim.c");
    cc::Build::new().file("src/guard_shim.c").warnings(true).compile("ferro_guard_shim");
}

//! Compiles the C shims: `src/guard_shim.c`, checked mode's `sigsetjmp` wrapper around
//! foreign calls, and `src/thread_words.c`, per-thread words in the initial-exec TLS model.
fn main() {
    println!("cargo:rerun-if-changed=src/guard_shim.c");
    println!("cargo:rerun-if-changed=src/thread_words.c");
    cc::Build::new().file("src/guard_shim.c").warnings(true).compile("ferro_guard_shim");
    if std::env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|f| f.split(',').any(|f| f == "unix")) {
        cc::Build::new().file("src/thread_words.c").warnings(true).compile("ferro_thread_words");
    }
}

//! Sets PyO3's cfgs for the interpreter this extension is built for (`Py_3_12`, `Py_3_13`,
//! ...), so the interpreter seam can choose each CPython version's C API at compile time.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}

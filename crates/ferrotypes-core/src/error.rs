//! The one error type of the core crate; the extension converts it to Python exceptions
//! in exactly one place.
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// `dlopen` failed; the loader's own message.
    Load(String),
    /// `dlsym` failed; the loader's own message.
    Symbol(String),
    /// libffi refused a call interface or type.
    Ffi(String),
    /// A layout request that no C compiler would accept.
    Layout(String),
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Load(m) | CoreError::Symbol(m) | CoreError::Ffi(m) | CoreError::Layout(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for CoreError {}

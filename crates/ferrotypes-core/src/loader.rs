//! Shared libraries and symbols: `dlopen`/`dlsym`/`dlclose` turned into `Result`s on the
//! spot, carrying the loader's own message as CPython's `OSError`/`AttributeError` do.
//! (`LoadLibrary`/`GetProcAddress` would live here behind `cfg(windows)`.)
use crate::CoreError;
use std::ffi::{c_void, CStr, CString};

/// A raw library handle as Python sees it (an integer).
pub type Handle = *mut c_void;

fn last_dl_error(fallback: &str) -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated thread-local string valid until the
    // next dl* call on this thread; it is copied at once.
    unsafe {
        let msg = libc::dlerror();
        if msg.is_null() {
            fallback.to_owned()
        } else {
            CStr::from_ptr(msg).to_string_lossy().into_owned()
        }
    }
}

/// Opens a library; `None` opens the main program (the process image).
pub fn open(path: Option<&CStr>, mode: i32) -> Result<Handle, CoreError> {
    let p = path.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: `p` is NULL or a NUL-terminated string that outlives the call.
    let handle = unsafe { libc::dlopen(p, mode) };
    if handle.is_null() {
        Err(CoreError::Load(last_dl_error("dlopen failed")))
    } else {
        Ok(handle)
    }
}

/// Looks a symbol up; a missing symbol is an error with the loader's message.
// A handle is an opaque token that only the dynamic loader interprets (and validates).
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn symbol(handle: Handle, name: &str) -> Result<*mut c_void, CoreError> {
    let cname = CString::new(name).map_err(|_| CoreError::Symbol(format!("{name}: embedded null character")))?;
    // SAFETY: clear any stale error so that a NULL symbol value can be told from a failure.
    unsafe { libc::dlerror() };
    // SAFETY: dlsym accepts any handle value the loader gave out (or the RTLD_* pseudo
    // handles); a bad handle makes it fail, not crash, on glibc.
    let addr = unsafe { libc::dlsym(handle, cname.as_ptr()) };
    if addr.is_null() {
        // SAFETY: reading this thread's pending loader error, if any.
        let err = unsafe { libc::dlerror() };
        if !err.is_null() {
            // SAFETY: dlerror's string is NUL-terminated and valid until the next dl* call.
            let msg = unsafe { CStr::from_ptr(err) }.to_string_lossy().into_owned();
            return Err(CoreError::Symbol(msg));
        }
    }
    Ok(addr)
}

/// Closes a library handle.
// As `symbol`: the handle is validated by the loader, never dereferenced here.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn close(handle: Handle) -> Result<(), CoreError> {
    // SAFETY: glibc validates the handle and reports a bad one through dlerror.
    if unsafe { libc::dlclose(handle) } != 0 {
        Err(CoreError::Load(last_dl_error("dlclose failed")))
    } else {
        Ok(())
    }
}

/// The names of the objects loaded into the process, in the loader's order, as the loader
/// spells them (the main program's is empty). Linux and other `dl_iterate_phdr` systems.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "android"))]
pub fn loaded_objects() -> Vec<Vec<u8>> {
    unsafe extern "C" fn collect(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> libc::c_int {
        // SAFETY: `data` is the `Vec` passed below, alive and not otherwise borrowed for the
        // whole iteration; `info` is the loader's record for one object, valid during this
        // call, with a NUL-terminated name or NULL.
        unsafe {
            let names = &mut *data.cast::<Vec<Vec<u8>>>();
            let name = (*info).dlpi_name;
            names.push(if name.is_null() { Vec::new() } else { CStr::from_ptr(name).to_bytes().to_vec() });
        }
        0
    }
    let mut names: Vec<Vec<u8>> = Vec::new();
    // SAFETY: the callback only appends to `names`, which outlives the call; it never unwinds.
    unsafe { libc::dl_iterate_phdr(Some(collect), (&raw mut names).cast()) };
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_libc_and_finds_strlen() {
        let lib = open(Some(c"libc.so.6"), libc::RTLD_NOW).expect("libc");
        assert!(!symbol(lib, "strlen").unwrap().is_null());
        let err = symbol(lib, "no_such_symbol_ft").unwrap_err();
        assert!(matches!(err, CoreError::Symbol(ref m) if m.contains("no_such_symbol_ft")), "{err:?}");
    }

    #[test]
    fn missing_library_reports_loader_message() {
        let err = open(Some(c"libdoesnotexist_ft.so"), libc::RTLD_NOW).unwrap_err();
        assert!(err.to_string().contains("libdoesnotexist_ft.so"));
    }

    #[test]
    fn loaded_objects_include_libc() {
        let names = loaded_objects();
        assert!(names.iter().any(|n| n.windows(7).any(|w| w == b"libc.so")), "{names:?}");
    }

    #[test]
    fn process_image_opens() {
        assert!(open(None, libc::RTLD_NOW).is_ok());
    }
}

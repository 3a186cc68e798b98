//! Checked mode's safety nets, without Python: memory probes and fault recovery.
//!
//! Two tools, used only when the Python layer turns checked mode on:
//! 1. **Probes** ([`readable`], [`writable`], [`strlen`], [`wcslen`]) find out whether an
//!    address range can be read or written before ferrotypes uses it. Once the fault
//!    handlers are installed, the probe simply touches one byte per page (protection is per
//!    page) inside a [`guarded`] section: a fault comes back as the first bad address, a few
//!    nanoseconds when nothing faults, and exact (no stale view; `munmap` by anyone is seen at
//!    once). Two system-call probes are kept for comparison and for use without handlers:
//!    `process_vm_readv`/`process_vm_writev` on our own process (the kernel answers `EFAULT`
//!    instead of a signal; one call per 64 pages), and `/proc/self/maps`, read afresh for
//!    every answer: a cached view would vouch for ranges unmapped since it was read, and
//!    the caller (or [`strlen`] itself) would then fault outside any guard.
//! 2. **Fault recovery** ([`guarded`]): a foreign call runs inside `ferro_guarded_call`
//!    (`guard_shim.c`), which `sigsetjmp`s; the SIGSEGV/SIGBUS handler `siglongjmp`s back if
//!    the fault happened on a thread inside such a call and otherwise chains to the handler
//!    that was there before. [`suspend`] lifts the guard while a callback runs Python code.
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};

/// A hardware fault caught inside a guarded call.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Fault {
    /// The faulting address (`si_addr`).
    pub addr: usize,
    /// `SIGSEGV` or `SIGBUS`.
    pub signo: c_int,
    /// 0 read, 1 write, -1 unknown (the page-fault error code is read on x86-64 only).
    pub access: c_int,
    /// `si_code` (`SEGV_MAPERR`, `SEGV_ACCERR`, `BUS_ADRERR`, ...).
    pub code: c_int,
}

impl Fault {
    /// "reading", "writing" or "accessing", for messages.
    pub fn access_verb(&self) -> &'static str {
        match self.access {
            0 => "reading",
            1 => "writing",
            _ => "accessing",
        }
    }
}

unsafe extern "C" {
    fn ferro_guard_install() -> c_int;
    fn ferro_guarded_call(body: unsafe extern "C" fn(*mut c_void), ctx: *mut c_void, out: *mut Fault) -> c_int;
    fn ferro_guard_suspend() -> *mut c_void;
    fn ferro_guard_resume(guard: *mut c_void);
    fn ferro_guard_chains_to_self() -> c_int;
}

/// Set once the fault handlers have been installed (they stay installed).
static ARMED: AtomicBool = AtomicBool::new(false);

/// Installs the SIGSEGV/SIGBUS handlers, or re-installs them if someone replaced them since
/// (the replaced handler becomes the one faults outside guarded calls are passed to).
pub fn install_fault_handlers() -> std::io::Result<()> {
    // SAFETY: sigaction calls on process-wide state; the handler only touches its own TLS.
    if unsafe { ferro_guard_install() } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    ARMED.store(true, Ordering::Release);
    Ok(())
}

/// Whether a fault outside every guarded call would be passed back to our own handler
/// (recursing until the stack runs out) instead of the one installed before ours. A
/// diagnostic: installs are serialized, so this is always false.
pub fn chains_to_self() -> bool {
    // SAFETY: reads two published pointers; no preconditions.
    unsafe { ferro_guard_chains_to_self() != 0 }
}

/// Whether the fault handlers were ever installed (one relaxed load).
#[inline]
pub fn armed() -> bool {
    ARMED.load(Ordering::Relaxed)
}

unsafe extern "C" fn run_body<F: FnOnce() + Copy>(ctx: *mut c_void) {
    // SAFETY: `ctx` is the `F` that `guarded` passed, alive on its stack for this call.
    let f = unsafe { *(ctx as *const F) };
    f();
}

/// Runs `body`; if it raises SIGSEGV/SIGBUS on this thread, returns the fault instead of
/// dying. Without [`install_fault_handlers`] first a fault kills the process as usual.
///
/// `F: Copy` guarantees the body owns nothing with a destructor: after a fault, its frames
/// (and libffi's, and the foreign function's) are abandoned by `siglongjmp`, never unwound.
///
/// # Safety
/// `body` must be safe to call; whatever a fault interrupts (locks held by the foreign code,
/// half-written data) stays as it was — the caller accepts that.
pub unsafe fn guarded<F: FnOnce() + Copy>(body: F) -> Result<(), Fault> {
    let mut fault = Fault::default();
    let ctx = &body as *const F as *mut c_void;
    // SAFETY: `run_body::<F>` reads `ctx` as the `F` above, which outlives the call; `fault`
    // is a valid out-pointer. The frames a fault abandons hold only `Copy` data.
    let faulted = unsafe { ferro_guarded_call(run_body::<F>, ctx, &mut fault) };
    if faulted == 0 {
        Ok(())
    } else {
        Err(fault)
    }
}

/// While alive, a fault on this thread is not caught by an enclosing [`guarded`] call
/// (Python code run by a callback in the middle of a foreign call).
pub struct Suspended(*mut c_void);

/// Lifts this thread's guard until the returned value is dropped.
pub fn suspend() -> Suspended {
    // SAFETY: reads and clears this thread's guard pointer.
    Suspended(unsafe { ferro_guard_suspend() })
}

impl Drop for Suspended {
    fn drop(&mut self) {
        // SAFETY: restores the guard pointer this thread had; its frame is still live (we
        // are running inside that guarded call).
        unsafe { ferro_guard_resume(self.0) }
    }
}

// --- probes ---------------------------------------------------------------------------

const PROBE_AUTO: u8 = 0;
const PROBE_VM: u8 = 1;
const PROBE_MAPS: u8 = 2;
const PROBE_FAULT: u8 = 3;
/// The probe chosen with [`force_probe`]; automatic (fault, else vm, else maps) by default.
static FORCED: AtomicU8 = AtomicU8::new(PROBE_AUTO);
/// Whether `process_vm_readv` works here: 0 not tried yet, 1 yes, 2 no.
static VM_WORKS: AtomicU8 = AtomicU8::new(0);
/// Our pid, cached (a `getpid` system call per probe would double the cost); reset in a
/// forked child, where the parent's pid would probe the parent's memory.
static PID: AtomicI32 = AtomicI32::new(0);

extern "C" fn reset_pid_after_fork() {
    PID.store(0, Ordering::Relaxed);
}

fn pid() -> libc::pid_t {
    let p = PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    static ATFORK: std::sync::Once = std::sync::Once::new();
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only stores to an atomic.
        unsafe { libc::pthread_atfork(None, None, Some(reset_pid_after_fork)) };
    });
    // SAFETY: no preconditions.
    let p = unsafe { libc::getpid() };
    PID.store(p, Ordering::Relaxed);
    p
}

fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    // SAFETY: no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize)
}

/// Chooses the probe: "fault" (touch under the fault guard; needs the handlers), "vm"
/// (`process_vm_readv`), "maps" (`/proc/self/maps`) or "auto". Returns false for an unknown
/// or unusable name. For measurements and for sandboxes where one of them misbehaves.
pub fn force_probe(name: &str) -> bool {
    let k = match name {
        "auto" => PROBE_AUTO,
        "fault" if armed() => PROBE_FAULT,
        "vm" if vm_works() => PROBE_VM,
        "maps" => PROBE_MAPS,
        _ => return false,
    };
    FORCED.store(k, Ordering::Relaxed);
    true
}

/// Name of the probe in use: "fault", "vm" or "maps".
pub fn probe_name() -> &'static str {
    match probe_kind() {
        PROBE_FAULT => "fault",
        PROBE_VM => "vm",
        _ => "maps",
    }
}

fn probe_kind() -> u8 {
    match FORCED.load(Ordering::Relaxed) {
        PROBE_AUTO if armed() => PROBE_FAULT,
        PROBE_AUTO if vm_works() => PROBE_VM,
        PROBE_AUTO => PROBE_MAPS,
        k => k,
    }
}

fn vm_works() -> bool {
    match VM_WORKS.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let known_good = 0u8;
            let mut out = 0u8;
            let ok = matches!(vm_read(&mut out as *mut u8, &known_good as *const u8 as usize, 1), Ok(1));
            VM_WORKS.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
        }
    }
}

/// Touches one byte per page of the range under the fault guard (reads it, and for
/// `write` stores the same value back). `Err` holds the faulting address.
fn fault_probe(addr: usize, len: usize, write: bool) -> Result<(), usize> {
    let body = move || {
        for p in probe_points(addr, len) {
            // SAFETY: a fault here is caught by the guard (handlers installed: the caller
            // checked `armed`); a byte written is the byte just read.
            unsafe {
                let b = std::ptr::read_volatile(p as *const u8);
                if write {
                    std::ptr::write_volatile(p as *mut u8, b);
                }
            }
        }
    };
    // SAFETY: the body only touches memory, through volatile accesses; it holds no locks.
    unsafe { guarded(body) }.map_err(|f| f.addr)
}

/// `process_vm_readv` of `len` bytes at `addr` into `dst`: bytes copied, or the errno.
fn vm_read(dst: *mut u8, addr: usize, len: usize) -> Result<usize, i32> {
    let local = libc::iovec { iov_base: dst.cast(), iov_len: len };
    let remote = libc::iovec { iov_base: addr as *mut c_void, iov_len: len };
    // SAFETY: `dst` has `len` writable bytes (callers); the remote side is checked by the
    // kernel, which is the point.
    let n = unsafe { libc::process_vm_readv(pid(), &local, 1, &remote, 1, 0) };
    if n < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(n as usize)
    }
}

/// One probe address per page of `[addr, addr + len)`: `addr`, then each page start.
fn probe_points(addr: usize, len: usize) -> impl Iterator<Item = usize> {
    let ps = page_size();
    let end = addr.saturating_add(len.max(1));
    let first_page = addr & !(ps - 1);
    std::iter::once(addr).chain((1..).map(move |i| first_page + i * ps).take_while(move |&p| p < end))
}

const BATCH: usize = 64;

/// Probes one byte at each address with `process_vm_readv`, into `saved` if given.
/// Returns the first address that cannot be read.
fn vm_probe_read(points: &[usize], saved: &mut [u8]) -> Result<(), usize> {
    let local = libc::iovec { iov_base: saved.as_mut_ptr().cast(), iov_len: points.len() };
    let remote: Vec<libc::iovec> = points.iter().map(|&p| libc::iovec { iov_base: p as *mut c_void, iov_len: 1 }).collect();
    // SAFETY: `saved` has one byte per point; remote addresses are checked by the kernel.
    let n = unsafe { libc::process_vm_readv(pid(), &local, 1, remote.as_ptr(), remote.len() as _, 0) };
    let done = n.max(0) as usize;
    if done < points.len() {
        return Err(points[done]);
    }
    Ok(())
}

/// What [`readable`] and [`writable`] decide before any `process_vm_readv` probe: empty
/// ranges pass (nothing is touched: `memmove(NULL, NULL, 0)` is fine), NULL and wrapping
/// ranges fail, and the fault-guard and memory-map probes answer on their own. `None`: the
/// `process_vm_readv` probes must run.
fn quick_verdict(addr: usize, len: usize, write: bool) -> Option<Result<(), usize>> {
    if len == 0 {
        return Some(Ok(()));
    }
    if addr == 0 || addr.checked_add(len).is_none() {
        return Some(Err(addr));
    }
    match probe_kind() {
        PROBE_FAULT => Some(fault_probe(addr, len, write)),
        PROBE_MAPS => Some(maps_check(addr, len, write)),
        _ => None,
    }
}

/// Whether every byte of `[addr, addr + len)` can be read. `Err` holds the first address
/// (rounded to where its page starts, past `addr`) that cannot.
pub fn readable(addr: usize, len: usize) -> Result<(), usize> {
    if let Some(verdict) = quick_verdict(addr, len, false) {
        return verdict;
    }
    let mut points = [0usize; BATCH];
    let mut scratch = [0u8; BATCH];
    let mut n = 0;
    for p in probe_points(addr, len) {
        points[n] = p;
        n += 1;
        if n == BATCH {
            vm_probe_read(&points, &mut scratch)?;
            n = 0;
        }
    }
    if n > 0 {
        vm_probe_read(&points[..n], &mut scratch[..n])?;
    }
    Ok(())
}

/// Whether every byte of `[addr, addr + len)` can be written. The probe writes each page's
/// first probed byte back with the value it just read, so a concurrent writer to that very
/// byte may be overwritten: callers only probe memory they are about to overwrite.
pub fn writable(addr: usize, len: usize) -> Result<(), usize> {
    if let Some(verdict) = quick_verdict(addr, len, true) {
        return verdict;
    }
    let mut points = [0usize; BATCH];
    let mut saved = [0u8; BATCH];
    let mut n = 0;
    let flush = |points: &[usize], saved: &mut [u8]| -> Result<(), usize> {
        vm_probe_read(points, saved)?;
        let local = libc::iovec { iov_base: saved.as_mut_ptr().cast(), iov_len: points.len() };
        let remote: Vec<libc::iovec> = points.iter().map(|&p| libc::iovec { iov_base: p as *mut c_void, iov_len: 1 }).collect();
        // SAFETY: writes back the bytes just read from the same addresses; the kernel checks
        // write permission (no FOLL_FORCE) and answers EFAULT for read-only pages.
        let w = unsafe { libc::process_vm_writev(pid(), &local, 1, remote.as_ptr(), remote.len() as _, 0) };
        let done = w.max(0) as usize;
        if done < points.len() {
            return Err(points[done]);
        }
        Ok(())
    };
    for p in probe_points(addr, len) {
        points[n] = p;
        n += 1;
        if n == BATCH {
            flush(&points, &mut saved)?;
            n = 0;
        }
    }
    if n > 0 {
        flush(&points[..n], &mut saved[..n])?;
    }
    Ok(())
}

/// Length of the NUL-terminated string of `unit`-byte code units at `addr`, reading only
/// memory the probe vouches for. `Err` holds the first unreadable address.
fn checked_len(addr: usize, unit: usize) -> Result<usize, usize> {
    if addr == 0 {
        return Err(0);
    }
    if probe_kind() == PROBE_FAULT {
        let mut len = 0usize;
        let out = &mut len as *mut usize;
        let body = move || {
            // SAFETY: a fault is caught by the guard; `out` points to `len`, alive on our
            // stack for the call.
            unsafe {
                *out = if unit == 1 { libc::strlen(addr as *const libc::c_char) } else { libc::wcslen(addr as *const libc::wchar_t) };
            }
        };
        // SAFETY: the body only reads memory and writes `len`; it holds no locks.
        return unsafe { guarded(body) }.map(|()| len).map_err(|f| f.addr);
    }
    let ps = page_size();
    let mut buf = vec![0u8; ps + 8];
    let mut at = addr;
    loop {
        let chunk = ps - (at & (ps - 1));
        let chunk = chunk.max(unit);
        let wanted = chunk;
        let chunk = if probe_kind() == PROBE_MAPS {
            maps_check(at, chunk, false)?;
            // SAFETY: the maps view says the whole chunk is readable.
            unsafe { std::ptr::copy_nonoverlapping(at as *const u8, buf.as_mut_ptr(), chunk) };
            chunk
        } else {
            vm_read(buf.as_mut_ptr(), at, chunk).map_err(|_| at)?
        };
        // Code units are scanned from the string start, so they stay aligned across chunks.
        let base = at - addr;
        let first = base.div_ceil(unit) * unit - base;
        let mut i = first;
        while i + unit <= chunk {
            if buf[i..i + unit].iter().all(|&b| b == 0) {
                return Ok((base + i) / unit);
            }
            i += unit;
        }
        if chunk < wanted {
            return Err(at + chunk);
        }
        // A code unit straddling the chunk end is re-read with the next chunk.
        at += i;
        if i == 0 {
            at += chunk;
        }
    }
}

/// [`crate::memory::strlen`] that first checks each page it reads.
pub fn strlen(addr: usize) -> Result<usize, usize> {
    checked_len(addr, 1)
}

/// [`crate::memory::wcslen`] that first checks each page it reads.
pub fn wcslen(addr: usize) -> Result<usize, usize> {
    checked_len(addr, std::mem::size_of::<libc::wchar_t>())
}

// --- the /proc/self/maps fallback ------------------------------------------------------

/// Mapped ranges `(start, end, readable, writable)`, sorted by start, as the kernel sees
/// them now.
fn read_maps() -> Vec<(usize, usize, bool, bool)> {
    let text = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else { continue };
        let Some((a, b)) = range.split_once('-') else { continue };
        let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else { continue };
        let p = perms.as_bytes();
        out.push((a, b, p.first() == Some(&b'r'), p.get(1) == Some(&b'w')));
    }
    out.sort_unstable();
    out
}

/// Whether `[addr, addr+len)` is covered by ranges with the permission, in `maps`.
fn maps_covers(maps: &[(usize, usize, bool, bool)], addr: usize, len: usize, write: bool) -> Result<(), usize> {
    let end = addr + len.max(1);
    let mut at = addr;
    while at < end {
        let i = maps.partition_point(|m| m.0 <= at);
        let Some(&(_, stop, r, w)) = i.checked_sub(1).map(|i| &maps[i]) else { return Err(at) };
        if stop <= at || !(if write { w } else { r }) {
            return Err(at);
        }
        at = stop;
    }
    Ok(())
}

/// The memory-map probe. Never answers from a cached view: the answer is used to touch
/// memory right away. (Another thread unmapping the range between this read and that touch
/// is the probe's remaining limit, shared by every probe but the fault guard.)
fn maps_check(addr: usize, len: usize, write: bool) -> Result<(), usize> {
    maps_covers(&read_maps(), addr, len, write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_page(prot: c_int, f: impl FnOnce(usize)) {
        let ps = page_size();
        // SAFETY: a fresh anonymous mapping, unmapped below.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), 2 * ps, prot, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
        assert_ne!(p, libc::MAP_FAILED);
        f(p as usize);
        // SAFETY: the mapping made above.
        unsafe { libc::munmap(p, 2 * ps) };
    }

    /// Runs `f` with each probe in turn (the fault probe needs the handlers).
    fn each_probe(f: impl Fn(&str)) {
        install_fault_handlers().unwrap();
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        for name in ["fault", "vm", "maps"] {
            if force_probe(name) {
                f(name);
            }
        }
        force_probe("auto");
    }

    #[test]
    fn probes_see_permissions_and_unmapping() {
        each_probe(probes_see_permissions_and_unmapping_with_one_probe);
    }

    fn probes_see_permissions_and_unmapping_with_one_probe(probe: &str) {
        let ps = page_size();
        let local = [1u8; 100];
        assert!(readable(local.as_ptr() as usize, 100).is_ok());
        assert_eq!(readable(1, 16), Err(1));
        with_page(libc::PROT_READ, |p| {
            assert!(readable(p, 2 * ps).is_ok());
            assert_eq!(writable(p + 8, 16), Err(p + 8));
        });
        with_page(libc::PROT_READ | libc::PROT_WRITE, |p| {
            assert!(writable(p, 2 * ps).is_ok());
            // SAFETY: the second page of our own mapping.
            unsafe { libc::munmap((p + ps) as *mut c_void, ps) };
            assert_eq!(readable(p + 10, ps), Err(p + ps), "{probe}");
        });
    }

    #[test]
    fn checked_lengths_stop_at_the_terminator_or_the_hole() {
        each_probe(checked_lengths_with_one_probe);
    }

    fn checked_lengths_with_one_probe(_probe: &str) {
        let s = b"hello\0";
        assert_eq!(strlen(s.as_ptr() as usize), Ok(5));
        let w: [libc::wchar_t; 4] = [104, 105, 0, 7];
        assert_eq!(wcslen(w.as_ptr() as usize), Ok(2));
        let ps = page_size();
        with_page(libc::PROT_READ | libc::PROT_WRITE, |p| {
            // SAFETY: our mapping: fill the first page with non-zero bytes, drop the second.
            unsafe {
                std::ptr::write_bytes(p as *mut u8, b'x', ps);
                libc::munmap((p + ps) as *mut c_void, ps);
            }
            assert_eq!(strlen(p + 3), Err(p + ps));
        });
    }

    /// A range unmapped right after a probe vouched for it must not be vouched for again:
    /// the memory-map probe used to answer from the view of its last read, and `strlen`
    /// then read the unmapped page outside any guard (the core tests' SIGSEGV under load,
    /// when this order of tests happened to run).
    #[test]
    fn an_unmapping_after_an_answer_is_seen() {
        each_probe(|probe| {
            let ps = page_size();
            with_page(libc::PROT_READ | libc::PROT_WRITE, |p| {
                assert!(readable(p, 2 * ps).is_ok(), "{probe}");
                // SAFETY: our mapping: fill the first page with non-zero bytes, drop the second.
                unsafe {
                    std::ptr::write_bytes(p as *mut u8, b'x', ps);
                    libc::munmap((p + ps) as *mut c_void, ps);
                }
                assert_eq!(readable(p + ps, 1), Err(p + ps), "{probe}");
                assert_eq!(strlen(p + 3), Err(p + ps), "{probe}");
            });
        });
    }

    #[test]
    fn guarded_call_turns_a_fault_into_an_error() {
        install_fault_handlers().unwrap();
        // SAFETY: reads address 8, which is never mapped; the fault is caught.
        let r = unsafe { guarded(|| { std::ptr::read_volatile(std::ptr::without_provenance::<u64>(8)); }) };
        let f = r.unwrap_err();
        assert_eq!((f.addr, f.signo, f.access), (8, libc::SIGSEGV, 0));
        // SAFETY: writes address 16, never mapped.
        let r = unsafe { guarded(|| std::ptr::write_volatile(std::ptr::without_provenance_mut::<u64>(16), 1)) };
        assert_eq!(r.unwrap_err().access, 1);
        // SAFETY: a harmless body.
        assert!(unsafe { guarded(|| {}) }.is_ok());
    }
}

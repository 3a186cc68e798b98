//! The fault guard under load: 8 threads fault inside guarded calls and probes at once, short
//! threads come and go (each gets and frees its own alternate signal stack), handlers are
//! re-installed meanwhile, and other threads keep making ordinary libffi calls whose C code
//! calls back into Rust. Nothing may crash, and every fault must come back to the thread
//! that caused it, with its own address.
use ferrotypes_core::call::CallInterface;
use ferrotypes_core::closure::{Closure, ClosureHandler};
use ferrotypes_core::ffi_type::FfiType;
use ferrotypes_core::guard;
use ferrotypes_core::simple::SimpleKind;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ty(code: u8) -> FfiType {
    FfiType::Static(SimpleKind::from_code(code).unwrap().ffi_type())
}

fn page() -> usize {
    // SAFETY: no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Two pages: the first readable and writable, filled with non-zero bytes; the second
/// inaccessible. Unmapped on drop.
struct Fence(usize);

impl Fence {
    fn new() -> Fence {
        let ps = page();
        // SAFETY: a fresh anonymous mapping owned by the returned value.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), 2 * ps, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
        };
        assert_ne!(p, libc::MAP_FAILED);
        // SAFETY: the mapping made above.
        unsafe {
            std::ptr::write_bytes(p as *mut u8, b'x', ps);
            assert_eq!(libc::mprotect((p as usize + ps) as *mut c_void, ps, libc::PROT_NONE), 0);
        }
        Fence(p as usize)
    }
}

impl Drop for Fence {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`.
        unsafe { libc::munmap(self.0 as *mut c_void, 2 * page()) };
    }
}

/// One round of faults on this thread: a guarded read and write of the fence, the fault probe
/// and the checked string length, each caught with the right address.
fn fault_round(fence: &Fence, salt: usize) {
    let ps = page();
    let hole = fence.0 + ps + (salt % ps);
    // SAFETY: reads the inaccessible page; the fault is caught.
    let f = unsafe { guard::guarded(|| { std::ptr::read_volatile(hole as *const u8); }) }.unwrap_err();
    assert_eq!((f.addr, f.access), (hole, 0));
    // SAFETY: writes the inaccessible page; the fault is caught.
    let f = unsafe { guard::guarded(|| std::ptr::write_volatile(hole as *mut u8, 1)) }.unwrap_err();
    assert_eq!((f.addr, f.access), (hole, 1));
    assert_eq!(guard::readable(fence.0 + 5, ps), Err(fence.0 + ps));
    assert_eq!(guard::writable(fence.0, ps), Ok(()));
    assert_eq!(guard::strlen(fence.0 + (salt % ps)), Err(fence.0 + ps));
}

/// A comparator for `qsort`, called from C on the calling thread.
struct Compare(AtomicUsize);

impl ClosureHandler for Compare {
    unsafe fn invoke(&self, result: *mut u8, args: &[*const u8]) {
        self.0.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the interface is (const void*, const void*) -> int over i32 elements.
        unsafe {
            let a = **(args[0] as *const *const i32);
            let b = **(args[1] as *const *const i32);
            std::ptr::write_unaligned(result as *mut i32, a.cmp(&b) as i32);
        }
    }
}

/// Sorts with libc's `qsort` called through libffi, the comparator a libffi closure.
fn sort_through_c(cmp: &Closure<Compare>, qsort: &CallInterface, seed: u32) {
    let mut data: Vec<i32> = (0..64).map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as i32).collect();
    let mut base = data.as_mut_ptr() as *mut c_void;
    let mut n: usize = data.len();
    let mut size: usize = 4;
    let mut code = cmp.code_ptr();
    let mut avalues: [*mut c_void; 4] =
        [(&mut base as *mut *mut c_void).cast(), (&mut n as *mut usize).cast(), (&mut size as *mut usize).cast(), (&mut code as *mut *const c_void).cast()];
    let mut ret = 0u64;
    // SAFETY: the interface is qsort's (void*, size_t, size_t, int(*)(const void*, const void*)),
    // every argument slot points to a live local, and the closure implements the comparator.
    unsafe { qsort.call(libc::qsort as *const c_void, (&mut ret as *mut u64).cast(), avalues.as_mut_ptr()) };
    assert!(data.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn faults_on_eight_threads_beside_calls_and_callbacks() {
    guard::install_fault_handlers().unwrap();
    // FERROTYPES_STRESS_MS shortens the run for the loops that repeat the whole test suite.
    let ms = std::env::var("FERROTYPES_STRESS_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let deadline = Instant::now() + Duration::from_millis(ms);
    let stop = Arc::new(AtomicBool::new(false));
    let faults = Arc::new(AtomicUsize::new(0));

    let mut threads = Vec::new();
    for t in 0..8 {
        let faults = faults.clone();
        threads.push(std::thread::spawn(move || {
            let fence = Fence::new();
            let mut i = t;
            while Instant::now() < deadline {
                fault_round(&fence, i);
                i += 7;
                faults.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Short-lived threads: each gets an alternate stack on its first guarded call.
    {
        let faults = faults.clone();
        threads.push(std::thread::spawn(move || {
            let mut i = 0;
            while Instant::now() < deadline {
                let faults = faults.clone();
                std::thread::spawn(move || {
                    fault_round(&Fence::new(), i);
                    faults.fetch_add(1, Ordering::Relaxed);
                })
                .join()
                .unwrap();
                i += 1;
            }
        }));
    }
    // Re-installs while faults are in flight.
    {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                guard::install_fault_handlers().unwrap();
                std::thread::yield_now();
            }
        }));
    }
    // Ordinary calls with callbacks, no guard anywhere on these threads.
    let callbacks = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for t in 0..2 {
        let callbacks = callbacks.clone();
        callers.push(std::thread::spawn(move || {
            let p = ty(b'P');
            let cmp_cif = Arc::new(CallInterface::new(Some(ty(b'i')), vec![p.clone(), p.clone()], None).unwrap());
            let qsort = CallInterface::new(None, vec![p.clone(), ty(b'L'), ty(b'L'), p], None).unwrap();
            let cmp = Closure::new(cmp_cif, Compare(AtomicUsize::new(0))).unwrap();
            let mut seed = t;
            while Instant::now() < deadline {
                sort_through_c(&cmp, &qsort, seed);
                seed += 1;
            }
            callbacks.fetch_add(cmp.handler().0.load(Ordering::Relaxed), Ordering::Relaxed);
        }));
    }
    for c in callers {
        c.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert!(faults.load(Ordering::Relaxed) >= 8, "too few fault rounds ran");
    assert!(callbacks.load(Ordering::Relaxed) >= 64, "too few callbacks ran");
    assert!(!guard::chains_to_self());
}

//! Many threads installing checked mode's fault handlers at the same moment must record the
//! handler that was there before ours, never our own (which made `chain` call itself).
//! A separate test binary: it resets the process-wide SIGSEGV/SIGBUS actions.
use ferrotypes_core::guard;
use std::sync::{Arc, Barrier};

fn reset_to_default() {
    for sig in [libc::SIGSEGV, libc::SIGBUS] {
        // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask; process-wide state that
        // only this test binary's single test uses.
        unsafe {
            let dfl: libc::sigaction = std::mem::zeroed();
            assert_eq!(libc::sigaction(sig, &dfl, std::ptr::null_mut()), 0);
        }
    }
}

#[test]
fn concurrent_installs_never_record_our_own_handler() {
    const THREADS: usize = 8;
    for _round in 0..2000 {
        reset_to_default();
        let start = Arc::new(Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    guard::install_fault_handlers().unwrap();
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        assert!(!guard::chains_to_self(), "a racing install recorded our handler as the previous one");
        // The handlers work after the race: a fault in a guarded call comes back as an error.
        // SAFETY: reads address 8, never mapped; the fault is caught.
        let r = unsafe { guard::guarded(|| { std::ptr::read_volatile(std::ptr::without_provenance::<u64>(8)); }) };
        assert_eq!(r.unwrap_err().addr, 8);
    }
}

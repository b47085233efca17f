//! Ctrl-C during training: the first SIGINT (or SIGTERM) asks the run to stop after the
//! current epoch, so that the trained weights are saved before it exits (status 130); a
//! second one ends the process at once, as an impatient user expects.
//!
//! The handler only stores to an atomic (async-signal-safe); the training loop polls it.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    if REQUESTED.swap(true, Ordering::SeqCst) {
        // Second signal: the default action (terminate) right away.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
}

/// From now on, SIGINT and SIGTERM request a stop instead of killing the process.
pub fn install() {
    #[cfg(unix)]
    unsafe {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Whether a stop was requested since [`install`].
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

//! Stopping a run on SIGINT or SIGTERM. The first signal interrupts the
//! statement the warehouse is running (the engine rolls its transaction back)
//! and asks the lifecycle to stop at its next step: the run is recorded
//! FAILED, so it can be retried, and its leases are released. A second
//! signal exits at once; the run is then left for `bplc recover`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::RuntimeError;

static REQUESTED: AtomicBool = AtomicBool::new(false);
/// How to interrupt what each open warehouse connection is running.
type Interrupt = Box<dyn Fn() + Send>;

static HANDLES: Mutex<Vec<Interrupt>> = Mutex::new(Vec::new());

/// Installs the handler, once per process; commands that run jobs call it.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            let _ = writeln!(
                std::io::stderr(),
                "bplc: second signal: stopping now; resolve the run with `bplc recover`"
            );
            std::process::exit(130);
        }
        // Not eprintln!: a closed stderr must not panic the handler.
        let _ = writeln!(
            std::io::stderr(),
            "bplc: stopping: the current step is rolled back and the run recorded FAILED \
             (a second signal stops at once)"
        );
        let handles = HANDLES.lock().unwrap_or_else(|e| e.into_inner());
        for interrupt in handles.iter() {
            interrupt();
        }
    });
}

/// Lets a signal interrupt the statements of a connection: an engine
/// hands over how to interrupt it.
pub fn watch(interrupt: Interrupt) {
    HANDLES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(interrupt);
}

/// Whether a signal asked the run to stop.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// An error if a signal asked the run to stop: checked between steps.
pub fn check() -> Result<(), RuntimeError> {
    if requested() {
        Err(RuntimeError::Interrupted)
    } else {
        Ok(())
    }
}

//! A stop asked for by a signal (SIGINT or SIGTERM, once `train::run::stop_on_signals` has
//! registered them). Long work checks it where stopping loses nothing: training at the
//! points a checkpoint can hold, the build of a model before each timing of a kernel
//! variant (`ops::variants`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

static REQUESTED: LazyLock<Arc<AtomicBool>> = LazyLock::new(Default::default);

/// The flag a signal handler sets.
pub fn flag() -> Arc<AtomicBool> {
    Arc::clone(&REQUESTED)
}

/// Whether a stop has been asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

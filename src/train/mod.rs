//! Training: schedules, the step, checkpoints and metrics.

pub mod schedule;
pub mod trainer;

pub use trainer::{SgdConfig, Totals, Trainer};

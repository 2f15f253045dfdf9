//! Training: schedules, the step loop, checkpoints and metrics.

pub mod schedule;

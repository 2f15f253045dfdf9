//! Training: the configuration, schedules, the step, checkpoints, metrics and the run loop.

pub mod config;
pub mod metrics;
pub mod recipe;
pub mod run;
pub mod schedule;
pub mod settings;
pub mod state;
pub mod trainer;

pub use config::{RunConfig, RunFile};
pub use trainer::{SgdConfig, Trainer};

//! Running a network on labelled data without training it: the loss and accuracy it
//! scores ([`scoring`]), the one pass over a dataset that training's per-epoch test,
//! `sturdy eval`, `sturdy sweep` and calibration all use ([`evaluator`]), and a finished
//! training run opened for inference ([`trained_run`]).

pub mod evaluator;
pub mod predictions;
pub mod scoring;
pub mod trained_run;

pub use evaluator::{argmax, Evaluation, Evaluator};
pub use scoring::{Scoring, Totals};
pub use trained_run::TrainedRun;

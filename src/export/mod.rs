//! `sturdy export`: a trained backbone in the form an HE or MPC pipeline evaluates.
//! [`fold`] folds batch norm into the convolutions, [`manifest`] is the JSON
//! description (architecture, per-site bounds B, polynomial coefficients; schema in its
//! doc), [`run`] builds both from a run folder and writes them, and [`forward`] evaluates
//! an export on the CPU in f64; [`he`] folds the bounds into the weights (`--he`).

pub mod assignment;
pub mod fold;
pub mod forward;
pub mod he;
pub mod he_cost;
pub mod load;
pub mod manifest;
pub mod run;
pub mod torch;

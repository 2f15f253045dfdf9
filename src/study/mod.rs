//! `sturdy study`: the paper's experiment grid (recipes x weight decays x seeds) from a
//! TOML file; each cell trains then sweeps into its own folder, resumably and as an
//! independent process if wanted; the summary is built from the cells' result files.

pub mod cell;
pub mod execute;
pub mod jobs;
pub mod quick;
pub mod spec;
pub mod summary;

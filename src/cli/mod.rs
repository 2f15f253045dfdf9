//! Command-line subcommands (temporary module file from the poly branch).

pub mod approx;

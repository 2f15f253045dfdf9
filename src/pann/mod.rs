//! PANN evaluation: calibrate each site's bound B on training data, then replace every
//! ReLU and max by its polynomial of precision alpha and measure what is lost.

pub mod calibrate;
pub mod no_clamp;
pub mod per_site;
pub mod pricing;
pub mod report;
pub mod sites;
pub mod sweep;

pub use sites::Pann;

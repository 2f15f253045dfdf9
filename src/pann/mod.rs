//! PANN evaluation: calibrate each activation site's bound B on training data, then
//! replace every ReLU by the polynomial of precision alpha and measure what is lost.

pub mod calibrate;
pub mod evaluate;
pub mod report;
pub mod sweep;

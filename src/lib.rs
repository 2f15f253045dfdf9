//! sturdy: a GPU compute-shader training engine for polynomial approximations of
//! neural networks (PANNs).

pub mod cli;
pub mod data;
pub mod gpu;
pub mod ops;
pub mod poly;
pub mod reference;

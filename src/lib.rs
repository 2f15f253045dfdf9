//! sturdy: a GPU compute-shader training engine for polynomial approximations of
//! neural networks (PANNs).

pub mod allowed;
pub mod atomic;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod evaluation;
pub mod export;
pub mod gpu;
pub mod interrupt;
pub mod models;
pub mod nn;
pub mod ops;
pub mod pann;
pub mod poly;
pub mod reference;
pub mod settings;
pub mod study;
pub mod train;

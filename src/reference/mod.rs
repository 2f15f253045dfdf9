//! Plain CPU references for every kernel, accumulating in f64. Used only by tests and
//! checks: they favour obviousness over speed. Layouts match the kernels (NCHW, row-major).

pub mod add;
pub mod batchnorm;
pub mod calibrate;
pub mod conv2d;
pub mod dropout;
pub mod linear;
pub mod loss;
pub mod matmul;
pub mod mixup;
pub mod noisy_relu;
pub mod poly_relu;
pub mod pool;
pub mod relu;
pub mod sgd;
pub mod shortcut;

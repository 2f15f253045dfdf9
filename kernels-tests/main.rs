//! Every kernel against its CPU reference (`sturdy::reference`) on random inputs.
//! Each case prints its seed on failure; `STURDY_TEST_SEED=<seed>` replays it.

mod harness;

mod add;
mod batchnorm;
mod calibrate;
mod conv2d;
mod dropout;
mod fill;
mod grid;
mod linear;
mod loss;
mod matmul;
mod mixup;
mod noisy_relu;
mod poly_relu;
mod pool;
mod relu;
mod runtime;
mod sgd;
mod shaders;
mod shortcut;
mod subgroups;

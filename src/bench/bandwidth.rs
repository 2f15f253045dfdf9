//! GB/s of the memory-bound kernels: batch norm (training forward) and the polynomial
//! ReLU. Bytes are the tensors' minimal traffic: elements read plus elements written.

use super::random;
use super::table::{figure, ms, Table};
use super::BenchConfig;
use crate::gpu::{Dispatch, Gpu, Result, Tensor};
use crate::ops::batchnorm::{self, BatchNormOptions, BatchNormShape, BatchNormTensors};
use crate::ops::poly_relu::{self, PolyCoefficients};
use crate::ops::relu;
use crate::poly::ReluApprox;

const F32: f64 = 4.0;
const F16: f64 = 2.0;

fn row(
    table: &mut Table,
    gpu: &Gpu,
    config: &BenchConfig,
    name: String,
    dispatches: &[&Dispatch],
    bytes: f64,
) -> Result<()> {
    let seconds = gpu.time(dispatches, config.repeats)?;
    table.row(vec![name, ms(seconds), figure(bytes / seconds / 1e9)]);
    Ok(())
}

/// ReLU over f32 storage and over f16 storage (f32 arithmetic): what storing training
/// activations in half precision would save, on adapters with SHADER_F16.
fn f16_storage_rows(table: &mut Table, gpu: &Gpu, config: &BenchConfig, x: &Tensor, y: &Tensor) -> Result<()> {
    let len = x.len();
    let f32_relu = relu::forward(gpu, x, y)?;
    row(table, gpu, config, "relu forward, f32 storage, 16ch 32x32".into(), &[&f32_relu], 2.0 * len as f64 * F32)?;
    let name = "relu forward, f16 storage, 16ch 32x32".to_string();
    if !gpu.has_f16() {
        table.row(vec![name, "n/a (no SHADER_F16)".into(), "n/a".into()]);
        return Ok(());
    }
    let words = relu::f16_storage_words(len);
    let (x_half, y_half) = (gpu.zeros(&[words])?, gpu.zeros(&[words])?);
    let f16_relu = relu::forward_f16_storage(gpu, &x_half, &y_half, len)?;
    row(table, gpu, config, name, &[&f16_relu], 2.0 * len as f64 * F16)
}

pub fn measure(gpu: &Gpu, config: &BenchConfig) -> Result<Table> {
    let batch = config.batch;
    let mut table = Table::new(format!("Memory-bound kernels, batch {batch}"), &["kernel", "ms", "GB/s"]);
    let mut rng = random::rng();
    for (channels, size) in [(16, 32), (64, 8)] {
        let shape = BatchNormShape { batch, channels, spatial: size * size };
        let dims = [batch, channels, size, size];
        let x = random::tensor(gpu, &mut rng, &dims)?;
        let y = gpu.zeros(&dims)?;
        let per_channel = || gpu.zeros(&[channels]);
        let (gamma, beta, mean, var, saved_mean, saved_inv_std, dgamma, dbeta) = (
            per_channel()?,
            per_channel()?,
            per_channel()?,
            per_channel()?,
            per_channel()?,
            per_channel()?,
            per_channel()?,
            per_channel()?,
        );
        let tensors = BatchNormTensors {
            gamma: &gamma,
            beta: &beta,
            running_mean: &mean,
            running_var: &var,
            saved_mean: &saved_mean,
            saved_inv_std: &saved_inv_std,
            dgamma: &dgamma,
            dbeta: &dbeta,
        };
        let dispatches = batchnorm::forward_train(gpu, shape, BatchNormOptions::default(), &x, &tensors, None, &y)?;
        // Statistics read x, normalisation reads x again and writes y.
        let bytes = 3.0 * shape.len() as f64 * F32;
        let name = format!("batchnorm forward_train {channels}ch {size}x{size} (stats + normalize)");
        row(&mut table, gpu, config, name, &dispatches.iter().collect::<Vec<_>>(), bytes)?;
    }
    let dims = [batch, 16, 32, 32];
    let len: usize = dims.iter().product();
    let x = random::tensor(gpu, &mut rng, &dims)?;
    let y = gpu.zeros(&dims)?;
    let bound = gpu.upload(&[1], &[1.0f32])?;
    let overflow = gpu.zeros(&[1])?;
    for alpha in [9, 14] {
        let approx = ReluApprox::get(alpha).map_err(|e| crate::gpu::GpuError::Device(e.to_string()))?;
        let coefficients = PolyCoefficients::with(gpu, 1, approx)?;
        let forward = poly_relu::forward(gpu, &coefficients, &bound, 0, &x, &y, &overflow)?;
        let degrees = approx.sign().degrees();
        let name = format!("poly_relu forward alpha {alpha} (degrees {degrees:?}) 16ch 32x32");
        row(&mut table, gpu, config, name, &[&forward], 2.0 * len as f64 * F32)?;
    }
    f16_storage_rows(&mut table, gpu, config, &x, &y)?;
    table.notes.push(
        "Bytes = elements read + elements written, 4 bytes each (x read twice by batch norm), 2 for f16 storage."
            .into(),
    );
    Ok(table)
}

//! GFLOP/s of the fully connected layer's kernels.

use super::random;
use super::table::{figure, ms, Table};
use super::BenchConfig;
use crate::gpu::{Gpu, Result};
use crate::ops::linear;

pub fn measure(gpu: &Gpu, config: &BenchConfig) -> Result<Table> {
    let batch = config.batch;
    let mut table = Table::new(format!("linear, batch {batch}"), &["layer", "kernel", "ms", "GFLOP/s"]);
    let mut rng = random::rng();
    // ResNet-20's classifier, and a wide layer where the kernels have work to spread.
    for (name, in_features, out_features) in [("ResNet-20 fc 64->10", 64, 10), ("512->512", 512, 512)] {
        let x = random::tensor(gpu, &mut rng, &[batch, in_features])?;
        let w = random::tensor(gpu, &mut rng, &[out_features, in_features])?;
        let b = random::tensor(gpu, &mut rng, &[out_features])?;
        let dy = random::tensor(gpu, &mut rng, &[batch, out_features])?;
        let (y, dx) = (gpu.zeros(&[batch, out_features])?, gpu.zeros(&[batch, in_features])?);
        let (dw, db) = (gpu.zeros(&[out_features, in_features])?, gpu.zeros(&[out_features])?);
        let flops = 2.0 * (batch * in_features * out_features) as f64;
        let forward = linear::forward(gpu, &x, &w, &b, &y)?;
        let backward_input = linear::backward_input(gpu, &w, &dy, &dx)?;
        let backward_params = linear::backward_params(gpu, &x, &dy, &dw, &db)?;
        let kernels: [(&str, Vec<_>); 3] = [
            ("forward", vec![&forward]),
            ("backward_input", vec![&backward_input]),
            ("backward_params (dw + db)", backward_params.iter().collect()),
        ];
        for (kernel, dispatches) in kernels {
            let seconds = gpu.time(&dispatches, config.repeats)?;
            table.row(vec![name.into(), kernel.into(), ms(seconds), figure(flops / seconds / 1e9)]);
        }
    }
    Ok(table)
}

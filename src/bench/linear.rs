//! GFLOP/s of the fully connected layer's kernels.

use super::random;
use super::table::{figure, ms, Table};
use super::{time_variants, BenchConfig};
use crate::gpu::{Gpu, Result};
use crate::ops::linear;
use crate::ops::variants::{Build, Product};

pub fn measure(gpu: &Gpu, config: &BenchConfig) -> Result<Table> {
    let batch = config.batch;
    let mut table = Table::new(format!("linear, batch {batch}"), &["layer", "kernel", "variant", "ms", "GFLOP/s"]);
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
        let kernels: [(Product, Build); 3] = [
            (Product::Forward, &|v| linear::forward(gpu, v, &x, &w, &b, &y)),
            (Product::BackwardInput, &|v| linear::backward_input(gpu, v, &w, &dy, &dx)),
            (Product::BackwardWeight, &|v| linear::backward_params(gpu, v, &x, &dy, &dw, &db)),
        ];
        for (product, build) in kernels {
            let key = linear::variant_key(product, batch, in_features, out_features);
            let variants = linear::applicable(gpu, product, batch, in_features, out_features);
            for (label, seconds) in time_variants(gpu, config, &key, &variants, build)? {
                table.row(vec![name.into(), product.name().into(), label, ms(seconds), figure(flops / seconds / 1e9)]);
            }
        }
    }
    table.notes.push("backward_weight: the weight gradient and the bias gradient (direct in every variant).".into());
    Ok(table)
}

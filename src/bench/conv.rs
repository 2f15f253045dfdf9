//! GFLOP/s of the three convolution kernels at ResNet-20's layer shapes.

use super::random;
use super::table::{figure, ms, Table};
use super::{time_variants, BenchConfig};
use crate::gpu::{median, Gpu, Result};
use crate::ops::conv2d::{self, Conv2dShape};
use crate::ops::gemm;
use crate::ops::variants::{Build, Product, Variant};

/// ResNet-20's distinct convolutions (CIFAR, 32x32 input): the stem, the 3x3 convs of
/// each stage, and the stride-2 transitions with their 1x1 projection shortcuts.
pub fn resnet20_layers(batch: usize) -> Vec<(&'static str, Conv2dShape)> {
    let conv = |in_channels, out_channels, size, kernel, stride| Conv2dShape {
        batch,
        in_channels,
        out_channels,
        height: size,
        width: size,
        kernel,
        stride,
        padding: kernel / 2,
    };
    vec![
        ("stem 3->16 32x32", conv(3, 16, 32, 3, 1)),
        ("16->16 32x32", conv(16, 16, 32, 3, 1)),
        ("16->32 32x32 s2", conv(16, 32, 32, 3, 2)),
        ("1x1 16->32 s2", conv(16, 32, 32, 1, 2)),
        ("32->32 16x16", conv(32, 32, 16, 3, 1)),
        ("32->64 16x16 s2", conv(32, 64, 16, 3, 2)),
        ("1x1 32->64 s2", conv(32, 64, 16, 1, 2)),
        ("64->64 8x8", conv(64, 64, 8, 3, 1)),
    ]
}

/// 2 * multiply-adds: every output position of every filter takes C * K * K of them;
/// backward_input and backward_weight do the same number.
pub fn flops(s: &Conv2dShape) -> f64 {
    2.0 * (s.batch * s.output_height() * s.output_width() * s.out_channels * s.in_channels * s.kernel * s.kernel) as f64
}

/// Median seconds of the GEMM products among `variant`'s dispatches (each timed alone,
/// their packs, copies and chunk sums left out) over the configured repeats: what the
/// ceiling's matrix product measures. `None` without timestamps.
fn product_seconds(gpu: &Gpu, config: &BenchConfig, variant: Variant, build: Build) -> Result<Option<f64>> {
    let dispatches = build(variant)?;
    let dispatches: Vec<_> = dispatches.iter().collect();
    let mut runs = Vec::new();
    for _ in 0..config.repeats.max(1) {
        let Some(times) = gpu.kernel_times(&dispatches)? else {
            return Ok(None);
        };
        runs.push(dispatches.iter().zip(times).filter(|(d, _)| gemm::is_product(d)).map(|(_, t)| t).sum::<f64>());
    }
    Ok(Some(median(&runs)))
}

/// GFLOP/s of each kernel per layer and variant, with its share of the matmul ceiling, for
/// the whole op and for its GEMM products alone; the variant `ops::variants::choose`
/// selects is marked.
pub fn measure(gpu: &Gpu, config: &BenchConfig, ceiling_gflops: f64) -> Result<Table> {
    let mut table = Table::new(
        format!("conv2d at ResNet-20 shapes, batch {}", config.batch),
        &["layer", "kernel", "variant", "ms", "GFLOP/s", "of ceiling", "GEMM ms", "GEMM of ceiling"],
    );
    let share = |seconds: f64, s: &Conv2dShape| format!("{:.0} %", 100.0 * flops(s) / seconds / 1e9 / ceiling_gflops);
    let mut rng = random::rng();
    for (name, s) in resnet20_layers(config.batch) {
        let x = random::tensor(gpu, &mut rng, &s.input_shape())?;
        let w = random::tensor(gpu, &mut rng, &s.weight_shape())?;
        let dy = random::tensor(gpu, &mut rng, &s.output_shape())?;
        let (y, dx, dw) = (gpu.zeros(&s.output_shape())?, gpu.zeros(&s.input_shape())?, gpu.zeros(&s.weight_shape())?);
        let kernels: [(Product, Build); 3] = [
            (Product::Forward, &|v| conv2d::forward(gpu, v, &s, &x, &w, None, &y)),
            (Product::BackwardInput, &|v| conv2d::backward_input(gpu, v, &s, &w, &dy, &dx)),
            (Product::BackwardWeight, &|v| conv2d::backward_weight(gpu, v, &s, &x, &dy, &dw)),
        ];
        for (product, build) in kernels {
            let (key, variants) = (conv2d::variant_key(product, &s), conv2d::applicable(gpu, &s, product));
            let timed = time_variants(gpu, config, &key, &variants, build)?;
            for (&variant, (label, seconds)) in variants.iter().zip(timed) {
                let product_cells = match variant {
                    Variant::Direct => None,
                    Variant::Gemm(_) => Some(product_seconds(gpu, config, variant, build)?),
                };
                let [product_ms, product_share] = match product_cells {
                    None => ["-".into(), "-".into()],
                    Some(None) => ["n/a".into(), "n/a".into()],
                    Some(Some(product)) => [ms(product), share(product, &s)],
                };
                table.row(vec![
                    name.into(),
                    product.name().to_string(),
                    label,
                    ms(seconds),
                    figure(flops(&s) / seconds / 1e9),
                    share(seconds, &s),
                    product_ms,
                    product_share,
                ]);
            }
        }
    }
    table.notes.push(
        "ms: the whole op, its packs and copies included, as one submission. GEMM ms: its GEMM products alone, \
         each dispatch timed by itself, as the ceiling's matrix product is (- for the direct kernels, n/a \
         without GPU timestamps). Training's backward_weight reads the x its forward packed: its pack is the \
         forward's."
            .into(),
    );
    Ok(table)
}

//! The ceiling: GFLOP/s of the best matrix product this engine has for the adapter
//! (ops::matmul, the variant Gpu::prefers_texture_loads selects), at a square size
//! and at the GEMM shapes of ResNet-20's convolutions written as implicit GEMMs.

use super::random;
use super::table::{figure, ms, Table};
use super::BenchConfig;
use crate::gpu::{Gpu, Result};
use crate::ops::matmul::{Matmul, MatmulShape, MatmulVariant};

/// The best GFLOP/s measured, and the table.
pub struct Ceiling {
    pub gflops: f64,
    pub table: Table,
}

/// Time one product of `shape` with `variant`; seconds per run.
fn time(gpu: &Gpu, config: &BenchConfig, variant: MatmulVariant, shape: MatmulShape) -> Result<f64> {
    let mut rng = random::rng();
    let c = gpu.zeros(&[shape.m, shape.n])?;
    let matmul = Matmul::new(gpu, variant, shape, &c)?;
    matmul.write_a(gpu, &random::values(&mut rng, shape.m * shape.k))?;
    matmul.write_b(gpu, &random::values(&mut rng, shape.k * shape.n))?;
    gpu.time(&[matmul.dispatch()], config.repeats)
}

pub fn measure(gpu: &Gpu, config: &BenchConfig) -> Result<Ceiling> {
    let selected = MatmulVariant::for_gpu(gpu);
    let other = match selected {
        MatmulVariant::Texture => MatmulVariant::Tiled,
        MatmulVariant::Tiled => MatmulVariant::Texture,
    };
    let square = if config.quick { 512 } else { 1024 };
    // Implicit-GEMM shapes of a 3x3 conv (M = output positions, capped at a texture's
    // 16384 rows; K = C * 9; N = O): the 16- and 64-channel layers of ResNet-20.
    let positions = (config.batch * 32 * 32).min(16384);
    let shapes = [
        ("square", MatmulShape { m: square, k: square, n: square }),
        ("conv 16->16 as GEMM", MatmulShape { m: positions, k: 16 * 9, n: 16 }),
        ("conv 64->64 as GEMM", MatmulShape { m: (config.batch * 8 * 8).min(16384), k: 64 * 9, n: 64 }),
    ];
    let mut table =
        Table::new("Ceiling: matrix product (ops::matmul)", &["variant", "shape", "M x K x N", "ms", "GFLOP/s"]);
    let mut best: f64 = 0.0;
    for (index, (name, shape)) in shapes.iter().enumerate() {
        // The variant this adapter does not use is shown once, for comparison.
        let variants: &[MatmulVariant] = if index == 0 { &[selected, other] } else { &[selected] };
        for &variant in variants {
            let seconds = time(gpu, config, variant, *shape)?;
            let gflops = shape.flops() / seconds / 1e9;
            if variant == selected {
                best = best.max(gflops);
            }
            let label =
                if variant == selected { format!("**{}** (selected)", variant.name()) } else { variant.name().into() };
            table.row(vec![
                label,
                name.to_string(),
                format!("{} x {} x {}", shape.m, shape.k, shape.n),
                ms(seconds),
                figure(gflops),
            ]);
        }
    }
    table.notes.push(format!("Ceiling = best selected-variant figure: {} GFLOP/s.", figure(best)));
    Ok(Ceiling { gflops: best, table })
}

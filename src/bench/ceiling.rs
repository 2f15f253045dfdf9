//! The ceiling: GFLOP/s of the best matrix product this engine has for the adapter
//! (ops::matmul with each GEMM loader), at a square size and at the GEMM shapes of
//! ResNet-20's convolutions written as implicit GEMMs.

use super::random;
use super::table::{figure, ms, Table};
use super::BenchConfig;
use crate::gpu::{Gpu, Result};
use crate::ops::gemm::Loader;
use crate::ops::matmul::{Matmul, MatmulShape};

/// The best GFLOP/s measured, and the table.
pub struct Ceiling {
    pub gflops: f64,
    pub table: Table,
}

/// Time one product of `shape` with `loader`; seconds per run.
fn time(gpu: &Gpu, config: &BenchConfig, loader: Loader, shape: MatmulShape) -> Result<f64> {
    let mut rng = random::rng();
    let c = gpu.zeros(&[shape.m, shape.n])?;
    let matmul = Matmul::new(gpu, loader, shape, &c)?;
    matmul.write_a(gpu, &random::values(&mut rng, shape.m * shape.k))?;
    matmul.write_b(gpu, &random::values(&mut rng, shape.k * shape.n))?;
    gpu.time(&[matmul.dispatch()], config.repeats)
}

pub fn measure(gpu: &Gpu, config: &BenchConfig) -> Result<Ceiling> {
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
        Table::new("Ceiling: matrix product (ops::matmul)", &["loader", "shape", "M x K x N", "ms", "GFLOP/s"]);
    let mut best: (f64, Option<Loader>) = (0.0, None);
    for (name, shape) in shapes {
        for loader in Loader::available(gpu) {
            let seconds = time(gpu, config, loader, shape)?;
            let gflops = shape.flops() / seconds / 1e9;
            if gflops > best.0 {
                best = (gflops, Some(loader));
            }
            table.row(vec![
                loader.name(),
                name.to_string(),
                format!("{} x {} x {}", shape.m, shape.k, shape.n),
                ms(seconds),
                figure(gflops),
            ]);
        }
    }
    let fastest = best.1.map_or("none".into(), Loader::name);
    table.notes.push(format!("Ceiling = the best figure: {} GFLOP/s ({fastest}).", figure(best.0)));
    Ok(Ceiling { gflops: best.0, table })
}

//! `sturdy bench`: how fast the kernels and whole training steps run on the current
//! adapter, against the fastest matrix product this engine can run there (the ceiling).
//! Each section is a markdown table; kernels are timed with GPU timestamps where the
//! adapter has them (`Gpu::time`), after a warm-up run, and the median run is reported.

mod bandwidth;
mod ceiling;
mod conv;
mod inference;
mod linear;
mod memory;
mod random;
mod steps;
mod table;

pub use table::Table;

use crate::gpu::{Gpu, Result};

#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Images per batch for kernels and steps.
    pub batch: usize,
    /// Timed runs per kernel.
    pub repeats: usize,
    /// Timed whole steps per model.
    pub step_repeats: usize,
    /// Smaller problem sizes where a section has its own (the square ceiling).
    pub quick: bool,
}

/// What one run measured: the tables, and the conv kernels' fraction of the ceiling.
pub struct Report {
    pub tables: Vec<Table>,
    pub ceiling_gflops: f64,
    pub conv_gflops: Vec<f64>,
}

/// Runs every benchmark; `progress` hears each section's name before it starts.
pub fn run(gpu: &Gpu, config: &BenchConfig, mut progress: impl FnMut(&str)) -> Result<Report> {
    progress("matmul ceiling");
    let ceiling = ceiling::measure(gpu, config)?;
    progress("conv2d");
    let (conv, conv_gflops) = conv::measure(gpu, config, ceiling.gflops)?;
    progress("linear");
    let linear = linear::measure(gpu, config)?;
    progress("batch norm and polynomial ReLU");
    let bandwidth = bandwidth::measure(gpu, config)?;
    progress("training steps");
    let steps = steps::measure(gpu, config)?;
    progress("inference: backbone and PANN");
    let inference = inference::measure(gpu, config)?;
    progress("memory");
    let memory = memory::measure(gpu)?;
    Ok(Report {
        tables: vec![ceiling.table, conv, linear, bandwidth, steps, inference, memory],
        ceiling_gflops: ceiling.gflops,
        conv_gflops,
    })
}

impl Report {
    pub fn markdown(&self) -> String {
        self.tables.iter().map(Table::markdown).collect::<Vec<_>>().join("\n")
    }
}

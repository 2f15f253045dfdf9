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
use crate::ops::variants::{choose, Build, Variant};

/// The parts of a run, in the order they run (`sturdy bench --only`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// The matrix-product ceiling (also measured whenever conv is).
    Ceiling,
    Conv,
    Linear,
    /// Batch norm and the polynomial ReLU.
    Bandwidth,
    Steps,
    Inference,
    Memory,
}

#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// What to measure; all of it when empty.
    pub sections: Vec<Section>,
    /// Images per batch for kernels and steps.
    pub batch: usize,
    /// Timed runs per kernel.
    pub repeats: usize,
    /// Timed whole steps per model.
    pub step_repeats: usize,
    /// Smaller problem sizes where a section has its own (the square ceiling).
    pub quick: bool,
}

impl BenchConfig {
    fn runs(&self, section: Section) -> bool {
        self.sections.is_empty() || self.sections.contains(&section)
    }
}

/// What one run measured.
pub struct Report {
    pub tables: Vec<Table>,
}

/// Runs the configured benchmarks; `progress` hears each section's name before it starts.
pub fn run(gpu: &Gpu, config: &BenchConfig, mut progress: impl FnMut(&str)) -> Result<Report> {
    let mut tables = Vec::new();
    if config.runs(Section::Ceiling) || config.runs(Section::Conv) {
        progress("matmul ceiling");
        let ceiling = ceiling::measure(gpu, config)?;
        tables.push(ceiling.table);
        if config.runs(Section::Conv) {
            progress("conv2d");
            tables.push(conv::measure(gpu, config, ceiling.gflops)?);
        }
    }
    if config.runs(Section::Linear) {
        progress("linear");
        tables.push(linear::measure(gpu, config)?);
    }
    if config.runs(Section::Bandwidth) {
        progress("batch norm and polynomial ReLU");
        tables.push(bandwidth::measure(gpu, config)?);
    }
    if config.runs(Section::Steps) {
        progress("training steps");
        tables.extend(steps::measure(gpu, config)?);
    }
    if config.runs(Section::Inference) {
        progress("inference: backbone and PANN");
        tables.push(inference::measure(gpu, config)?);
    }
    if config.runs(Section::Memory) {
        progress("memory");
        tables.push(memory::measure(gpu)?);
    }
    tables.push(chosen_variants(gpu));
    Ok(Report { tables })
}

/// Seconds of one run of `op` with each of `variants`, labelled with the variant's name, the
/// one `ops::variants::choose` selects for `key` marked.
fn time_variants(
    gpu: &Gpu,
    config: &BenchConfig,
    key: &str,
    variants: &[Variant],
    build: Build,
) -> Result<Vec<(String, f64)>> {
    let selected = choose(gpu, key, variants, build)?;
    variants
        .iter()
        .map(|&variant| {
            let seconds = gpu.time(&build(variant)?.iter().collect::<Vec<_>>(), config.repeats)?;
            let label = if variant == selected { format!("**{}** (selected)", variant.name()) } else { variant.name() };
            Ok((label, seconds))
        })
        .collect()
}

/// The variant every op and shape measured above ran with (`--kernels`).
fn chosen_variants(gpu: &Gpu) -> Table {
    let mut table =
        Table::new(format!("Kernel variants chosen ({:?})", gpu.kernel_choice()), &["op and shape", "variant"]);
    for (op, variant) in gpu.chosen_variants() {
        table.row(vec![op, variant]);
    }
    let cache = gpu.kernel_cache_path().map_or("no cache folder".into(), |path| path.display().to_string());
    table.notes.push(format!(
        "Auto: the fastest variant, timed at the first use of each shape on this adapter, cached in {cache}."
    ));
    table
}

impl Report {
    pub fn markdown(&self) -> String {
        self.tables.iter().map(Table::markdown).collect::<Vec<_>>().join("\n")
    }
}

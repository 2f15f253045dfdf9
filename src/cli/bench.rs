use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::bench::{self, BenchConfig, Section};
use crate::gpu::{Gpu, GpuOptions};

/// Measure kernel and training-step speed on the adapter; prints markdown tables.
///
/// Reports GFLOP/s of conv2d (forward, backward_input, backward_weight) at ResNet-20's
/// shapes, as whole ops and as their GEMM products alone, and of linear, GB/s of batch
/// norm and the polynomial ReLU, images/s of whole training steps (ResNet-20, small CNN)
/// with the host's part of a step and the share of step time outside kernels, ResNet-20's
/// GPU memory, and the ceiling they are compared with: the fastest matrix product this
/// engine has for the adapter.
///
/// Example: `sturdy bench --quick` (about a minute on lavapipe), or
/// `sturdy bench --out BENCHMARKS.md` (appends the tables with the adapter and date).
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Images per batch for the kernels and steps [default: 128, or 16 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..))]
    pub batch: Option<u64>,
    /// Timed runs per kernel; the median is reported [default: 3].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub repeats: Option<u64>,
    /// Small sizes and few repeats for a fast look (and for tests).
    #[arg(long)]
    pub quick: bool,
    /// Measure only these sections, comma-separated (conv also measures the ceiling it is
    /// compared with) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Section>,
    /// Also append the tables, under a heading with the adapter name and date, to this
    /// markdown file (e.g. BENCHMARKS.md).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl BenchArgs {
    fn config(&self) -> BenchConfig {
        let batch = if self.quick { 16 } else { 128 };
        // Whole steps vary more than single kernels (allocation, scheduling): five of them
        // give a median and a spread worth printing.
        let (repeats, step_repeats) = (3, 5);
        BenchConfig {
            sections: self.only.clone(),
            batch: self.batch.map_or(batch, |b| b as usize),
            repeats: self.repeats.map_or(repeats, |r| r as usize),
            step_repeats,
            quick: self.quick,
        }
    }
}

/// The calendar date and time (UTC) of `seconds` since the Unix epoch, e.g. "2025-03-01 14:05 UTC"
/// (Howard Hinnant's days-to-civil algorithm).
fn utc(seconds: u64) -> String {
    let days = (seconds / 86400) as i64;
    let (hour, minute) = (seconds % 86400 / 3600, seconds % 3600 / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

pub fn run(args: &BenchArgs, options: &GpuOptions) -> anyhow::Result<()> {
    let gpu = Gpu::new(options)?;
    let config = args.config();
    let timing = if gpu.has_timestamps() { "GPU timestamps" } else { "wall clock (no TIMESTAMP_QUERY)" };
    eprintln!("benchmarking {} ({timing}), {config:?}", gpu.adapter_name());
    let report = bench::run(&gpu, &config, |section| eprintln!("  {section} ..."))?;
    let tables = report.markdown();
    println!("{tables}");
    if let Some(path) = &args.out {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let heading = format!(
            "## {} — {}\n\nTiming: {timing}. Batch {}, median of {} runs per kernel{}.\n\n",
            gpu.adapter_name(),
            utc(now),
            config.batch,
            config.repeats,
            if config.quick { " (--quick)" } else { "" }
        );
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        write!(file, "\n{heading}{tables}")?;
        eprintln!("appended to {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400 + 3600 + 120), "2000-02-29 01:02 UTC");
        assert_eq!(utc(1_735_689_600), "2025-01-01 00:00 UTC");
    }
}

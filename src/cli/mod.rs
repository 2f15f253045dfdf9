//! The `sturdy` command line: one file per subcommand.

mod approx;
mod bench;
mod devices;
mod eval;
mod export;
mod study;
mod sweep;
mod train;

use clap::{Parser, Subcommand};

use crate::gpu::{GpuOptions, ADAPTER_ENV};

#[derive(Parser)]
#[command(
    name = "sturdy",
    version,
    about = "GPU training engine for polynomial approximations of neural networks (PANNs)"
)]
pub struct Cli {
    /// Adapter to run on: an index or part of a name from `sturdy devices`
    /// (default: the best one, discrete GPU first).
    #[arg(long, global = true, env = ADAPTER_ENV)]
    pub adapter: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List the GPU adapters wgpu can use, with the features and limits sturdy depends on.
    ///
    /// Example: `sturdy devices`
    Devices,
    /// Composite minimax polynomial approximations of ReLU: degrees, depth, cost, error, coefficients.
    Approx(approx::ApproxArgs),
    Train(train::TrainArgs),
    Eval(eval::EvalArgs),
    Sweep(sweep::SweepArgs),
    Study(study::StudyArgs),
    Export(export::ExportArgs),
    Bench(bench::BenchArgs),
}

impl Cli {
    pub fn gpu_options(&self) -> GpuOptions {
        GpuOptions { adapter: self.adapter.clone() }
    }
}

/// A setting's key as its flag: `batch_size` is `--batch-size`.
fn flag(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

/// Parses the command line and runs the chosen command.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Devices => devices::run(&cli.gpu_options()),
        Command::Approx(args) => approx::run(args),
        Command::Train(args) => train::run(args, &cli.gpu_options()),
        Command::Eval(args) => eval::run(args, &cli.gpu_options()),
        Command::Sweep(args) => sweep::run(args, &cli.gpu_options()),
        Command::Study(args) => study::run(args, &cli.gpu_options()),
        Command::Export(args) => export::run(args, &cli.gpu_options()),
        Command::Bench(args) => bench::run(args, &cli.gpu_options()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::spec::StudySpec;

    #[test]
    fn flag_defaults_are_the_study_defaults() {
        let minimal = "[[grid]]\nrecipes = [\"vanilla\"]\nweight_decays = [0.0]\n";
        let study = StudySpec::parse(minimal, "minimal.toml").unwrap();
        let Command::Train(train) = Cli::try_parse_from(["sturdy", "train"]).unwrap().command else {
            unreachable!("sturdy train parses as the train command")
        };
        assert_eq!(train.settings, study.train);
        let Command::Sweep(sweep) = Cli::try_parse_from(["sturdy", "sweep", "--checkpoint", "run"]).unwrap().command
        else {
            unreachable!("sturdy sweep parses as the sweep command")
        };
        assert_eq!(sweep.settings, study.sweep);
    }
}

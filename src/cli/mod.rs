//! The `sturdy` command line: one file per subcommand.

mod approx;
mod bench;
mod devices;
mod eval;
mod export;
mod import;
mod predict;
mod study;
mod sweep;
mod train;

use clap::{Parser, Subcommand};

use crate::gpu::{GpuOptions, KernelChoice, ADAPTER_ENV, KERNELS_ENV};

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

    /// Kernel variants for ops that have several (convolutions, linear layers): `auto`
    /// times each at the first use of a shape on this adapter and keeps the fastest,
    /// cached on disk (in $STURDY_CACHE_DIR, else $XDG_CACHE_HOME/sturdy or ~/.cache/sturdy);
    /// the others force one family everywhere it applies (direct where it does not).
    #[arg(long, global = true, env = KERNELS_ENV, value_enum, default_value_t)]
    pub kernels: KernelChoice,

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
    Predict(predict::PredictArgs),
    Import(import::ImportArgs),
    Bench(bench::BenchArgs),
}

impl Cli {
    pub fn gpu_options(&self) -> GpuOptions {
        GpuOptions { adapter: self.adapter.clone(), kernels: self.kernels, unfused: crate::gpu::unfused_from_env() }
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
        Command::Predict(args) => predict::run(args, &cli.gpu_options()),
        Command::Import(args) => import::run(args, &cli.gpu_options()),
        Command::Bench(args) => bench::run(args, &cli.gpu_options()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::spec::{cells, StudySpec};
    use crate::train::settings::TrainSettings;

    fn train_flags(flags: &[&str]) -> TrainSettings {
        let command = ["sturdy", "train"].iter().chain(flags);
        let Command::Train(train) = Cli::try_parse_from(command).unwrap().command else {
            unreachable!("sturdy train parses as the train command")
        };
        train.settings
    }

    #[test]
    fn flag_defaults_are_the_study_defaults() {
        let minimal = "[[grid]]\nrecipes = [\"vanilla\"]\nweight_decays = [0.0]\n";
        let study = StudySpec::parse(minimal, "minimal.toml").unwrap();
        assert_eq!(train_flags(&[]), study.train);
        let Command::Sweep(sweep) = Cli::try_parse_from(["sturdy", "sweep", "--checkpoint", "run"]).unwrap().command
        else {
            unreachable!("sturdy sweep parses as the sweep command")
        };
        assert_eq!(sweep.settings, study.sweep);
    }

    #[test]
    fn a_cell_runs_what_sturdy_train_runs_with_the_same_settings_as_flags() {
        let flags =
            ["--recipe", "mixup-replay", "--weight-decay", "0.001", "--seed", "2", "--noise-k", "2", "--no-crop"];
        let study = "seeds = [2]\n[[grid]]\nrecipes = [\"mixup-replay\"]\nweight_decays = [0.001]\nnoise_ks = [2]\n\
                     [train]\ncrop_padding = 0\n";
        let spec = StudySpec::parse(study, "cell.toml").unwrap();
        assert_eq!(cells(&spec)[0].run_config(&spec.train), train_flags(&flags).run_config());
    }
}

use std::path::PathBuf;

use clap::Args;

use crate::allowed::{positive, unit_interval};
use crate::gpu::{Gpu, GpuOptions};
use crate::pann::report;
use crate::pann::sweep::{sweep_checkpoint, SweepOptions};
use crate::poly::degrees::ALPHAS;

/// Accuracy of trained backbones as PANNs at each precision alpha, with the cost of
/// each precision; marks the cheapest alpha within --tolerance of the backbone.
///
/// Example: `sturdy sweep --checkpoint runs/vanilla --checkpoint runs/mixup-noise --alphas 4-14 --out sweeps/fm`
#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Run folder written by `sturdy train --out` (repeat the flag to compare runs).
    #[arg(long, required = true)]
    pub checkpoint: Vec<PathBuf>,
    /// Precisions to evaluate: a range like 4-14 or a list like 6,8,10 (each in 4..=20).
    #[arg(long, default_value = "4-14", value_parser = parse_alphas)]
    pub alphas: AlphaList,
    /// Bounds are this times the largest |x| seen on training data (>= 1 keeps
    /// training-like inputs in range; test inputs beyond it are counted as overflows).
    #[arg(long, default_value_t = 1.0, value_parser = positive)]
    pub margin: f64,
    /// One bound per activation site (HE folds it into the preceding weights) instead
    /// of one for the network.
    #[arg(long)]
    pub per_site: bool,
    /// Use this bound B for every site instead of calibrating.
    #[arg(long, value_parser = positive)]
    pub bound: Option<f64>,
    /// Training images run through the backbone to calibrate the bounds.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    pub calibration_images: u64,
    /// Accuracy drop (a fraction, e.g. 0.01 = 1 point) that still counts as holding.
    #[arg(long, default_value_t = 0.01, value_parser = unit_interval)]
    pub tolerance: f64,
    /// Folder for sweep.txt, .csv, .json and the plot as .svg and .png.
    #[arg(long, default_value = "sweep")]
    pub out: PathBuf,
}

#[derive(Clone, Debug)]
pub struct AlphaList(pub Vec<u32>);

fn parse_alphas(text: &str) -> Result<AlphaList, String> {
    let allowed = || format!("alphas must lie in {}..={}", ALPHAS.start(), ALPHAS.end());
    let number =
        |s: &str| s.trim().parse::<u32>().map_err(|_| format!("{s:?} is not an alpha; use e.g. 4-14 or 6,8,10"));
    let alphas: Vec<u32> = match text.split_once('-') {
        Some((lo, hi)) => (number(lo)?..=number(hi)?).collect(),
        None => text.split(',').map(number).collect::<Result<_, _>>()?,
    };
    if alphas.is_empty() {
        return Err(format!("{text:?} names no alpha"));
    }
    match alphas.iter().find(|a| !ALPHAS.contains(a)) {
        Some(a) => Err(format!("alpha {a}: {}", allowed())),
        None => Ok(AlphaList(alphas)),
    }
}

pub fn run(args: &SweepArgs, gpu_options: &GpuOptions) -> anyhow::Result<()> {
    let gpu = Gpu::new(gpu_options)?;
    let options = SweepOptions {
        alphas: args.alphas.0.clone(),
        margin: args.margin,
        per_site: args.per_site,
        fixed_bound: args.bound,
        calibration_images: args.calibration_images as usize,
        tolerance: args.tolerance,
    };
    let mut sweeps = Vec::new();
    for checkpoint in &args.checkpoint {
        eprintln!("sweeping {} over alpha {:?} ...", checkpoint.display(), options.alphas);
        sweeps.push(sweep_checkpoint(&gpu, checkpoint, &options)?);
        // Written after each checkpoint, so a long sweep keeps what it finished.
        report::write_all(&args.out, &sweeps)?;
    }
    print!("{}", report::table(&sweeps));
    eprintln!("wrote sweep.txt, .csv, .json, .svg and .png to {}", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_lists_and_ranges_parse_and_are_checked() {
        assert_eq!(parse_alphas("4-6").unwrap().0, vec![4, 5, 6]);
        assert_eq!(parse_alphas("9,7").unwrap().0, vec![9, 7]);
        assert!(parse_alphas("3-6").unwrap_err().contains("4..=20"));
        assert!(parse_alphas("x").unwrap_err().contains("not an alpha"));
        assert!(parse_alphas("9-7").unwrap_err().contains("no alpha"));
    }
}

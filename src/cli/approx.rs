//! `approx`: inspect and export the polynomial ReLU approximations.

use std::path::PathBuf;

use anyhow::Context;

use crate::pann::sweep::REFERENCE_ALPHA;
use crate::poly::cost::{EvaluatorCosts, ReluCost};
use crate::poly::degrees::ALPHAS;
use crate::poly::export::ReluExport;
use crate::poly::ReluApprox;

/// Show or export the composite polynomial approximation of ReLU at a precision alpha.
///
/// ReLU(x) ~= x (1 + p(x / B)) / 2 with p = p_k o ... o p_1 an odd minimax composite
/// approximation of sign; precision alpha means an error of at most 2^-alpha for
/// x / B in [-1, 1] (measured, not only estimated).
#[derive(Debug, Clone, clap::Args)]
#[command(after_long_help = "Examples:\n  \
    sturdy approx --alpha 13                 degrees, costs per evaluator, error, coefficients\n  \
    sturdy approx --table                    all alphas 4..=20 side by side\n  \
    sturdy approx --alpha 9 --json relu9.json   export for an HE pipeline")]
pub struct ApproxArgs {
    /// Precision alpha (4..=20): sup error of ReLU on x / B in [-1, 1] is <= 2^-alpha.
    #[arg(long, value_parser = parse_alpha, allow_negative_numbers = true)]
    pub alpha: Option<u32>,

    /// Print every alpha side by side: degrees, depth and ciphertext products of a
    /// depth-optimal schedule and of OpenFHE, relative cost (OpenFHE's products / those at
    /// alpha = 13) and measured log2 error.
    #[arg(long)]
    pub table: bool,

    /// Write the approximation for --alpha as JSON to this path (atomically: a
    /// temporary file in the same directory, then a rename).
    #[arg(long, value_name = "PATH", requires = "alpha")]
    pub json: Option<PathBuf>,
}

fn parse_alpha(s: &str) -> Result<u32, String> {
    let alpha: u32 = s.parse().map_err(|_| format!("'{s}' is not a whole number"))?;
    if ALPHAS.contains(&alpha) {
        Ok(alpha)
    } else {
        Err(format!("precision alpha must be in {}..={}, got {alpha}", ALPHAS.start(), ALPHAS.end()))
    }
}

pub fn run(args: &ApproxArgs) -> anyhow::Result<()> {
    if args.table {
        print!("{}", table()?);
    }
    if let Some(alpha) = args.alpha {
        let relu = ReluApprox::get(alpha)?;
        print!("{}", describe(relu)?);
        if let Some(path) = &args.json {
            let json = serde_json::to_vec_pretty(&ReluExport::from(relu))?;
            crate::atomic::write_file(path, &json).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    if !args.table && args.alpha.is_none() {
        anyhow::bail!("nothing to do: pass --alpha N and/or --table (see --help)");
    }
    Ok(())
}

/// OpenFHE's ciphertext products of one ReLU at `alpha` over those at [`REFERENCE_ALPHA`].
fn relative_cost(costs: &EvaluatorCosts) -> anyhow::Result<f64> {
    let reference = EvaluatorCosts::of(&ReluApprox::get(REFERENCE_ALPHA)?.sign().degrees()).openfhe;
    Ok(costs.openfhe.products as f64 / reference.products as f64)
}

fn table() -> anyhow::Result<String> {
    let mut out = String::from(
        "one ReLU: depth and ciphertext products of a depth-optimal schedule and of OpenFHE's \
         EvalChebyshevSeries (HE-ready form); rel.cost: OpenFHE's products over alpha 13's\n",
    );
    out += &format!(
        "{:>5}  {:<22} {:>9} {:>8} {:>10} {:>9} {:>8} {:>10} {:>9}\n",
        "alpha", "degrees", "opt.depth", "opt.prod", "ofhe.depth", "ofhe.prod", "rel.cost", "eps", "log2 err"
    );
    for alpha in ALPHAS {
        let relu = ReluApprox::get(alpha)?;
        let degrees = relu.sign().degrees();
        let costs = EvaluatorCosts::of(&degrees);
        out += &format!(
            "{alpha:>5}  {:<22} {:>9} {:>8} {:>10} {:>9} {:>8.2} {:>10.3e} {:>9.2}\n",
            format!("{degrees:?}"),
            costs.depth_optimal.depth,
            costs.depth_optimal.products,
            costs.openfhe.depth,
            costs.openfhe.products,
            relative_cost(&costs)?,
            relu.sign().eps(),
            relu.measured_log2_error()
        );
    }
    Ok(out)
}

fn describe(relu: &ReluApprox) -> anyhow::Result<String> {
    let sign = relu.sign();
    let costs = EvaluatorCosts::of(&sign.degrees());
    let (optimal, openfhe) = (costs.depth_optimal, costs.openfhe);
    let mut out = format!(
        "alpha {}: degrees {:?}, total degree {}\n\
         depth-optimal: depth {}, {} ciphertext products; OpenFHE EvalChebyshevSeries (HE-ready form): depth {}, \
         {} products ({:.2}x alpha 13)\n\
         eps {:.6e}, sign error {:.3e}, measured ReLU error 2^{:.2} (target 2^-{})\n",
        relu.alpha(),
        sign.degrees(),
        ReluCost::of(&sign.degrees()).total_degree,
        optimal.depth,
        optimal.products,
        openfhe.depth,
        openfhe.products,
        relative_cost(&costs)?,
        sign.eps(),
        sign.sign_error(),
        relu.measured_log2_error(),
        relu.alpha()
    );
    for (i, c) in sign.components().iter().enumerate() {
        out += &format!(
            "p_{} degree {} on [-{r}, {r}], fitted on [{:.6e}, {:.6e}], error {:.3e}\n  \
             Chebyshev T_1, T_3, ... (t = y / r): {:?}\n",
            i + 1,
            c.degree(),
            c.fit_interval()[0],
            c.fit_interval()[1],
            c.error(),
            c.odd_coeffs(),
            r = c.radius(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        approx: ApproxArgs,
    }

    #[test]
    fn alpha_is_validated() {
        assert!(Cli::try_parse_from(["x", "--alpha", "13"]).is_ok());
        let err = Cli::try_parse_from(["x", "--alpha", "21"]).err().unwrap().to_string();
        assert!(err.contains("must be in 4..=20"), "{err}");
        assert!(Cli::try_parse_from(["x", "--alpha", "three"]).is_err());
        assert!(Cli::try_parse_from(["x", "--json", "a.json"]).is_err(), "--json needs --alpha");
    }

    #[test]
    fn json_export_writes_a_readable_file() {
        let dir = std::env::temp_dir().join(format!("sturdy-approx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("relu9.json");
        let cli = Cli::try_parse_from(["x", "--alpha", "9", "--json", path.to_str().unwrap()]).unwrap();
        run(&cli.approx).unwrap();
        let back: ReluExport = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(back.alpha, 9);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn table_lists_every_alpha() {
        let t = table().unwrap();
        assert_eq!(t.lines().count(), 2 + ALPHAS.count());
        assert!(t.lines().nth(11).unwrap().contains("1.00"), "alpha 13 has relative cost 1");
    }
}

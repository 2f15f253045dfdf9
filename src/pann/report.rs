//! Sweep results as an aligned terminal table, CSV, JSON and an SVG plot.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::sweep::{CheckpointSweep, PerSiteResult};

fn percent(value: f64) -> String {
    format!("{:.2}", 100.0 * value)
}

/// One aligned table per checkpoint; the cheapest alpha within tolerance is marked `<=`.
pub fn table(sweeps: &[CheckpointSweep]) -> String {
    let mut text = String::from(
        "costs of one ReLU: depth and products under OpenFHE's EvalChebyshevSeries (HE-ready form); \
         opt.: a depth-optimal schedule\n",
    );
    for sweep in sweeps {
        let _ =
            writeln!(text, "{}: backbone accuracy {}%", sweep.checkpoint.display(), percent(sweep.backbone_accuracy));
        let _ = writeln!(text, "{}", bounds_summary(sweep));
        if let Some(shortfall) = &sweep.shortfall {
            let _ = writeln!(text, "{}", shortfall.warning());
        }
        let _ = writeln!(
            text,
            "{:>5} {:>9} {:>9} {:>10} {:>10} {:>10} {:>6} {:>8} {:>9} {:>8} {:>9} {:>10}",
            "alpha",
            "accuracy%",
            "no-clamp%",
            "agreement%",
            "overflows",
            "ovf.images",
            "depth",
            "products",
            "opt.depth",
            "opt.prod",
            "rel.cost",
            "log2 error"
        );
        for row in &sweep.rows {
            let mark =
                if sweep.cheapest_within_tolerance == Some(row.alpha) { " <= cheapest within tolerance" } else { "" };
            let _ = writeln!(
                text,
                "{:>5} {:>9} {:>9} {:>10} {:>10} {:>10} {:>6} {:>8} {:>9} {:>8} {:>9.2} {:>10.2}{mark}",
                row.alpha,
                percent(row.accuracy),
                percent(row.no_clamp_accuracy),
                percent(row.agreement),
                row.overflows,
                row.overflowing_images,
                row.depth,
                row.mults,
                row.depth_optimal.depth,
                row.depth_optimal.products,
                row.relative_cost,
                row.log2_error
            );
        }
        if sweep.cheapest_within_tolerance.is_none() {
            let _ = writeln!(text, "no alpha swept is within tolerance of the backbone");
        }
        if let Some(per_site) = &sweep.per_site {
            text += &per_site_table(sweep, per_site);
        }
    }
    text
}

/// The per-site search: its totals against the uniform start, then one line per site.
fn per_site_table(sweep: &CheckpointSweep, result: &PerSiteResult) -> String {
    let search = &result.search;
    let mut text = String::new();
    let uniform = search.uniform_alpha.map_or_else(|| "none within tolerance".into(), |a| format!("alpha {a}"));
    let _ = writeln!(
        text,
        "per-site search ({:?} pricing, {} validation images from the training set, {} PANN passes): uniform {uniform}",
        search.pricing, search.validation_images, search.passes
    );
    let uniform_test = search.uniform_alpha.and_then(|a| sweep.rows.iter().find(|r| r.alpha == a));
    let _ = writeln!(
        text,
        "  cost {:.0} against {:.0} uniform ({:.1}% cheaper); validation {}% (backbone {}%), test {}% (uniform {}%), \
         test no-clamp {}%, agreement {}%, overflows {} in {} images",
        search.cost,
        search.uniform_cost,
        100.0 * (1.0 - search.cost / search.uniform_cost),
        percent(search.validation_accuracy),
        percent(search.validation_backbone_accuracy),
        percent(result.test_accuracy),
        uniform_test.map_or_else(|| "-".into(), |r| percent(r.accuracy)),
        percent(result.test_no_clamp_accuracy),
        percent(result.test_agreement),
        result.test_overflows,
        result.test_overflowing_images
    );
    let _ = writeln!(
        text,
        "  {:<24} {:>7} {:>11} {:>5} {:>12} {:>14}",
        "site", "kind", "evaluations", "alpha", "cost", "sensitivity"
    );
    for site in &search.sites {
        let sensitivity = site.sensitivity.map_or_else(|| "-".into(), |s| format!("{:.2} points", 100.0 * s));
        let kind = format!("{:?}", site.kind);
        let (name, evaluations, alpha, cost) = (&site.name, site.evaluations, site.alpha, site.cost);
        let _ = writeln!(text, "  {name:<24} {kind:>7} {evaluations:>11} {alpha:>5} {cost:>12.0} {sensitivity:>14}");
    }
    text
}

/// One row per site of every per-site search.
pub fn per_site_csv(sweeps: &[CheckpointSweep]) -> String {
    let mut text = String::from("checkpoint,site,kind,evaluations,uniform_alpha,alpha,cost,sensitivity\n");
    for sweep in sweeps {
        let Some(result) = &sweep.per_site else { continue };
        let uniform = result.search.uniform_alpha.map_or_else(String::new, |a| a.to_string());
        for site in &result.search.sites {
            let sensitivity = site.sensitivity.map_or_else(String::new, |s| s.to_string());
            let _ = writeln!(
                text,
                "{},{},{:?},{},{uniform},{},{},{sensitivity}",
                sweep.checkpoint.display(),
                site.name,
                site.kind,
                site.evaluations,
                site.alpha,
                site.cost
            );
        }
    }
    text
}

/// The assignment file `sturdy export --site-alphas` reads: `{ "site name": alpha, ... }`.
pub fn assignment_json(result: &PerSiteResult) -> anyhow::Result<String> {
    let map: std::collections::BTreeMap<&str, u32> =
        result.search.sites.iter().map(|s| (s.name.as_str(), s.alpha)).collect();
    Ok(serde_json::to_string_pretty(&map)?)
}

/// The bounds B used, in one line; each site's is in the JSON.
fn bounds_summary(sweep: &CheckpointSweep) -> String {
    let bounds: Vec<f32> = sweep.bounds.iter().map(|(_, b)| *b).collect();
    let (low, high) = bounds.iter().fold((f32::INFINITY, 0.0f32), |(lo, hi), &b| (lo.min(b), hi.max(b)));
    if low == high {
        format!("bound B = {high:.4} at all {} sites", bounds.len())
    } else {
        format!("bounds B from {low:.4} to {high:.4} over {} sites (each site's in sweep.json)", bounds.len())
    }
}

pub fn csv(sweeps: &[CheckpointSweep]) -> String {
    let mut text = String::from(
        "checkpoint,alpha,accuracy,no_clamp_accuracy,agreement,overflows,overflowing_images,openfhe_depth,\
         openfhe_products,depth_optimal_depth,depth_optimal_products,relative_cost,log2_error,backbone_accuracy\n",
    );
    for sweep in sweeps {
        for r in &sweep.rows {
            let _ = writeln!(
                text,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                sweep.checkpoint.display(),
                r.alpha,
                r.accuracy,
                r.no_clamp_accuracy,
                r.agreement,
                r.overflows,
                r.overflowing_images,
                r.depth,
                r.mults,
                r.depth_optimal.depth,
                r.depth_optimal.products,
                r.relative_cost,
                r.log2_error,
                sweep.backbone_accuracy
            );
        }
    }
    text
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 400.0;
const MARGIN: f64 = 60.0;
const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];

/// Accuracy against alpha, one line per checkpoint (dashed: its backbone), and the
/// relative cost of one ReLU in grey against the right-hand axis.
pub fn svg(sweeps: &[CheckpointSweep]) -> String {
    let alphas: Vec<u32> = sweeps.iter().flat_map(|s| s.rows.iter().map(|r| r.alpha)).collect();
    let (lo, hi) = (*alphas.iter().min().unwrap_or(&4) as f64, *alphas.iter().max().unwrap_or(&14) as f64);
    let max_cost = sweeps.iter().flat_map(|s| s.rows.iter().map(|r| r.relative_cost)).fold(1.0, f64::max);
    let x = |alpha: f64| MARGIN + (alpha - lo) / (hi - lo).max(1.0) * (WIDTH - 2.0 * MARGIN);
    let y = |fraction: f64| HEIGHT - MARGIN - fraction * (HEIGHT - 2.0 * MARGIN);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let (left, right, bottom, top) = (MARGIN, WIDTH - MARGIN, y(0.0), y(1.0));
    let _ = writeln!(svg, "<path d=\"M{left},{top} V{bottom} H{right} V{top}\" fill=\"none\" stroke=\"black\"/>");
    for tick in 0..=10 {
        let fraction = tick as f64 / 10.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y(fraction) + 4.0,
            tick * 10
        );
        let _ =
            writeln!(svg, "<text x=\"{}\" y=\"{}\">{:.2}</text>", right + 6.0, y(fraction) + 4.0, fraction * max_cost);
    }
    for alpha in lo as u32..=hi as u32 {
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{alpha}</text>",
            x(alpha as f64),
            bottom + 18.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">precision alpha</text>",
        WIDTH / 2.0,
        HEIGHT - 12.0
    );
    let _ = writeln!(
        svg,
        "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">PANN test accuracy %</text>",
        HEIGHT / 2.0,
        HEIGHT / 2.0
    );
    let _ = writeln!(svg, "<text x=\"{}\" y=\"{}\" transform=\"rotate(90 {} {})\" text-anchor=\"middle\" fill=\"grey\">relative cost of one ReLU</text>", WIDTH - 12.0, HEIGHT / 2.0, WIDTH - 12.0, HEIGHT / 2.0);
    if let Some(first) = sweeps.first() {
        let cost: Vec<String> =
            first.rows.iter().map(|r| format!("{},{}", x(r.alpha as f64), y(r.relative_cost / max_cost))).collect();
        let _ = writeln!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"grey\" stroke-width=\"1.5\"/>",
            cost.join(" ")
        );
    }
    for (i, sweep) in sweeps.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> =
            sweep.rows.iter().map(|r| format!("{},{}", x(r.alpha as f64), y(r.accuracy))).collect();
        let _ = writeln!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
            points.join(" ")
        );
        let backbone = y(sweep.backbone_accuracy);
        let _ = writeln!(svg, "<path d=\"M{left},{backbone} H{right}\" stroke=\"{colour}\" stroke-dasharray=\"4 4\"/>");
        let label = sweep
            .checkpoint
            .file_name()
            .map_or_else(|| sweep.checkpoint.display().to_string(), |n| n.to_string_lossy().into_owned());
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" fill=\"{colour}\">{label}</text>",
            left + 10.0,
            top + 16.0 * (i + 1) as f64
        );
    }
    svg + "</svg>\n"
}

/// Renders a plot to PNG with the system's fonts (a machine without fonts gets the
/// lines and no text).
pub fn png(svg: &str) -> anyhow::Result<Vec<u8>> {
    let mut options = resvg::usvg::Options::default();
    let fonts = options.fontdb_mut();
    fonts.load_system_fonts();
    // fontdb's generic "sans-serif" is Arial, absent from most Linux machines: use the
    // first installed font instead, so labels are drawn wherever any font exists.
    let first_family = fonts.faces().next().and_then(|face| face.families.first()).map(|(name, _)| name.clone());
    if let Some(family) = first_family {
        fonts.set_sans_serif_family(family);
    }
    let tree = resvg::usvg::Tree::from_str(svg, &options).context("the plot is not valid SVG")?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).context("empty plot")?;
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().context("encoding the plot as PNG")
}

/// Writes a report's text, CSV, JSON and plot (SVG and PNG) as `{stem}.txt` etc. into
/// `dir`, each atomically: a reader never sees a half-written file.
pub fn write_report(
    dir: &Path,
    stem: &str,
    text: String,
    csv: String,
    json: String,
    svg: String,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let png = png(&svg)?;
    let files = [
        ("txt", text.into_bytes()),
        ("csv", csv.into_bytes()),
        ("json", json.into_bytes()),
        ("svg", svg.into_bytes()),
        ("png", png),
    ];
    let paths: Vec<PathBuf> = files.iter().map(|(extension, _)| dir.join(format!("{stem}.{extension}"))).collect();
    let contents: Vec<(&Path, &[u8])> =
        paths.iter().zip(&files).map(|(path, (_, bytes))| (path.as_path(), &bytes[..])).collect();
    crate::atomic::write_files(&contents).with_context(|| format!("writing the {stem} report in {}", dir.display()))
}

/// Writes sweep.txt, .csv, .json, .svg and .png into `dir`; with per-site searches also
/// sweep-sites.csv and, per checkpoint, `<checkpoint folder name>.site-alphas.json`.
pub fn write_all(dir: &Path, sweeps: &[CheckpointSweep]) -> anyhow::Result<()> {
    write_report(dir, "sweep", table(sweeps), csv(sweeps), serde_json::to_string_pretty(sweeps)?, svg(sweeps))?;
    let searched: Vec<(&CheckpointSweep, &PerSiteResult)> =
        sweeps.iter().filter_map(|s| s.per_site.as_ref().map(|p| (s, p))).collect();
    if searched.is_empty() {
        return Ok(());
    }
    let mut files = vec![(dir.join("sweep-sites.csv"), per_site_csv(sweeps))];
    for (sweep, result) in searched {
        let name = sweep.checkpoint.file_name().map_or_else(|| "run".into(), |n| n.to_string_lossy().into_owned());
        files.push((dir.join(format!("{name}.site-alphas.json")), assignment_json(result)?));
    }
    for (path, content) in files {
        crate::atomic::write_file(&path, content.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

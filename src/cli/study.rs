use std::path::PathBuf;

use clap::Args;

use crate::gpu::{Gpu, GpuOptions};
use crate::interrupt;
use crate::study::execute::{self, Busy, Outcome};
use crate::study::spec::{cells, Study};
use crate::study::{jobs, summary};
use crate::train::run;

/// Run an experiment grid (recipes x weight decays x seeds: train, then sweep, per cell)
/// from a TOML file, resumably; summary.txt, .csv, .json and .svg land in the study folder.
///
/// Example: `sturdy study quick` (built in; `sturdy study quick --print-config > my.toml`
/// gives a file to edit), then `sturdy study my.toml`. A killed study continues where it
/// stopped when run again. Cells as separate processes:
/// `sturdy study my.toml --list-jobs | xargs -P 2 -I{} sh -c {}`, then `--collect`.
#[derive(Args, Debug)]
pub struct StudyArgs {
    /// A study TOML file, or `quick` for the built-in quick study (a file named quick: ./quick).
    pub study: String,
    /// Study folder (default: the file's `out`, else studies/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one shell command per cell, each running just that cell.
    #[arg(long, conflicts_with_all = ["cell", "collect", "print_config"])]
    pub list_jobs: bool,
    /// Run just this cell (an id from --list-jobs), unless it is finished.
    #[arg(long, conflicts_with_all = ["collect", "print_config"])]
    pub cell: Option<String>,
    /// Only build the summary from the cells finished so far; name the missing ones.
    #[arg(long, conflicts_with = "print_config")]
    pub collect: bool,
    /// Print the study's settings as TOML, every default filled in, and exit.
    #[arg(long)]
    pub print_config: bool,
}

/// Builds and writes the summary; returns its table.
fn write_summary(study: &Study) -> anyhow::Result<String> {
    let summary = summary::collect(study)?;
    summary::write_all(&study.dir, &summary)?;
    Ok(summary::table(&summary))
}

pub fn run(args: &StudyArgs, gpu_options: &GpuOptions) -> anyhow::Result<()> {
    let study = Study::load(&args.study, args.out.as_deref())?;
    if args.print_config {
        print!("{}", study.resolved_toml()?);
        return Ok(());
    }
    if args.list_jobs {
        for command in jobs::commands(&study, args.out.as_deref(), gpu_options.adapter.as_deref()) {
            println!("{command}");
        }
        return Ok(());
    }
    if args.collect {
        print!("{}", write_summary(&study)?);
        eprintln!("wrote summary.txt, .csv, .json, .svg and .png to {}", study.dir.display());
        return Ok(());
    }
    let all = cells(&study.spec);
    let chosen: Vec<_> = match &args.cell {
        None => all.clone(),
        Some(id) => {
            let cell = all.iter().find(|c| &c.id() == id).ok_or_else(|| {
                let ids: Vec<String> = all.iter().map(|c| c.id()).collect();
                anyhow::anyhow!("{} has no cell {id}; its cells: {}", study.origin, ids.join(", "))
            })?;
            vec![*cell]
        }
    };
    let gpu = Gpu::new(gpu_options)?;
    run::stop_on_signals()?;
    execute::record_settings(&study)?;
    let mut failed = Vec::new();
    // Cells another process runs are passed over first, then waited for, so that this
    // process's summary holds every cell.
    let mut pending = chosen.clone();
    for pass in [Busy::Skip, Busy::Wait] {
        let cells = std::mem::take(&mut pending);
        for (i, cell) in cells.iter().enumerate() {
            eprint!("[{}/{}] ", i + 1, cells.len());
            match execute::run_cell(&gpu, &study, cell, pass) {
                Ok(Outcome::Ran) if args.cell.is_none() => {
                    write_summary(&study)?;
                }
                Ok(Outcome::Busy) => pending.push(*cell),
                Ok(_) => {}
                // A signal stops the study, not just this cell (whatever the cell was doing).
                Err(error) if error.chain().any(|cause| cause.is::<run::Stopped>()) || interrupt::requested() => {
                    return Err(error)
                }
                // One cell's failure (a divergence, say) leaves the others worth running.
                Err(error) => {
                    eprintln!("cell {} failed: {error:#}", cell.id());
                    failed.push(cell.id());
                }
            }
        }
    }
    if args.cell.is_some() {
        if failed.is_empty() {
            eprintln!("cell done; `sturdy study {} --collect` builds the summary", study.origin);
        }
    } else {
        print!("{}", write_summary(&study)?);
        eprintln!("wrote summary.txt, .csv, .json, .svg and .png to {}", study.dir.display());
    }
    if !failed.is_empty() {
        anyhow::bail!("{} of {} cells failed: {}", failed.len(), chosen.len(), failed.join(", "));
    }
    Ok(())
}

//! Running cells: train into `<study>/cells/<id>/`, then sweep; the cell's `result.json`,
//! written atomically last, marks it finished. A finished cell is skipped; a cell whose
//! `run.json` exists continues with `sturdy train --resume` semantics. Several processes may
//! share a study folder (a scheduler running `--list-jobs`, or two `sturdy study` on one
//! file): a cell is run by whichever holds its lock (`cells/<id>/.lock`, an advisory file
//! lock the system releases when its process ends, however it ends).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::cell::{Cell, NoiseVariant};
use super::spec::Study;
use crate::gpu::Gpu;
use crate::pann::report;
use crate::pann::sweep::{sweep_checkpoint, CheckpointSweep};
use crate::train::config::{METRICS_FILE, RUN_FILE};
use crate::train::recipe::Recipe;
use crate::train::{metrics, run, RunFile};

/// The file whose presence means a cell is finished.
pub const RESULT_FILE: &str = "result.json";
/// The resolved settings of the last run of the study, for the record.
pub const STUDY_FILE: &str = "study.toml";

/// What a finished cell leaves: its place in the grid, its training and its sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    pub id: String,
    pub recipe: Recipe,
    pub weight_decay: f64,
    #[serde(default)]
    pub noise: NoiseVariant,
    pub seed: u64,
    pub epochs: usize,
    /// Sum of the epochs' wall times (over every resumption) and the sweep's.
    pub train_seconds: f64,
    pub sweep_seconds: f64,
    pub sweep: CheckpointSweep,
}

/// Where an unfinished cell stands.
#[derive(Clone, Debug, PartialEq)]
pub enum CellState {
    NotStarted,
    /// Epochs finished (per its metrics log) of the total.
    Training {
        finished: usize,
        epochs: usize,
    },
    Finished,
}

pub fn cell_dir(study_dir: &Path, id: &str) -> PathBuf {
    study_dir.join("cells").join(id)
}

pub fn cell_state(study: &Study, cell: &Cell) -> anyhow::Result<CellState> {
    let dir = cell_dir(&study.dir, &cell.id());
    Ok(if dir.join(RESULT_FILE).exists() {
        CellState::Finished
    } else if dir.join(RUN_FILE).exists() {
        let finished = metrics::read_records(&dir.join(METRICS_FILE))?.len();
        CellState::Training { finished, epochs: study.spec.train.epochs as usize }
    } else {
        CellState::NotStarted
    })
}

pub fn load_result(study_dir: &Path, id: &str) -> anyhow::Result<Option<CellResult>> {
    let path = cell_dir(study_dir, id).join(RESULT_FILE);
    match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{} is not a study cell result", path.display())),
    }
}

/// Refuses to resume a cell trained with other settings than the study now gives.
fn check_saved_settings(dir: &Path, id: &str, expected: &crate::train::RunConfig) -> anyhow::Result<()> {
    let saved = RunFile::load(dir)?.config;
    if &saved == expected {
        return Ok(());
    }
    let (saved, expected) = (serde_json::to_value(&saved)?, serde_json::to_value(expected)?);
    let differing: Vec<String> = expected
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, value)| saved.get(key.as_str()) != Some(value))
        .map(|(key, value)| format!("{key}: {} in the run, {value} in the study", saved[key.as_str()]))
        .collect();
    bail!(
        "cell {id} in {} was started with other settings ({}); restore the study's settings or delete the \
         cell's folder to train it afresh",
        dir.display(),
        differing.join("; ")
    )
}

/// Whether [`run_cell`] found the cell finished, ran (the rest of) it, or found another
/// process running it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Skipped,
    Ran,
    Busy,
}

/// Whether [`run_cell`] waits for a cell that another process is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    Skip,
    Wait,
}

/// The cell's lock, held until the returned file is dropped; None when another process
/// holds it and `busy` says not to wait.
fn lock_cell(dir: &Path, busy: Busy) -> anyhow::Result<Option<std::fs::File>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match busy {
        Busy::Wait => file.lock().with_context(|| format!("locking {}", path.display()))?,
        Busy::Skip => match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        },
    }
    Ok(Some(file))
}

/// Trains (or resumes) and sweeps one cell, unless it is finished or (with [`Busy::Skip`])
/// another process is running it.
pub fn run_cell(gpu: &Gpu, study: &Study, cell: &Cell, busy: Busy) -> anyhow::Result<Outcome> {
    let id = cell.id();
    let dir = cell_dir(&study.dir, &id);
    let Some(_lock) = lock_cell(&dir, busy)? else {
        eprintln!("cell {id}: another process is running it, skipped for now");
        return Ok(Outcome::Busy);
    };
    let config = cell.run_config(&study.spec.train);
    let resume = match cell_state(study, cell)? {
        CellState::Finished => {
            eprintln!("cell {id}: finished, skipped");
            return Ok(Outcome::Skipped);
        }
        CellState::Training { finished, epochs } => {
            check_saved_settings(&dir, &id, &config)?;
            eprintln!("cell {id}: resuming after epoch {finished} of {epochs}");
            true
        }
        CellState::NotStarted => {
            eprintln!("cell {id}: training");
            false
        }
    };
    let records = run::train(gpu, config, &dir, resume).with_context(|| format!("training cell {id}"))?;
    let train_seconds = records.iter().map(|r| r.epoch_seconds).sum();
    eprintln!("cell {id}: sweeping alpha {:?}", study.spec.sweep.alphas);
    let started = Instant::now();
    let sweep = sweep_checkpoint(gpu, &dir, &study.spec.sweep).with_context(|| format!("sweeping cell {id}"))?;
    let sweep_seconds = started.elapsed().as_secs_f64();
    report::write_all(&dir, std::slice::from_ref(&sweep))?;
    let result = CellResult {
        id,
        recipe: cell.recipe,
        weight_decay: cell.weight_decay,
        noise: cell.noise,
        seed: cell.seed,
        epochs: records.len(),
        train_seconds,
        sweep_seconds,
        sweep,
    };
    let path = dir.join(RESULT_FILE);
    crate::atomic::write_file(&path, serde_json::to_string_pretty(&result)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Outcome::Ran)
}

/// Writes the study's resolved settings into its folder.
pub fn record_settings(study: &Study) -> anyhow::Result<()> {
    std::fs::create_dir_all(&study.dir).with_context(|| format!("creating {}", study.dir.display()))?;
    let path = study.dir.join(STUDY_FILE);
    crate::atomic::write_file(&path, study.resolved_toml()?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

//! Per-epoch metrics as JSON lines: one self-contained record per line, appended and
//! synced after each epoch, so a killed run keeps every finished epoch.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based: the number of epochs finished.
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    pub epoch_seconds: f64,
    pub images_per_second: f64,
}

pub struct MetricsLog {
    path: PathBuf,
}

impl MetricsLog {
    /// Opens `dir/metrics.jsonl`, keeping only records of epochs up to `finished_epochs`
    /// (a run killed after logging an epoch but before checkpointing it redoes that epoch).
    pub fn open(dir: &Path, finished_epochs: usize) -> anyhow::Result<MetricsLog> {
        let path = dir.join(super::config::METRICS_FILE);
        let kept: Vec<EpochRecord> = read_records(&path)?.into_iter().filter(|r| r.epoch <= finished_epochs).collect();
        let mut text = String::new();
        for record in &kept {
            text += &serde_json::to_string(record)?;
            text.push('\n');
        }
        crate::atomic::write_file(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        Ok(MetricsLog { path })
    }

    pub fn append(&self, record: &EpochRecord) -> anyhow::Result<()> {
        let context = || format!("appending to {}", self.path.display());
        let mut file = OpenOptions::new().append(true).open(&self.path).with_context(context)?;
        writeln!(file, "{}", serde_json::to_string(record)?).with_context(context)?;
        file.sync_all().with_context(context)
    }
}

/// The records of a metrics file; a missing file has none, and a torn last line is dropped.
pub fn read_records(path: &Path) -> anyhow::Result<Vec<EpochRecord>> {
    match File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        Ok(_) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Ok(text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 1.0 / epoch as f64,
            train_accuracy: 0.5,
            test_loss: 0.7,
            test_accuracy: 0.6,
            lr: 0.1,
            epoch_seconds: 2.0,
            images_per_second: 100.0,
        }
    }

    #[test]
    fn reopening_keeps_finished_epochs_and_drops_torn_lines() {
        let dir = std::env::temp_dir().join(format!("sturdy-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = MetricsLog::open(&dir, 0).unwrap();
        for epoch in 1..=3 {
            log.append(&record(epoch)).unwrap();
        }
        let path = dir.join(crate::train::config::METRICS_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        write!(file, "{{\"epoch\": 4, \"train_lo").unwrap();
        drop(file);
        assert_eq!(read_records(&path).unwrap(), vec![record(1), record(2), record(3)]);
        MetricsLog::open(&dir, 2).unwrap();
        assert_eq!(read_records(&path).unwrap(), vec![record(1), record(2)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

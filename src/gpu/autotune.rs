//! Kernel variants chosen by measurement. At the first use of an op's shape on an adapter
//! the op times each variant that applies and keeps the fastest, here: in memory, and in a
//! cache file per adapter, driver and build of the shaders (`kernels-<hash>.json` in the
//! user's cache folder), which also records them. A damaged file, or one whose record
//! differs, is ignored and rewritten; a cache that cannot be written costs
//! only a measurement in the next process. Processes sharing the cache measure under a
//! lock and read each other's results, so they all use the same variants (and a resumed
//! run computes what an uninterrupted one would). `--kernels` (`STURDY_KERNELS`) forces a
//! family of variants instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::{shaders, Gpu, Result};

/// Environment variable that forces a family of kernel variants, like `--kernels`.
pub const KERNELS_ENV: &str = "STURDY_KERNELS";
/// Environment variable naming the folder of the measurement cache (default: the
/// user's cache folder, `$XDG_CACHE_HOME/sturdy` or `~/.cache/sturdy`).
pub const CACHE_ENV: &str = "STURDY_CACHE_DIR";

/// Which kernel variants ops use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum KernelChoice {
    /// The fastest, measured at the first use of each shape and cached on disk.
    #[default]
    Auto,
    /// GEMMs reading textures (for CPU adapters such as lavapipe, which gather texture loads).
    Texture,
    /// Texture GEMMs sharing B's texels between the lanes of a subgroup (adapters with
    /// subgroups, lavapipe among them).
    Subgroup,
    /// GEMMs reading storage buffers through workgroup-memory tiles (GPUs).
    Tiled,
    /// One kernel per op over storage buffers: the reference and fallback.
    Direct,
}

/// The cache file's content.
#[derive(Default, Serialize, Deserialize)]
struct CacheFile {
    adapter: String,
    build: String,
    /// Op and shape to the name of the fastest variant.
    fastest: BTreeMap<String, String>,
}

/// The choices of one device: what is forced, and what was measured.
pub(super) struct Autotune {
    choice: KernelChoice,
    path: Option<PathBuf>,
    adapter: String,
    build: String,
    fastest: Mutex<BTreeMap<String, String>>,
    /// The variant each op and shape of this process uses.
    chosen: Mutex<BTreeMap<String, String>>,
    /// Whether this process has said that it measures (once, before the first measurement).
    announced: AtomicBool,
    /// The measurements of the build in progress, shown as they run (see [`Gpu::measuring`]).
    session: Mutex<Option<Session>>,
}

/// The measurements made while a [`Measuring`] guard lives.
#[derive(Default)]
struct Session {
    /// A spinner naming the shape being timed (drawn on a terminal only), from the first.
    spinner: Option<ProgressBar>,
    measured: usize,
    time: Duration,
}

/// FNV-1a: a hash that stays the same across Rust versions, for file names and stamps.
fn fnv1a(parts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|part| part.bytes().chain([0])) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn cache_dir() -> Option<PathBuf> {
    let from_env = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    from_env(CACHE_ENV)
        .or_else(|| from_env("XDG_CACHE_HOME").map(|dir| dir.join("sturdy")))
        .or_else(|| from_env("HOME").map(|home| home.join(".cache").join("sturdy")))
}

impl Autotune {
    pub(super) fn new(choice: KernelChoice, info: &wgpu::AdapterInfo) -> Autotune {
        let adapter =
            format!("{} | {:?} | {} {} | {:x}", info.name, info.backend, info.driver, info.driver_info, info.device);
        let sources: Vec<&str> = shaders::SHADER_SOURCES.iter().map(|(_, source)| *source).collect();
        let build = fnv1a(&[&[env!("CARGO_PKG_VERSION")], &sources[..]].concat());
        // One file per adapter, driver and build: two builds on one machine (a checkout
        // beside an installed binary) keep their own measurements instead of erasing each other's.
        let path = cache_dir().map(|dir| dir.join(format!("kernels-{}.json", fnv1a(&[&adapter, &build]))));
        Autotune {
            choice,
            path,
            adapter,
            build,
            fastest: Mutex::default(),
            chosen: Mutex::default(),
            announced: Default::default(),
            session: Mutex::default(),
        }
    }

    /// The cache file's choices, if it is readable and of this adapter and build.
    fn read_file(&self, path: &Path) -> Option<BTreeMap<String, String>> {
        let file: CacheFile = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        (file.adapter == self.adapter && file.build == self.build).then_some(file.fastest)
    }

    /// The fastest variant for `key`: known, read from the cache file, or measured by
    /// `measure` and added to it. The measurement runs under the cache's lock, so that
    /// concurrent processes measure each shape once and agree.
    fn fastest_or_measure(&self, key: &str, measure: impl FnOnce() -> Result<String>) -> Result<String> {
        if let Some(known) = self.fastest.lock().unwrap().get(key) {
            return Ok(known.clone());
        }
        let Some(path) = &self.path else {
            self.announce(None);
            let fastest = self.shown(key, measure)?;
            self.fastest.lock().unwrap().insert(key.to_string(), fastest.clone());
            return Ok(fastest);
        };
        let _lock = lock_beside(path);
        let mut on_disk = self.read_file(path).unwrap_or_default();
        if let Some(known) = on_disk.get(key) {
            let known = known.clone();
            self.fastest.lock().unwrap().append(&mut on_disk);
            return Ok(known);
        }
        self.announce(Some(path));
        let fastest = self.shown(key, measure)?;
        on_disk.insert(key.to_string(), fastest.clone());
        let file = CacheFile { adapter: self.adapter.clone(), build: self.build.clone(), fastest: on_disk };
        let bytes = serde_json::to_vec_pretty(&file).expect("the cache serialises");
        // A cache that cannot be written is only a measurement to repeat.
        let _ = crate::atomic::write_file(path, &bytes);
        self.fastest.lock().unwrap().extend(file.fastest);
        Ok(fastest)
    }

    /// One line on stderr before this process's first measurement: a first run on a new
    /// adapter pauses (10-14 s for ResNet-20 at batch 64 on lavapipe) and should say why.
    fn announce(&self, cache: Option<&Path>) {
        if !self.announced.swap(true, Ordering::Relaxed) {
            let cached =
                cache.map_or("no cache folder: set STURDY_CACHE_DIR".into(), |p| format!("cached in {}", p.display()));
            eprintln!("timing kernel variants at their first use on this adapter ({cached}; --kernels skips it)");
        }
    }

    /// `measure` of `key`, named on the session's spinner and counted, where a session is open.
    fn shown(&self, key: &str, measure: impl FnOnce() -> Result<String>) -> Result<String> {
        let started = Instant::now();
        if let Some(session) = self.session.lock().unwrap().as_mut() {
            let spinner = session.spinner.get_or_insert_with(|| {
                let spinner = ProgressBar::new_spinner();
                spinner.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"));
                spinner.enable_steady_tick(Duration::from_millis(200));
                spinner
            });
            spinner.set_message(format!("timing {key} (shape {})", session.measured + 1));
        }
        let fastest = measure()?;
        if let Some(session) = self.session.lock().unwrap().as_mut() {
            session.measured += 1;
            session.time += started.elapsed();
        }
        Ok(fastest)
    }
}

/// While it lives, each measurement is named on a spinner line; when it drops, one line
/// says how many shapes were timed, if any (from [`Gpu::measuring`]).
pub struct Measuring<'g>(&'g Autotune);

impl Drop for Measuring<'_> {
    fn drop(&mut self) {
        let Some(session) = self.0.session.lock().unwrap().take() else { return };
        if let Some(spinner) = session.spinner {
            spinner.finish_and_clear();
        }
        if session.measured > 0 {
            let seconds = session.time.as_secs_f64();
            eprintln!("timed the kernel variants of {} op shapes in {seconds:.1} s", session.measured);
        }
    }
}

/// An exclusive lock on a file beside `path` (its folder created), held until dropped;
/// None where the folder cannot be made or locked (then nothing is shared).
fn lock_beside(path: &Path) -> Option<std::fs::File> {
    std::fs::create_dir_all(path.parent()?).ok()?;
    let lock = path.with_extension("lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(lock).ok()?;
    file.lock().ok()?;
    Some(file)
}

impl Gpu {
    /// What `--kernels` asked for.
    pub fn kernel_choice(&self) -> KernelChoice {
        self.autotune.choice
    }

    /// The variant measured fastest for `key` (an op and its shape), measuring it with
    /// `measure` (which returns the variant's name) when no process has yet.
    pub fn fastest_or_measure(&self, key: &str, measure: impl FnOnce() -> Result<String>) -> Result<String> {
        self.autotune.fastest_or_measure(key, measure)
    }

    /// Shows the measurements made until the guard drops (a network's build, which may
    /// time dozens of shapes on a new adapter), and then how many there were.
    pub fn measuring(&self) -> Measuring<'_> {
        *self.autotune.session.lock().unwrap() = Some(Session::default());
        Measuring(&self.autotune)
    }

    /// Records that `key` uses `variant`.
    pub fn record_choice(&self, key: &str, variant: &str) {
        self.autotune.chosen.lock().unwrap().insert(key.to_string(), variant.to_string());
    }

    /// The variant of every op and shape this process has used: (op and shape, variant).
    pub fn chosen_variants(&self) -> Vec<(String, String)> {
        self.autotune.chosen.lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Where the measurement cache lives, if anywhere.
    pub fn kernel_cache_path(&self) -> Option<&std::path::Path> {
        self.autotune.path.as_deref()
    }
}

//! Injected faults, each as a user would meet it: a disk that fills up while a checkpoint,
//! a sweep report or an export is written, an `--out` that cannot be written, a checkpoint
//! holding NaN or infinite weights, kill -9 during a sweep and an export, a model too
//! large for the adapter, and signals while a model is built and while it trains. In
//! every case: a clear error naming the problem, and nothing already written is lost or
//! left half-written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sturdy::checkpoint::Checkpoint;
use sturdy::data::synthetic::{fashion_mnist_scratch, ScratchDir};

fn sturdy() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sturdy"));
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// `sturdy args` with every file it writes limited to `bytes` (RLIMIT_FSIZE, as a nearly
/// full disk): writes past the limit fail with EFBIG instead of killing the process
/// (SIGXFSZ ignored). Mesa's shader cache is off so that only sturdy's own files count.
fn sturdy_with_file_limit(bytes: u64, args: &[&str]) -> Output {
    let script = format!("trap '' XFSZ; ulimit -f {}; exec \"$0\" \"$@\"", bytes / 512);
    let mut command = Command::new("sh");
    command.arg("-c").arg(script).arg(env!("CARGO_BIN_EXE_sturdy")).args(args);
    command.env("MESA_SHADER_CACHE_DISABLE", "true").output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeeded(output: Output) -> Output {
    assert!(output.status.success(), "sturdy failed: {}", stderr(&output));
    output
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A finished one-epoch run of the half-width small CNN on generated Fashion-MNIST files.
struct Run {
    _scratch: ScratchDir,
    data: PathBuf,
    dir: PathBuf,
}

impl Run {
    fn train(name: &str) -> Run {
        let (scratch, data) = fashion_mnist_scratch(name, 320, 96, 1);
        let dir = scratch.path().join("run");
        succeeded(sturdy().args(train_args(&data, &dir, "1")).output().unwrap());
        Run { _scratch: scratch, data, dir }
    }

    fn sweep_args<'a>(&'a self, out: &'a Path) -> Vec<&'a str> {
        vec![
            "sweep",
            "--checkpoint",
            path(&self.dir),
            "--alphas",
            "5,7",
            "--calibration-images",
            "64",
            "--out",
            path(out),
        ]
    }
}

fn train_args<'a>(data: &'a Path, out: &'a Path, epochs: &'a str) -> Vec<&'a str> {
    model_train_args(("smallcnn", "0.5"), data, out, epochs)
}

fn model_train_args<'a>(
    (model, width): (&'a str, &'a str),
    data: &'a Path,
    out: &'a Path,
    epochs: &'a str,
) -> Vec<&'a str> {
    let mut args = vec!["train", "--dataset", "fashion-mnist", "--model", model, "--width", width];
    args.extend([
        "--epochs",
        epochs,
        "--batch-size",
        "32",
        "--seed",
        "7",
        "--data-dir",
        path(data),
        "--out",
        path(out),
    ]);
    args
}

/// The files in `dir` and their bytes.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

fn assert_names_the_shortage(stderr: &str, what: &str) {
    assert!(stderr.contains(what), "the error must name {what}: {stderr}");
    assert!(stderr.contains("KiB free") && stderr.contains("nothing was replaced"), "{stderr}");
}

#[test]
fn a_full_disk_while_checkpointing_keeps_the_previous_checkpoint() {
    let run = Run::train("faults-checkpoint");
    // A two-epoch run stopped (kill -9) once its first checkpoint lands, then resumed
    // with room for run.json and metrics.jsonl but not for a checkpoint.
    let dir = run.dir.with_file_name("two-epochs");
    let checkpoint = dir.join("checkpoint.safetensors");
    let mut child = sturdy().args(train_args(&run.data, &dir, "2")).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while !checkpoint.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its first checkpoint");
        assert!(started.elapsed() < Duration::from_secs(300), "no checkpoint after 300 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = std::fs::read(&checkpoint).unwrap();
    assert_eq!(Checkpoint::load(&checkpoint).unwrap().metadata["epoch"], "1", "the kill came too late");
    let limit = before.len() as u64 / 2;
    let mut args = train_args(&run.data, &dir, "2");
    args.push("--resume");
    let output = sturdy_with_file_limit(limit, &args);
    assert!(!output.status.success(), "epoch 2 was checkpointed past the file-size limit");
    assert_names_the_shortage(&stderr(&output), "checkpoint.safetensors");
    assert_eq!(std::fs::read(&checkpoint).unwrap(), before, "the epoch-1 checkpoint changed");
    // With room again, the same command finishes the run.
    succeeded(sturdy().args(&args).output().unwrap());
    assert_eq!(Checkpoint::load(&checkpoint).unwrap().metadata["epoch"], "2");
}

#[test]
fn a_full_disk_while_writing_a_sweep_report_keeps_the_previous_report() {
    let run = Run::train("faults-sweep");
    let out = run.dir.join("sweep");
    succeeded(sturdy().args(run.sweep_args(&out)).output().unwrap());
    let before = contents(&out);
    let output = sturdy_with_file_limit(2048, &run.sweep_args(&out));
    assert!(!output.status.success(), "the report was written past the file-size limit");
    assert_names_the_shortage(&stderr(&output), "sweep");
    assert_eq!(contents(&out), before, "the previous report changed or a temporary file was left");
}

#[test]
fn a_full_disk_while_exporting_keeps_the_previous_export() {
    let run = Run::train("faults-export");
    let stem = run.dir.join("export").join("pann");
    let args = ["export", "--checkpoint", path(&run.dir), "--alpha", "7", "--out", path(&stem)];
    succeeded(sturdy().args(args).output().unwrap());
    let before = contents(stem.parent().unwrap());
    let output = sturdy_with_file_limit(4096, &args);
    assert!(!output.status.success(), "the export was written past the file-size limit");
    assert_names_the_shortage(&stderr(&output), "pann.safetensors");
    assert_eq!(contents(stem.parent().unwrap()), before, "the previous export changed or a temporary file was left");
}

#[test]
fn an_out_folder_that_cannot_be_created_fails_before_training() {
    let (scratch, data) = fashion_mnist_scratch("faults-out", 64, 32, 1);
    // A folder inside a regular file: no permission bits help, even for root.
    let blocker = scratch.path().join("a-file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let out = blocker.join("run");
    let started = Instant::now();
    let output = sturdy().args(train_args(&data, &out, "1")).output().unwrap();
    let message = stderr(&output);
    assert!(!output.status.success());
    assert!(message.contains(path(&out)) && message.contains("--out"), "{message}");
    assert!(!message.contains("epoch 1/1"), "it trained before failing: {message}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_checkpoint_with_non_finite_weights_is_refused_before_any_work() {
    let run = Run::train("faults-nan");
    let path_ = run.dir.join("checkpoint.safetensors");
    for bad in [f32::NAN, f32::INFINITY] {
        let mut checkpoint = Checkpoint::load(&path_).unwrap();
        let tensor = checkpoint.tensors.iter_mut().find(|t| t.name.ends_with("conv.weight")).unwrap();
        tensor.data[3] = bad;
        let name = tensor.name.clone();
        checkpoint.save(&path_).unwrap();
        let metrics = std::fs::read(run.dir.join("metrics.jsonl")).unwrap();
        let mut resume = train_args(&run.data, &run.dir, "2");
        resume.push("--resume");
        for args in [vec!["eval", "--checkpoint", path(&run.dir)], resume] {
            let output = sturdy().args(&args).output().unwrap();
            let message = stderr(&output);
            assert!(!output.status.success(), "sturdy {} accepted {bad} in {name}", args[0]);
            assert!(message.contains(&name) && message.contains("unusable"), "{message}");
        }
        assert_eq!(std::fs::read(run.dir.join("metrics.jsonl")).unwrap(), metrics, "a refused resume trained");
    }
}

/// kill -9 at several moments of a command that writes `watched`; afterwards every file in
/// `dir` that is not a hidden temporary parses, and a rerun completes.
fn killed_at_any_moment_leaves_whole_files(args: &[&str], dir: &Path, parses: impl Fn(&Path) -> bool) {
    for delay_ms in [300, 1200, 2500] {
        let mut child = sturdy().args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        if dir.exists() {
            for (name, _) in contents(dir).into_iter().filter(|(name, _)| !name.starts_with('.')) {
                assert!(parses(&dir.join(&name)), "{name} is damaged after a kill at {delay_ms} ms");
            }
        }
    }
    succeeded(sturdy().args(args).output().unwrap());
    assert!(contents(dir).iter().filter(|(name, _)| !name.starts_with('.')).all(|(name, _)| parses(&dir.join(name))));
}

fn json_parses(path: &Path) -> bool {
    path.extension().is_none_or(|e| e != "json")
        || serde_json::from_slice::<serde_json::Value>(&std::fs::read(path).unwrap()).is_ok()
}

#[test]
fn kill_9_during_a_sweep_or_an_export_leaves_no_half_written_file() {
    let run = Run::train("faults-kill");
    let out = run.dir.join("sweep");
    killed_at_any_moment_leaves_whole_files(&run.sweep_args(&out), &out, json_parses);
    let stem = run.dir.join("export").join("pann");
    let args = ["export", "--checkpoint", path(&run.dir), "--alpha", "7", "--out", path(&stem)];
    let whole = |p: &Path| match p.extension().and_then(|e| e.to_str()) {
        Some("safetensors") => Checkpoint::load(p).is_ok(),
        _ => json_parses(p),
    };
    killed_at_any_moment_leaves_whole_files(&args, stem.parent().unwrap(), whole);
}

/// A VGG 16 times as wide in batches of 2: its first layers fit, but its 2048-channel
/// weights, [2048, 2048, 3, 3] (151 MB), exceed the adapter's binding size. The build
/// allocates the whole network before it times any kernel variant, so the error comes
/// first, with nothing cached (timing the 1024-channel layers before it took minutes).
#[test]
fn a_model_too_large_for_the_adapter_names_the_limit_before_timing_kernels() {
    let (scratch, data) = fashion_mnist_scratch("faults-large", 64, 32, 1);
    let (out, cache) = (scratch.path().join("run"), scratch.path().join("kernel-cache"));
    let mut args = model_train_args(("vgg", "16"), &data, &out, "1");
    let batch = args.iter().position(|&a| a == "--batch-size").unwrap() + 1;
    args[batch] = "2";
    let output = sturdy().args(&args).env("STURDY_CACHE_DIR", &cache).env_remove("STURDY_KERNELS").output().unwrap();
    let message = stderr(&output);
    assert!(!output.status.success(), "a 16x VGG trained on this adapter");
    assert!(message.contains("max_storage_buffer_binding_size") || message.contains("memory"), "{message}");
    assert!(message.contains("Fix"), "{message}");
    assert!(!message.contains("timing kernel variants"), "variants were timed before the error: {message}");
    assert!(!cache.exists(), "variants were measured into {}", cache.display());
}

/// The op shapes a kernel-variant cache folder holds measurements of.
fn cached_shapes(cache: &Path) -> usize {
    let files = std::fs::read_dir(cache).into_iter().flatten().map(|entry| entry.unwrap().path());
    let caches = files.filter(|path| path.extension().is_some_and(|e| e == "json"));
    let read = |path: PathBuf| serde_json::from_slice::<serde_json::Value>(&std::fs::read(path).unwrap()).unwrap();
    caches.map(|path| read(path)["fastest"].as_object().map_or(0, |shapes| shapes.len())).sum()
}

/// SIGINT while the model is built (its kernel variants timed, with nothing cached): the
/// signal is acknowledged at once, the build stops at its next kernel timing and the run
/// before any step, writing nothing; the same command then measures the rest and trains.
#[test]
fn a_signal_while_the_model_is_built_stops_before_training() {
    use std::io::{BufRead, BufReader};
    let (scratch, data) = fashion_mnist_scratch("faults-signal-build", 320, 64, 3);
    let (out, cache) = (scratch.path().join("run"), scratch.path().join("kernel-cache"));
    let mut child = sturdy()
        .args(train_args(&data, &out, "1"))
        .env("STURDY_CACHE_DIR", &cache)
        .env_remove("STURDY_KERNELS")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let timing = lines.by_ref().map(|l| l.unwrap()).find(|l| l.starts_with("timing kernel variants"));
    assert!(timing.is_some(), "no kernel variant was timed");
    assert!(Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap().success());
    let message = lines.map(|l| l.unwrap()).collect::<Vec<_>>().join("\n");
    assert_eq!(child.wait().unwrap().code(), Some(130), "{message}");
    assert!(message.contains("SIGINT: stopping at the next point"), "not acknowledged: {message}");
    assert!(message.contains("stopped by a signal before training began"), "{message}");
    assert!(!message.contains("training smallcnn"), "training began: {message}");
    assert!(!out.exists(), "the stopped run wrote {}", out.display());
    let measured_before_the_stop = cached_shapes(&cache);
    let mut rerun = sturdy();
    rerun.args(train_args(&data, &out, "1")).env("STURDY_CACHE_DIR", &cache).env_remove("STURDY_KERNELS");
    succeeded(rerun.output().unwrap());
    // A build that ran to its end would have measured every shape before stopping; this one
    // stopped at the timing after the signal (the shapes measured before it came are kept).
    let every_shape = cached_shapes(&cache);
    assert!(
        2 * measured_before_the_stop < every_shape,
        "{measured_before_the_stop} of {every_shape} op shapes measured before the stop"
    );
}

/// SIGINT and SIGTERM during training: the run finishes its current step, saves a
/// checkpoint of exactly where it is (inside the epoch), exits with status 130 and a
/// message saying how to continue; `--resume` then ends bit-identical to a run never stopped.
#[test]
fn sigint_and_sigterm_stop_training_cleanly_and_it_resumes_bit_identically() {
    use std::io::{BufRead, BufReader};
    // 704 images in batches of 32: 22 steps an epoch, so the first point where a stopped
    // run can save (the loss sums are read every 20 steps) lies inside the epoch.
    let (scratch, data) = fashion_mnist_scratch("faults-signal", 704, 64, 3);
    let straight = scratch.path().join("straight");
    succeeded(sturdy().args(train_args(&data, &straight, "2")).output().unwrap());
    let final_state = |dir: &Path| {
        let records = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
        let records: Vec<serde_json::Value> = records.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let without_timing: Vec<_> = records
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().retain(|k, _| k != "epoch_seconds" && k != "images_per_second");
                r
            })
            .collect();
        (without_timing, Checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap().tensors)
    };
    for signal in ["INT", "TERM"] {
        let dir = scratch.path().join(signal);
        let mut child = sturdy().args(train_args(&data, &dir, "2")).stdout(Stdio::null()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let started = lines.by_ref().map(|l| l.unwrap()).find(|l| l.starts_with("training "));
        assert!(started.is_some(), "the run never started");
        let kill = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
        assert!(kill.success());
        let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
        let status = child.wait().unwrap();
        let message = rest.join("\n");
        assert_eq!(status.code(), Some(130), "SIG{signal}: {message}");
        assert!(message.contains("stopped by a signal") && message.contains("--resume"), "{message}");
        let checkpoint = Checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap();
        assert_eq!(checkpoint.metadata.get("epoch_step").map(String::as_str), Some("20"), "SIG{signal}: {message}");
        let mut resume = train_args(&data, &dir, "2");
        resume.push("--resume");
        succeeded(sturdy().args(resume).output().unwrap());
        assert!(
            final_state(&dir) == final_state(&straight),
            "SIG{signal}: the resumed run differs from the straight one"
        );
    }
}

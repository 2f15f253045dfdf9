//! `sturdy import torch` and `sturdy export --format torch` on state dicts PyTorch wrote
//! (tests/fixtures/torch/, from interop/torch/make_fixtures.py: approxCNN's module names,
//! random weights and statistics, in f32, f64 and f16): the imported run computes
//! PyTorch's logits on the GPU and in f64, exporting it gives the file's tensors back bit
//! for bit, `eval` and `train --init-from` start from it and the fine-tuned run exports,
//! and bad files are refused with the file and the fix, nothing written. Between them the
//! tests run each `sturdy` command of the README's "Bringing a PyTorch model in, taking
//! one out" with its subcommand and flags.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rand::rngs::StdRng;
use rand::SeedableRng;
use sturdy::checkpoint::Checkpoint;
use sturdy::data::synthetic::{write_cifar10_like, CifarLayout, ScratchDir};
use sturdy::export::forward::{CpuNetwork, SiteFunction};
use sturdy::export::manifest::Layer;
use sturdy::export::torch::state_dict;
use sturdy::gpu::{Gpu, Recorder};
use sturdy::models::{self, Model, ModelInput, ModelKind};
use sturdy::nn::{Mode, Shortcut};
use sturdy::train::config::{CHECKPOINT_FILE, RUN_FILE};
use sturdy::train::state;

struct Case {
    name: &'static str,
    model: ModelKind,
    shortcut: Shortcut,
    width: &'static str,
    dataset: &'static str,
    input: ModelInput,
}

const CASES: [Case; 3] = [
    Case {
        name: "resnet20_a",
        model: ModelKind::Resnet20,
        shortcut: Shortcut::A,
        width: "0.25",
        dataset: "cifar10",
        input: ModelInput { batch: 2, channels: 3, height: 32, width: 32, classes: 10 },
    },
    Case {
        name: "smallcnn_b",
        model: ModelKind::Smallcnn,
        shortcut: Shortcut::B,
        width: "0.5",
        dataset: "fashion-mnist",
        input: ModelInput { batch: 2, channels: 1, height: 28, width: 28, classes: 10 },
    },
    Case {
        name: "vgg11",
        model: ModelKind::Vgg11,
        shortcut: Shortcut::A,
        width: "0.0625",
        dataset: "cifar10",
        input: ModelInput { batch: 2, channels: 3, height: 32, width: 32, classes: 10 },
    },
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch").join(name)
}

fn sturdy(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sturdy"));
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    command.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap()
}

fn succeed(args: &[&str], paths: &[(&str, &Path)]) {
    let output = sturdy(args, paths);
    assert!(output.status.success(), "sturdy {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// The error `sturdy` gives, which must fail.
fn refused(args: &[&str], paths: &[(&str, &Path)]) -> String {
    let output = sturdy(args, paths);
    assert!(!output.status.success(), "sturdy {args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn import_args(case: &Case) -> Vec<String> {
    let (model, shortcut) = (case.model.to_string(), case.shortcut.to_string());
    ["import", "torch", "--model", &model, "--shortcut", &shortcut, "--width", case.width, "--dataset", case.dataset]
        .map(String::from)
        .to_vec()
}

fn import(case: &Case, weights: &Path, out: &Path) {
    let args = import_args(case);
    succeed(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[("--weights", weights), ("--out", out)]);
}

fn tensor(file: &Path, name: &str) -> Vec<f32> {
    state_dict::read(file).unwrap().remove(name).unwrap().data
}

/// Both logits within `bound` of the largest |logit| of `expected`.
fn assert_logits(what: &str, actual: &[f64], expected: &[f32], bound: f64) {
    let scale = expected.iter().fold(1.0f64, |m, &v| m.max(v.abs() as f64));
    for (a, &e) in actual.iter().zip(expected) {
        assert!((a - e as f64).abs() <= bound * scale, "{what}: {a} vs PyTorch's {e} (scale {scale})");
    }
    assert_eq!(actual.len(), expected.len(), "{what}");
}

#[test]
fn imported_weights_compute_pytorchs_logits() {
    let scratch = ScratchDir::new("torch-import");
    let gpu = Gpu::from_env().unwrap();
    for case in &CASES {
        let run = scratch.path().join(case.name);
        import(case, &fixture(&format!("{}.safetensors", case.name)), &run);
        let expected = fixture(&format!("{}.expected.safetensors", case.name));
        let (images, logits) = (tensor(&expected, "input"), tensor(&expected, "logits"));

        let model = Model { kind: case.model, shortcut: case.shortcut };
        let width: f64 = case.width.parse().unwrap();
        let rng = &mut StdRng::seed_from_u64(0);
        let network = models::build_for_inference(&gpu, model, case.input, width, rng).unwrap();
        let path = run.join(CHECKPOINT_FILE);
        let checkpoint = Checkpoint::load(&path).unwrap();
        state::restore(&gpu, &network, &checkpoint, &path).unwrap();
        gpu.write(&network.input.value, &images).unwrap();
        let mut recorder = Recorder::new(&gpu);
        network.record_forward(&mut recorder, Mode::Eval);
        recorder.submit().unwrap();
        let gpu_logits: Vec<f64> =
            gpu.download::<f32>(&network.logits().value).unwrap().into_iter().map(f64::from).collect();
        // PyTorch and the GPU both compute in f32: a dot product of n terms is within n u
        // of the exact one relative to the sum of its terms' magnitudes (u = 2^-24); the
        // largest n here is 9 x 32 = 288 (3.4e-5 with both sides' errors) and the deepest
        // network has 20 weighted layers, 7e-4 in all if no layer cancelled; 2e-3 of the
        // largest logit leaves a gain of 3 on that. A tensor read under the wrong name,
        // layout or statistic moves the logits by their own scale.
        assert_logits(&format!("{} on the GPU", case.name), &gpu_logits, &logits, 2e-3);

        let layers: Vec<Layer> = network.describe().into_iter().map(Layer::from).collect();
        let cpu = CpuNetwork::new(&layers, &checkpoint);
        let image_len = images.len() / 2;
        for (image, expected) in images.chunks(image_len).zip(logits.chunks(10)) {
            let image: Vec<f64> = image.iter().map(|&v| v as f64).collect();
            let cpu_logits = cpu.forward(&image, SiteFunction::Exact).unwrap();
            // PyTorch's f32 rounding alone (half the bound above).
            assert_logits(&format!("{} in f64", case.name), &cpu_logits, expected, 1e-3);
        }
    }
}

#[test]
fn import_then_export_gives_the_tensors_back_bit_for_bit() {
    let scratch = ScratchDir::new("torch-round-trip");
    for case in &CASES {
        let (original, run) = (fixture(&format!("{}.safetensors", case.name)), scratch.path().join(case.name));
        import(case, &original, &run);
        let exported = scratch.path().join(format!("{}.safetensors", case.name));
        succeed(&["export", "--format", "torch"], &[("--checkpoint", &run), ("--out", &exported)]);
        let (before, after) = (state_dict::read(&original).unwrap(), state_dict::read(&exported).unwrap());
        assert_eq!(before.keys().collect::<Vec<_>>(), after.keys().collect::<Vec<_>>(), "{}", case.name);
        for (name, tensor) in &before {
            let bits = |data: &[f32]| data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(tensor.shape, after[name].shape, "{}: {name}", case.name);
            assert_eq!(bits(&tensor.data), bits(&after[name].data), "{}: {name}", case.name);
        }
    }
}

#[test]
fn bad_files_and_wrong_architectures_are_refused_with_the_fix_and_nothing_written() {
    let scratch = ScratchDir::new("torch-refused");
    let resnet = &CASES[0];
    let weights = fixture("resnet20_a.safetensors");
    let out = scratch.path().join("run");
    let attempt = |case_args: Vec<String>, weights: &Path| {
        let args: Vec<&str> = case_args.iter().map(String::as_str).collect();
        let error = refused(&args, &[("--weights", weights), ("--out", &out)]);
        assert!(!out.join(RUN_FILE).exists() && !out.join(CHECKPOINT_FILE).exists(), "{error}");
        error
    };

    let text = scratch.path().join("weights.pt");
    std::fs::write(&text, b"PK\x03\x04 a torch.save zip, not safetensors").unwrap();
    let truncated = scratch.path().join("truncated.safetensors");
    std::fs::write(&truncated, &std::fs::read(&weights).unwrap()[..5000]).unwrap();
    for file in [&text, &truncated] {
        let error = attempt(import_args(resnet), file);
        assert!(
            error.contains(&file.display().to_string()) && error.contains("save_file(model.state_dict()"),
            "{error}"
        );
    }

    let mut wider = import_args(resnet);
    wider[7] = "0.5".into();
    let error = attempt(wider, &weights);
    assert!(error.contains("conv1.weight has shape [4, 3, 3, 3], expected [8, 3, 3, 3]"), "{error}");
    assert!(error.contains("--width"), "{error}");

    let mut option_b = import_args(resnet);
    option_b[5] = "b".into();
    let error = attempt(option_b, &weights);
    assert!(error.contains("missing layer2.0.shortcut.0.weight [8, 4, 1, 1]"), "{error}");
    assert!(error.contains("missing layer3.0.shortcut.1.running_var [16]"), "{error}");

    let error = attempt(import_args(resnet), &fixture("vgg11.safetensors"));
    assert!(
        error.contains("unknown features.0.weight [4, 3, 3, 3]") && error.contains("missing conv1.weight"),
        "{error}"
    );

    import(resnet, &weights, &out);
    let args = import_args(resnet);
    let error =
        refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[("--weights", &weights), ("--out", &out)]);
    assert!(error.contains("already holds a run"), "{error}");
}

#[test]
fn an_imported_run_evaluates_fine_tunes_and_exports() {
    let scratch = ScratchDir::new("torch-init-from");
    let data = scratch.path().join("cifar10");
    std::fs::create_dir_all(&data).unwrap();
    write_cifar10_like(&data, 32, 8, 3, CifarLayout::Folder).unwrap();
    let imported = scratch.path().join("imported");
    // With the data folder, which run.json records for eval; its 32 training images are
    // fewer than the run's batch of 128, which only training would need.
    let (args, original) = (import_args(&CASES[0]), fixture("resnet20_a.safetensors"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    succeed(&args, &[("--weights", &original), ("--data-dir", &data), ("--out", &imported)]);
    succeed(&["eval"], &[("--checkpoint", &imported)]);
    let too_few = refused(
        &["train", "--model", "resnet20", "--width", "0.25", "--dataset", "cifar10", "--batch-size", "64"],
        &[("--data-dir", &data), ("--init-from", &imported), ("--out", &scratch.path().join("too-few"))],
    );
    assert!(too_few.contains("32 images, fewer than --batch-size 64"), "{too_few}");

    // A learning rate of 1e-9 moves no weight by more than a few of its ulps in an epoch:
    // the fine-tuned weights are the imported ones, a fresh start's are not.
    let train = |out: &Path, width: &str, init: Option<&Path>| {
        let mut args = vec!["train", "--model", "resnet20", "--width", width, "--dataset", "cifar10"];
        args.extend(["--recipe", "mixup-noise", "--epochs", "1", "--batch-size", "16", "--lr", "1e-9"]);
        args.extend(["--weight-decay", "0"]);
        let mut paths = vec![("--data-dir", data.as_path()), ("--out", out)];
        paths.extend(init.map(|run| ("--init-from", run)));
        sturdy(&args, &paths)
    };
    let tuned = scratch.path().join("tuned");
    let output = train(&tuned, "0.25", Some(&imported));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let weights = |run: &Path| {
        let checkpoint = Checkpoint::load(&run.join(CHECKPOINT_FILE)).unwrap();
        checkpoint.tensors.into_iter().find(|t| t.name == "stage2.block0.conv1.weight").unwrap().data
    };
    let (start, end) = (weights(&imported), weights(&tuned));
    assert!(start.iter().zip(&end).all(|(a, b)| (a - b).abs() <= 1e-6 * a.abs().max(1e-3)), "moved from the import");
    let run_json = std::fs::read_to_string(tuned.join(RUN_FILE)).unwrap();
    assert!(run_json.contains("\"init_from\""), "{run_json}");
    // The fine-tuned run goes out under the imported file's names, with its own weights.
    let exported = scratch.path().join("tuned.safetensors");
    succeed(&["export", "--format", "torch"], &[("--checkpoint", &tuned), ("--out", &exported)]);
    let names = |file: &Path| state_dict::read(file).unwrap().into_keys().collect::<Vec<_>>();
    assert_eq!(names(&exported), names(&original));
    assert_eq!(tensor(&exported, "layer2.0.conv1.weight"), end);

    let mismatched = scratch.path().join("mismatched");
    let output = train(&mismatched, "0.5", Some(&imported));
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && error.contains("width 0.25") && error.contains("--width"), "{error}");
    assert!(!mismatched.join(RUN_FILE).exists(), "nothing written: {error}");
}

//! `sturdy export --he` and `sturdy predict --export`: the HE-ready layout (bounds and the
//! ReLU's 1/2 folded into the weights, identity shortcuts and the pooling scaled by
//! `input_scales`) computes the logits of the plain export; every site then reads values
//! within [-1, 1] on the calibration images; `predict` writes them per image; and bad
//! input (another schema version, a missing weights file, images of another shape) is
//! refused with the problem and the fix named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use sturdy::data::synthetic::{write_fashion_mnist_like, ScratchDir};
use sturdy::data::{BatchPlan, Dataset, EpochBatches, Normalization};
use sturdy::export::forward::{Clamp, CpuNetwork, SiteFunction};
use sturdy::export::load;
use sturdy::export::run::with_suffix;
use sturdy::nn::Op;

fn sturdy(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sturdy"));
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    command.output().unwrap()
}

fn succeed(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let output = sturdy(args, paths);
    assert!(output.status.success(), "sturdy {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn fail(args: &[&str], paths: &[(&str, &Path)]) -> String {
    let output = sturdy(args, paths);
    assert!(!output.status.success(), "sturdy {args:?} succeeded");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Trains `model` for one epoch on Fashion-MNIST-format files into `scratch`/run and
/// exports it at alpha 7, plain and HE-ready; returns the data folder and the two stems.
fn train_and_export(scratch: &ScratchDir, model: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let data = scratch.path().join("fashion-mnist");
    std::fs::create_dir_all(&data).unwrap();
    write_fashion_mnist_like(&data, 128, 64, 3).unwrap();
    let run = scratch.path().join("run");
    let train = [&["train", "--dataset", "fashion-mnist", "--epochs", "1", "--batch-size", "16", "--seed", "5"], model];
    succeed(&train.concat(), &[("--data-dir", &data), ("--out", &run)]);
    let stems = ["plain", "he"].map(|name| scratch.path().join(name));
    for (stem, extra) in stems.iter().zip([&[][..], &["--he"]]) {
        let export = [&["export", "--alpha", "7", "--per-site", "--calibration-images", "128"], extra].concat();
        succeed(&export, &[("--checkpoint", &run), ("--out", stem)]);
    }
    let [plain, he] = stems;
    (data, plain, he)
}

fn images(test: Dataset, normalization: &Normalization) -> Vec<Vec<f64>> {
    let len = test.image_len();
    let batches = EpochBatches::new(Arc::new(test), normalization, BatchPlan::evaluation(16), 0);
    let pixels: Vec<f32> = batches.flat_map(|b| b.images).collect();
    pixels.chunks(len).map(|image| image.iter().map(|&v| v as f64).collect()).collect()
}

/// Both layouts of one run, on its test images: the same logits. The HE-ready weights are
/// the plain ones times B_in / B_out, computed in f64 and rounded once more to f32 (2^-24
/// relative); through the network's few weighted layers that moves the logits by far less
/// than 1e-4 of their scale, which is also what the plain export's own folding is held to.
fn assert_layouts_agree(data: &Path, plain: &Path, he: &Path) {
    let (plain, he) = (load::load(plain).unwrap(), load::load(he).unwrap());
    assert!(!plain.manifest.activation.bounds_folded_into_weights && he.manifest.activation.bounds_folded_into_weights);
    let test = sturdy::data::load(plain.manifest.source.dataset, data, sturdy::data::Split::Test).unwrap();
    let (plain_net, he_net) =
        (CpuNetwork::of_export(&plain.manifest, &plain.weights), CpuNetwork::of_export(&he.manifest, &he.weights));
    let relu = SiteFunction::Poly(&plain.manifest.relu);
    for image in images(test, &plain.manifest.input.normalization) {
        let a = plain_net.run(&image, relu, Clamp::NoClamp).unwrap();
        let b = he_net.run(&image, SiteFunction::Poly(&he.manifest.relu), Clamp::NoClamp).unwrap();
        let scale = a.logits.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (x, y) in a.logits.iter().zip(&b.logits) {
            assert!((x - y).abs() <= 1e-4 * scale, "plain {x} vs HE-ready {y}");
        }
    }
}

#[test]
fn the_he_ready_small_cnn_computes_the_plain_export_and_predict_writes_it() {
    let scratch = ScratchDir::new("export-he");
    let (data, plain, he) = train_and_export(&scratch, &["--model", "smallcnn", "--width", "0.25"]);
    assert_layouts_agree(&data, &plain, &he);
    let export = load::load(&he).unwrap();
    let manifest = &export.manifest;
    let pool = manifest.layers.iter().find(|l| matches!(l.op, Op::GlobalAveragePool { .. })).unwrap();
    assert_eq!(pool.input_scales, Some(vec![49.0]), "the pooling sums; its 1/49 is in the classifier");
    assert_eq!(manifest.layers.iter().filter(|l| l.input_scales.is_some()).count(), 1, "no identity shortcut");
    assert_eq!(manifest.calibration.requested_images, 128);
    let relu = &manifest.relu.he;
    assert_eq!(relu.components.last().unwrap().chebyshev[0], 0.5, "the last component is (1 + p_k) / 2");

    // predict: CSV rows per image, the inputs it evaluated, and the clamp's effect counted.
    let (csv, inputs) = (scratch.path().join("he.csv"), scratch.path().join("inputs.npy"));
    let args = ["predict", "--limit", "5", "--no-clamp"];
    succeed(&args, &[("--export", &he), ("--data-dir", &data), ("--out", &csv), ("--save-inputs", &inputs)]);
    let text = std::fs::read_to_string(&csv).unwrap();
    let header: String = (0..10).map(|k| format!(",logit_{k}")).collect();
    assert_eq!(text.lines().next().unwrap(), format!("index,label,predicted{header}"));
    assert_eq!(text.lines().count(), 6);
    // 5 images of 1 x 28 x 28 f64 after a 128-byte header (the shape's text fits in 118).
    assert_eq!(std::fs::metadata(&inputs).unwrap().len(), 128 + 5 * 784 * 8);

    // Bad input: another schema version, a missing weights file, images of another shape.
    let manifest_path = with_suffix(&he, "json");
    let original = std::fs::read_to_string(&manifest_path).unwrap();
    std::fs::write(&manifest_path, original.replace("sturdy-pann-export/2", "sturdy-pann-export/1")).unwrap();
    let error = fail(&["predict"], &[("--export", &he), ("--data-dir", &data), ("--out", &csv)]);
    assert!(error.contains("sturdy-pann-export/1 export") && error.contains("export the run again"), "{error}");
    std::fs::write(&manifest_path, &original).unwrap();
    std::fs::rename(with_suffix(&he, "safetensors"), scratch.path().join("moved")).unwrap();
    let error = fail(&["predict"], &[("--export", &he), ("--data-dir", &data), ("--out", &csv)]);
    assert!(error.contains("he.safetensors, which is missing") && error.contains("side by side"), "{error}");
    std::fs::rename(scratch.path().join("moved"), with_suffix(&he, "safetensors")).unwrap();
    let cifar = scratch.path().join("cifar10");
    std::fs::create_dir_all(&cifar).unwrap();
    sturdy::data::synthetic::write_cifar10_like(&cifar, 5, 5, 1, sturdy::data::synthetic::CifarLayout::Folder).unwrap();
    let error =
        fail(&["predict", "--dataset", "cifar10"], &[("--export", &he), ("--data-dir", &cifar), ("--out", &csv)]);
    assert!(error.contains("[3, 32, 32], the export expects [1, 28, 28]") && error.contains("--dataset"), "{error}");
}

/// ResNet-20's identity shortcuts carry a ReLU's output in units of its own bound into a
/// sum held in the next ReLU's: the sum scales that input, and nothing else.
#[test]
fn a_resnets_identity_shortcuts_are_scaled_into_the_sum() {
    let scratch = ScratchDir::new("export-he-resnet");
    let (data, plain, he) = train_and_export(&scratch, &["--model", "resnet20", "--width", "0.25"]);
    assert_layouts_agree(&data, &plain, &he);
    let manifest = load::load(&he).unwrap().manifest;
    let bound = |name: &str| manifest.sites.iter().find(|s| s.name == name).unwrap().bound as f64;
    let sums: Vec<_> = manifest.layers.iter().filter(|l| matches!(l.op, Op::Add { .. })).collect();
    let scaled: Vec<_> = sums.iter().filter(|l| l.input_scales.is_some()).collect();
    assert_eq!((sums.len(), scaled.len()), (9, 7), "9 blocks, 2 of them with a 1x1 shortcut convolution");
    for layer in scaled {
        let Op::Add { name, inputs, .. } = &layer.op else { unreachable!() };
        let relu_after = manifest.layers.iter().find(|l| l.op.inputs() == [name.as_str()]).unwrap();
        let expected = bound(inputs[1].as_str()) / bound(relu_after.op.name());
        let scales = layer.input_scales.as_deref().unwrap();
        // The quotient of two f32 bounds in f64, through JSON: serde_json's default float
        // parser may miss the nearest f64 by an ulp (2^-52 relative).
        assert!(
            scales[0] == 1.0 && (scales[1] - expected).abs() <= 4.0 * f64::EPSILON * expected,
            "{name}: {scales:?}"
        );
    }
}

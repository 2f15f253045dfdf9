//! `sturdy export` as a user runs it: a tiny model trained by the binary on
//! Fashion-MNIST-format files, exported, and the export read back. Names and shapes in
//! the JSON agree with the safetensors, every convolution carries its folded bias,
//! every site a positive bound, the polynomial is there; and an f64 CPU forward pass of
//! the exported network predicts what the GPU backbone (and the GPU PANN) predicts.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use sturdy::checkpoint::Checkpoint;
use sturdy::data::synthetic::{write_cifar10_like, write_fashion_mnist_like, CifarLayout, ScratchDir};
use sturdy::data::{Batch, BatchPlan, Dataset, DatasetKind, EpochBatches, Normalization};
use sturdy::evaluation::TrainedRun;
use sturdy::export::forward::{CpuNetwork, SiteFunction};
use sturdy::export::manifest::{Layer, Manifest, FORMAT};
use sturdy::export::run::with_suffix;
use sturdy::gpu::{Gpu, GpuOptions};
use sturdy::nn::describe::INPUT;
use sturdy::nn::{Mode, Op, SiteKind};
use sturdy::pann::calibrate::DEFAULT_MARGIN;
use sturdy::pann::Pann;
use sturdy::reference::loss::argmax;
use sturdy::train::config::CHECKPOINT_FILE;

const ALPHA: u32 = 9;

fn sturdy(args: &[&str], paths: &[(&str, &Path)]) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sturdy"));
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let output = command.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    assert!(output.status.success(), "sturdy {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// The shape of every value, checked op by op against what the op says it reads.
fn check_layers(manifest: &Manifest, weights: &Checkpoint) {
    let shape_of = |name: &str| weights.tensors.iter().find(|t| t.name == name).map(|t| t.shape.clone());
    let mut values: HashMap<String, Vec<usize>> = HashMap::from([(INPUT.to_string(), manifest.input.shape.to_vec())]);
    let mut named = BTreeSet::new();
    let mut site_ops = 0;
    for layer in &manifest.layers {
        let op = &layer.op;
        assert_eq!(layer.input_scales, None, "{}: a plain export scales no input", op.name());
        let input = values[op.inputs()[0]].clone();
        let output = match op {
            Op::Conv2d { name, weight, bias, input_shape, output_shape, kernel, stride, padding, .. } => {
                assert_eq!(&input, input_shape, "{name}");
                let bias = bias.as_ref().unwrap_or_else(|| panic!("{name} has no folded bias"));
                let [o, c] = [output_shape[0], input_shape[0]];
                assert_eq!(shape_of(weight), Some(vec![o, c, *kernel, *kernel]), "{weight}");
                assert_eq!(shape_of(bias), Some(vec![o]), "{bias}");
                let side = |s: usize| (s + 2 * padding - kernel) / stride + 1;
                assert_eq!(output_shape[1..], [side(input_shape[1]), side(input_shape[2])], "{name}");
                named.extend([weight.clone(), bias.clone()]);
                output_shape.to_vec()
            }
            Op::Relu { name, site_index, bound, shape, .. } => {
                assert_eq!(&input, shape, "{name}");
                let site = &manifest.sites[*site_index as usize];
                assert_eq!((&site.name, site.index), (name, *site_index));
                let bound = bound.unwrap_or_else(|| panic!("{name} has no bound"));
                assert!(bound > 0.0 && bound == site.bound, "{name}: bound {bound}, site table {}", site.bound);
                site_ops += 1;
                shape.clone()
            }
            Op::Add { name, inputs, shape } => {
                assert!(inputs.iter().all(|i| &values[i] == shape), "{name}");
                shape.clone()
            }
            Op::GlobalAveragePool { input_shape, .. } => {
                assert_eq!(&input, input_shape);
                vec![input_shape[0]]
            }
            Op::MaxPool2x2 { name, site_index, bound, input_shape, output_shape, .. } => {
                assert_eq!(&input, input_shape);
                assert_eq!(manifest.sites[*site_index as usize].name, *name);
                assert!(bound.is_some_and(|b| b > 0.0), "{name} has no bound");
                site_ops += 1;
                output_shape.to_vec()
            }
            Op::ZeroPadShortcut { input_shape, output_shape, .. } => {
                assert_eq!(&input, input_shape);
                output_shape.to_vec()
            }
            Op::Linear { name, weight, bias, in_features, out_features, .. } => {
                assert_eq!(input.iter().product::<usize>(), *in_features, "{name}");
                assert_eq!(shape_of(weight), Some(vec![*out_features, *in_features]));
                assert_eq!(shape_of(bias), Some(vec![*out_features]));
                named.extend([weight.clone(), bias.clone()]);
                vec![*out_features]
            }
            Op::BatchNorm { name, .. } => panic!("batch norm {name} was not folded"),
        };
        values.insert(op.name().to_string(), output);
    }
    assert_eq!(values[manifest.layers.last().unwrap().op.name()], vec![manifest.classes]);
    assert_eq!(site_ops, manifest.sites.len(), "one relu or max pool op per site");
    let stored: BTreeSet<String> = weights.tensors.iter().map(|t| t.name.clone()).collect();
    assert_eq!(stored, named, "the safetensors holds exactly the tensors the layers read");
}

/// The export's f64 PANN (alpha `ALPHA` everywhere) against the GPU PANN's logits of the
/// same batch, within 1e-3 of each image's largest logit (each caller says why that bound);
/// prints the largest difference found.
fn assert_export_matches_gpu_pann(
    what: &str,
    manifest: &Manifest,
    weights: &Checkpoint,
    (batch, gpu_logits, image_len): (&Batch, &[f32], usize),
) {
    let exported = CpuNetwork::new(&manifest.layers, weights);
    let mut worst = 0.0f64;
    for (image, gpu_row) in batch.images.chunks(image_len).zip(gpu_logits.chunks(manifest.classes)) {
        let image: Vec<f64> = image.iter().map(|&v| v as f64).collect();
        let cpu_row = exported.forward(&image, SiteFunction::Poly(&manifest.relu)).unwrap();
        let scale = cpu_row.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (&g, c) in gpu_row.iter().zip(&cpu_row) {
            worst = worst.max((g as f64 - c).abs() / scale);
            assert!((g as f64 - c).abs() <= 1e-3 * scale, "{what}: GPU PANN {g} vs exported f64 PANN {c}");
        }
    }
    eprintln!("{what} vs GPU PANN (alpha {ALPHA}): largest logit difference {worst:.2e} of the logits' scale");
}

/// Each test image, normalised as the model sees it.
fn test_images(test: &Arc<Dataset>, normalization: &Normalization) -> Vec<Vec<f64>> {
    let batches = EpochBatches::new(test.clone(), normalization, BatchPlan::evaluation(32), 0);
    let images: Vec<f32> = batches.flat_map(|b| b.images).collect();
    images.chunks(test.image_len()).map(|image| image.iter().map(|&v| v as f64).collect()).collect()
}

fn agreement(a: &[u32], b: &[u32]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// Trains a run with the binary on `dataset`-format files (Fashion-MNIST or CIFAR-10) of
/// `images` (training, test) images, with the `train` flags after the dataset's, into
/// `scratch`/run, then exports it at `ALPHA` with the `export` flags after those to
/// `scratch`/`stem`; returns the run folder and the export.
fn train_and_export(
    scratch: &ScratchDir,
    (dataset, images): (DatasetKind, (usize, usize)),
    train: &[&str],
    export: &[&str],
    stem: &str,
) -> (PathBuf, Manifest, Checkpoint) {
    let data = scratch.path().join(dataset.name());
    std::fs::create_dir_all(&data).unwrap();
    match dataset {
        DatasetKind::Cifar10 => drop(write_cifar10_like(&data, images.0, images.1, 1, CifarLayout::Folder).unwrap()),
        _ => drop(write_fashion_mnist_like(&data, images.0, images.1, 1).unwrap()),
    }
    let run_dir = scratch.path().join("run");
    let train_args = [&["train", "--dataset", dataset.name(), "--epochs", "1", "--lr", "0.05"], train].concat();
    sturdy(&train_args, &[("--data-dir", &data), ("--out", &run_dir)]);
    let alpha = ALPHA.to_string();
    let stem = scratch.path().join(stem);
    sturdy(
        &[&["export", "--alpha", &alpha, "--per-site"], export].concat(),
        &[("--checkpoint", &run_dir), ("--out", &stem)],
    );
    let manifest_json = std::fs::read(with_suffix(&stem, "json")).unwrap();
    let weights = Checkpoint::load(&with_suffix(&stem, "safetensors")).unwrap();
    (run_dir, serde_json::from_slice(&manifest_json).unwrap(), weights)
}

/// The GPU PANN's logits on the run's first test batch of `batch_size`, with the export's
/// bounds and each site at its alpha; returns the batch, the logits and the image length.
fn gpu_pann_logits(run_dir: &Path, manifest: &Manifest, batch_size: usize) -> (Batch, Vec<f32>, usize) {
    let gpu = Gpu::new(&GpuOptions::from_env()).unwrap();
    let run = TrainedRun::open(&gpu, run_dir).unwrap();
    let evaluator = run.evaluator(&gpu).unwrap();
    let sites = Pann::new(&evaluator);
    sites.set_bounds(&manifest.sites.iter().map(|s| s.bound).collect::<Vec<_>>()).unwrap();
    sites.set_alphas(&manifest.sites.iter().map(|s| s.alpha).collect::<Vec<_>>()).unwrap();
    let normalization = &run.file.normalization;
    let plan = BatchPlan::evaluation(batch_size);
    let batch = EpochBatches::new(run.datasets.test.clone(), normalization, plan, 0).next().unwrap();
    evaluator.step(&batch.images, &batch.labels, Mode::Pann).unwrap();
    let logits = gpu.download::<f32>(&run.network.logits().value).unwrap();
    (batch, logits, run.datasets.test.image_len())
}

#[test]
fn exported_network_is_consistent_and_reproduces_the_backbone() {
    let scratch = ScratchDir::new("export-command");
    let train = ["--model", "smallcnn", "--width", "0.5", "--batch-size", "32", "--seed", "7"];
    let export = ["--calibration-images", "320"];
    // A dot in the stem: the extensions are appended, not substituted.
    let (run_dir, manifest, weights) =
        train_and_export(&scratch, (DatasetKind::FashionMnist, (320, 200)), &train, &export, "exports/net.a9");
    assert_eq!((manifest.format.as_str(), manifest.weights.as_str()), (FORMAT, "net.a9.safetensors"));
    assert!(manifest.activation.inputs_divided_by_bound && manifest.calibration.per_site);
    assert_eq!(manifest.relu.alpha, ALPHA);
    assert!(!manifest.relu.components.is_empty());
    for component in &manifest.relu.components {
        assert_eq!(component.chebyshev.len(), component.degree + 1);
        assert_eq!(component.power.len(), component.degree + 1);
    }
    let site_names: Vec<&str> = manifest.sites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(site_names, ["stem.relu", "block0.relu1", "block0.relu2", "block1.relu1", "block1.relu2"]);
    let margin = DEFAULT_MARGIN;
    assert!(manifest.sites.iter().all(|s| s.bound > 0.0 && s.bound == (s.max_abs as f64 * margin) as f32), "per-site");
    check_layers(&manifest, &weights);

    // The GPU backbone, and the GPU PANN with the export's bounds and polynomial.
    let gpu = Gpu::new(&GpuOptions::from_env()).unwrap();
    let run = TrainedRun::open(&gpu, &run_dir).unwrap();
    let (datasets, normalization) = (&run.datasets, &run.file.normalization);
    let evaluator = run.evaluator(&gpu).unwrap();
    let backbone = evaluator.evaluate(&datasets.test, normalization, Mode::Eval).unwrap();
    let sites = Pann::new(&evaluator);
    sites.set_bounds(&manifest.sites.iter().map(|s| s.bound).collect::<Vec<_>>()).unwrap();
    sites.set_alpha(ALPHA).unwrap();
    let pann = evaluator.evaluate(&datasets.test, normalization, Mode::Pann).unwrap();

    // The export on the CPU in f64, and the unfolded graph from the checkpoint.
    let exported = CpuNetwork::new(&manifest.layers, &weights);
    let checkpoint = Checkpoint::load(&run_dir.join(CHECKPOINT_FILE)).unwrap();
    let unfolded_layers: Vec<Layer> = run.network.describe().into_iter().map(Layer::from).collect();
    let unfolded = CpuNetwork::new(&unfolded_layers, &checkpoint);
    let (mut cpu_backbone, mut cpu_pann) = (Vec::new(), Vec::new());
    for image in test_images(&datasets.test, normalization) {
        let logits = exported.forward(&image, SiteFunction::Exact).unwrap();
        // Folding is exact in f64 but the folded weights are rounded to f32 (2^-24
        // relative); through a few layers that stays far below 1e-4 of the logits' scale.
        let reference = unfolded.forward(&image, SiteFunction::Exact).unwrap();
        let scale = reference.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (a, b) in logits.iter().zip(&reference) {
            assert!((a - b).abs() <= 1e-4 * scale, "folded {a} vs unfolded {b}");
        }
        cpu_backbone.push(argmax(&logits) as u32);
        cpu_pann.push(argmax(&exported.forward(&image, SiteFunction::Poly(&manifest.relu)).unwrap()) as u32);
    }
    let backbone_agreement = agreement(&cpu_backbone, &backbone.predictions);
    let pann_agreement = agreement(&cpu_pann, &pann.predictions);
    eprintln!("CPU export vs GPU: backbone agreement {backbone_agreement}, PANN (alpha {ALPHA}) {pann_agreement}");
    assert_eq!(cpu_backbone.len(), 200);
    assert!(backbone_agreement >= 0.99, "exported backbone agrees with the GPU on {backbone_agreement}");
    assert!(pann_agreement >= 0.99, "exported PANN agrees with the GPU PANN on {pann_agreement}");
}

/// A VGG's max poolings are sites of the export too, listed and bounded like the ReLUs,
/// and the export's f64 forward pass, polynomial max included, computes the logits of the
/// GPU PANN that `sturdy sweep` measures.
#[test]
fn vgg_export_evaluates_its_max_poolings_as_the_gpu_pann_does() {
    let scratch = ScratchDir::new("export-vgg");
    let train = ["--model", "vgg", "--width", "0.125", "--batch-size", "16", "--seed", "3"];
    let (run_dir, manifest, weights) =
        train_and_export(&scratch, (DatasetKind::FashionMnist, (64, 16)), &train, &[], "vgg");

    let pools: Vec<u32> = manifest.sites.iter().filter(|s| s.kind == SiteKind::Max2x2).map(|s| s.index).collect();
    assert_eq!(pools, [2, 5, 8], "{:?}", manifest.sites);
    assert!(manifest.sites.iter().enumerate().all(|(i, s)| s.index as usize == i && s.bound > 0.0));
    for layer in &manifest.layers {
        if let Op::MaxPool2x2 { name, site_index, bound, .. } = &layer.op {
            let site = &manifest.sites[*site_index as usize];
            assert_eq!((&site.name, *bound), (name, Some(site.bound)));
        }
    }

    let (batch, gpu_logits, image_len) = gpu_pann_logits(&run_dir, &manifest, 16);

    // Both sides evaluate the same polynomials on the same weights; they differ by the
    // GPU's f32 rounding. A dot product of n terms in f32 is within n u of the exact one
    // relative to the sum of its terms' magnitudes (u = 2^-24; Higham, Accuracy and
    // Stability, 3.1); the largest n here is 9 x 32 channels = 288, so each of the 7
    // weighted layers adds at most 288 u = 1.7e-5 of its output scale, about 1.2e-4 in
    // all. Clenshaw in f32 keeps each polynomial within 2^-18 of its output scale
    // (kernels-tests/poly_relu.rs), 9 sites add 3.4e-5; the GPU's unfolded batch norm
    // against the export's folded weights (each rounded once to f32) adds a few u per
    // layer. 1e-3 of the largest logit leaves the network a gain of 6 on that sum, and
    // stays far below what the exact max in place of the polynomial one moves the logits
    // by at alpha 9 (about 1e-2 of their scale here).
    assert_export_matches_gpu_pann("VGG export", &manifest, &weights, (&batch, &gpu_logits, image_len));
}

/// An option-A ResNet's shortcuts are ops of the export (no parameters, nothing folded),
/// and the export's f64 forward pass computes the logits of the GPU PANN.
#[test]
fn resnet_option_a_export_evaluates_its_shortcuts_as_the_gpu_does() {
    let scratch = ScratchDir::new("export-resnet-a");
    let train = ["--model", "resnet20", "--shortcut", "a", "--width", "0.25", "--batch-size", "16", "--seed", "4"];
    let (run_dir, manifest, weights) =
        train_and_export(&scratch, (DatasetKind::FashionMnist, (64, 16)), &train, &[], "resnet");
    check_layers(&manifest, &weights);
    let shortcuts: Vec<(&str, [usize; 3], [usize; 3])> = manifest
        .layers
        .iter()
        .filter_map(|layer| match &layer.op {
            Op::ZeroPadShortcut { name, input_shape, output_shape, .. } => {
                Some((name.as_str(), *input_shape, *output_shape))
            }
            _ => None,
        })
        .collect();
    // Fashion-MNIST's 28x28 through the stride-2 stages: 28 -> 14 -> 7, 4 -> 8 -> 16 channels.
    let expected =
        [("stage2.block0.shortcut", [4, 28, 28], [8, 14, 14]), ("stage3.block0.shortcut", [8, 14, 14], [16, 7, 7])];
    assert_eq!(shortcuts, expected);
    assert!(weights.tensors.iter().all(|t| !t.name.contains("shortcut")), "option A has no shortcut tensors");

    let (batch, gpu_logits, image_len) = gpu_pann_logits(&run_dir, &manifest, 16);
    // As for the VGG below: a dot product of n terms in f32 is within n u of the exact one
    // relative to the sum of its terms' magnitudes (u = 2^-24); the largest n here is
    // 9 x 16 channels = 144, so each of the 20 weighted layers adds at most 144 u = 8.6e-6
    // of its output scale, 1.7e-4 in all; Clenshaw in f32 keeps each of the 19 sites within
    // 2^-18 of its output scale (7.2e-5), and the shortcuts copy values exactly. 1e-3 of the
    // largest logit leaves the network a gain of 4 on that sum; a shortcut that dropped or
    // misplaced a channel would move the logits by a good part of their scale.
    assert_export_matches_gpu_pann("ResNet option-A export", &manifest, &weights, (&batch, &gpu_logits, image_len));
}

/// A VGG-BN (VGG-11 at a sixteenth of its width): its conv biases fold into the batch
/// norms, its dropouts are not in the export (the identity in evaluation), its five
/// poolings and the classifier's two ReLUs are sites, and the export's f64 forward pass
/// computes the logits of the GPU PANN.
#[test]
fn vgg11_export_folds_its_conv_biases_and_evaluates_as_the_gpu_pann_does() {
    let scratch = ScratchDir::new("export-vgg11");
    let train = ["--model", "vgg11", "--width", "0.0625", "--batch-size", "16", "--seed", "2"];
    let (run_dir, manifest, weights) =
        train_and_export(&scratch, (DatasetKind::Cifar10, (64, 16)), &train, &[], "vgg11");
    check_layers(&manifest, &weights);
    let names: Vec<&str> = manifest.sites.iter().map(|s| s.name.as_str()).collect();
    let expected_pools = ["stage1.pool", "stage2.pool", "stage3.pool", "stage4.pool", "stage5.pool"];
    let pools: Vec<&str> = names.iter().copied().filter(|n| n.ends_with(".pool")).collect();
    assert_eq!(pools, expected_pools);
    assert_eq!(names.len(), 8 + 5 + 2, "eight conv ReLUs, five pools, two classifier ReLUs: {names:?}");
    assert_eq!(&names[13..], ["linear1.relu", "linear2.relu"]);
    let linears: Vec<(&str, usize, usize)> = manifest
        .layers
        .iter()
        .filter_map(|layer| match &layer.op {
            Op::Linear { name, in_features, out_features, .. } => Some((name.as_str(), *in_features, *out_features)),
            _ => None,
        })
        .collect();
    assert_eq!(linears, [("linear1", 32, 32), ("linear2", 32, 32), ("linear3", 32, 10)]);

    let (batch, gpu_logits, image_len) = gpu_pann_logits(&run_dir, &manifest, 16);
    // As for the small VGG above: the largest dot product has 9 x 32 = 288 terms, each of
    // the 11 weighted layers adds at most 288 u = 1.7e-5 of its output scale (1.9e-4 in
    // all), the 15 sites' Clenshaw 2^-18 each (5.7e-5); 1e-3 of the largest logit leaves
    // the network a gain of 4 on that sum.
    assert_export_matches_gpu_pann("VGG-11 export", &manifest, &weights, (&batch, &gpu_logits, image_len));
}

/// An export with per-site alphas (`--site-alphas`, the others at `--alpha`) lists each
/// site's alpha and cost and the polynomials they need, and its f64 forward, each site
/// with its own polynomial, computes the logits of the GPU PANN under the same
/// assignment. An assignment naming an unknown site or an alpha outside 4..=20 is refused
/// with both named.
#[test]
fn a_mixed_alpha_export_evaluates_each_site_with_its_own_polynomial() {
    let scratch = ScratchDir::new("export-per-site");
    let file = scratch.path().join("alphas.json");
    std::fs::write(&file, r#"{ "stem.relu": 5, "block0.relu2": 13, "block1.relu2": 20 }"#).unwrap();
    let train = ["--model", "smallcnn", "--width", "0.5", "--batch-size", "32", "--seed", "7"];
    let export = ["--calibration-images", "320", "--site-alphas", file.to_str().unwrap()];
    let (run_dir, manifest, weights) =
        train_and_export(&scratch, (DatasetKind::FashionMnist, (320, 64)), &train, &export, "mixed");
    let alphas: Vec<u32> = manifest.sites.iter().map(|s| s.alpha).collect();
    assert_eq!(alphas, [5, ALPHA, 13, ALPHA, 20]);
    let listed: Vec<u32> = manifest.polynomials.iter().map(|p| p.alpha).collect();
    assert_eq!((manifest.relu.alpha, listed), (ALPHA, vec![5, 13, 20]));
    for site in &manifest.sites {
        let polynomial = manifest.site_polynomials().unwrap()[site.index as usize];
        assert_eq!(polynomial.alpha, site.alpha, "{site:?}");
        assert_eq!(site.cost, (polynomial.costs.openfhe.products as usize * site.evaluations) as f64, "{site:?}");
    }

    let (batch, gpu_logits, image_len) = gpu_pann_logits(&run_dir, &manifest, 32);
    // The reasoning of the VGG test above (f32 dot products of at most 9 x 16 terms here,
    // Clenshaw within 2^-18 of each site's output scale at every alpha, folded against
    // unfolded batch norm) gives far less than 1e-3 of the largest logit; a site evaluated
    // at another site's alpha moves the logits by more (alpha 5 against 20: errors of
    // 2^-5 B at that site).
    let exported = CpuNetwork::new(&manifest.layers, &weights);
    let polynomials = manifest.site_polynomials().unwrap();
    let mut uniform_worst = 0.0f64;
    for (image, gpu_row) in batch.images.chunks(image_len).zip(gpu_logits.chunks(manifest.classes)) {
        let image: Vec<f64> = image.iter().map(|&v| v as f64).collect();
        let cpu_row = exported.forward(&image, SiteFunction::PerSite(&polynomials)).unwrap();
        let scale = cpu_row.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (&g, c) in gpu_row.iter().zip(&cpu_row) {
            assert!((g as f64 - c).abs() <= 1e-3 * scale, "GPU PANN {g} vs exported f64 PANN {c}");
        }
        let uniform = exported.forward(&image, SiteFunction::Poly(&manifest.relu)).unwrap();
        let worst = gpu_row.iter().zip(&uniform).map(|(&g, u)| (g as f64 - u).abs() / scale).fold(0.0, f64::max);
        uniform_worst = uniform_worst.max(worst);
    }
    assert!(uniform_worst > 1e-3, "alpha {ALPHA} everywhere is as close to the GPU: {uniform_worst:e}");

    std::fs::write(&file, r#"{ "stem.relu": 3, "fc.relu": 9 }"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sturdy"))
        .args(["export", "--alpha", "9", "--site-alphas"])
        .arg(&file)
        .arg("--checkpoint")
        .arg(&run_dir)
        .arg("--out")
        .arg(scratch.path().join("bad"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a bad assignment was accepted");
    for needle in ["alphas.json", "unknown site \"fc.relu\"", "site \"stem.relu\" has alpha 3, outside 4..=20"] {
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
    }
}

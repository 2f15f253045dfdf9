//! Batch norm folded into the convolution before it. In inference a batch norm is an
//! affine map per channel, y = s (x - mean) + beta with s = gamma / sqrt(var + eps), so
//! conv (bias b, zero if none) then batch norm equals one convolution with
//! W'[o] = s[o] W[o] and bias b'[o] = beta[o] + s[o] (b[o] - mean[o]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::checkpoint::{Checkpoint, CheckpointError, NamedTensor};
use crate::nn::Op;

/// A batch norm's inference parameters, per channel.
pub struct BatchNormParams<'a> {
    pub gamma: &'a [f64],
    pub beta: &'a [f64],
    pub running_mean: &'a [f64],
    pub running_var: &'a [f64],
    pub eps: f64,
}

/// Folds `bn` into a convolution weight [O, C, K, K] (row-major, O = the batch norm's
/// channels) and its bias (None: zero): returns (W', b'), in f64, with
/// b'[o] = beta[o] + s[o] (b[o] - mean[o]).
pub fn fold_conv_bn(weight: &[f64], conv_bias: Option<&[f64]>, bn: &BatchNormParams) -> (Vec<f64>, Vec<f64>) {
    let out_channels = bn.gamma.len();
    let per_filter = weight.len() / out_channels;
    let scale: Vec<f64> = (0..out_channels).map(|o| bn.gamma[o] / (bn.running_var[o] + bn.eps).sqrt()).collect();
    let folded = weight.iter().enumerate().map(|(i, w)| w * scale[i / per_filter]).collect();
    let shift = |o: usize| conv_bias.map_or(0.0, |b| b[o]) - bn.running_mean[o];
    let bias = (0..out_channels).map(|o| bn.beta[o] + shift(o) * scale[o]).collect();
    (folded, bias)
}

fn to_f64(data: &[f32]) -> Vec<f64> {
    data.iter().map(|&v| v as f64).collect()
}

/// The inference graph `ops` (with batch norms) and the checkpoint's tensors, as a graph
/// without batch norms and the tensors it reads: each convolution followed by a batch
/// norm gets the folded bias `<conv>.bias`, and what read the batch norm's output reads the
/// convolution's. Folding is done in f64 and rounded once to f32. Optimiser state and
/// running statistics are left out.
pub fn fold_network(ops: &[Op], checkpoint: &Checkpoint, path: &Path) -> anyhow::Result<(Vec<Op>, Checkpoint)> {
    let readers = |value: &str| ops.iter().filter(|op| op.inputs().contains(&value)).count();
    let mut folded_ops: Vec<Op> = Vec::new();
    let mut renamed: HashMap<String, String> = HashMap::new();
    // Folded (weight, bias) per convolution name.
    let mut folded: BTreeMap<String, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
    for op in ops {
        let mut op = op.clone();
        op.rename_inputs(|value| renamed.get(value).cloned());
        let Op::BatchNorm { name, input, weight, bias, running_mean, running_var, eps, shape } = &op else {
            folded_ops.push(op);
            continue;
        };
        let conv = folded_ops.iter_mut().find(|candidate| candidate.name() == input);
        let Some(Op::Conv2d { name: conv_name, weight: conv_weight, bias: conv_bias, input_shape, kernel, .. }) = conv
        else {
            anyhow::bail!("batch norm {name} does not follow a convolution: it cannot be folded");
        };
        if readers(input) != 1 {
            anyhow::bail!("{input} is read by more than batch norm {name}: folding it would change the others");
        }
        let channels = [shape[0]];
        let tensor = |tensor_name: &str, shape: &[usize]| -> Result<Vec<f64>, CheckpointError> {
            Ok(to_f64(checkpoint.tensor(path, tensor_name, shape)?))
        };
        let w = tensor(conv_weight, &[shape[0], input_shape[0], *kernel, *kernel])?;
        let (gamma, beta) = (tensor(weight, &channels)?, tensor(bias, &channels)?);
        let (mean, var) = (tensor(running_mean, &channels)?, tensor(running_var, &channels)?);
        let params =
            BatchNormParams { gamma: &gamma, beta: &beta, running_mean: &mean, running_var: &var, eps: *eps as f64 };
        let b = conv_bias.as_deref().map(|b| tensor(b, &channels)).transpose()?;
        let (w, b) = fold_conv_bn(&w, b.as_deref(), &params);
        let round = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        folded.insert(conv_name.clone(), (round(w), round(b)));
        *conv_bias = Some(format!("{conv_name}.bias"));
        renamed.insert(name.clone(), conv_name.clone());
    }
    let mut weights = Checkpoint::default();
    for op in &folded_ops {
        match op {
            Op::Conv2d { name, weight, bias, input_shape, output_shape, kernel, .. } => {
                let weight_shape = [output_shape[0], input_shape[0], *kernel, *kernel];
                match (folded.remove(name), bias) {
                    (Some((w, b)), Some(bias)) => {
                        weights.push(weight.clone(), &weight_shape, w);
                        weights.push(bias.clone(), &[output_shape[0]], b);
                    }
                    (_, bias) => {
                        weights.push(
                            weight.clone(),
                            &weight_shape,
                            checkpoint.tensor(path, weight, &weight_shape)?.to_vec(),
                        );
                        if let Some(bias) = bias {
                            let bias_shape = [output_shape[0]];
                            weights.push(
                                bias.clone(),
                                &bias_shape,
                                checkpoint.tensor(path, bias, &bias_shape)?.to_vec(),
                            );
                        }
                    }
                }
            }
            Op::Linear { weight, bias, in_features, out_features, .. } => {
                let weight_shape = [*out_features, *in_features];
                weights.push(weight.clone(), &weight_shape, checkpoint.tensor(path, weight, &weight_shape)?.to_vec());
                weights.push(bias.clone(), &[*out_features], checkpoint.tensor(path, bias, &[*out_features])?.to_vec());
            }
            _ => {}
        }
    }
    Ok((folded_ops, weights))
}

/// The tensor called `name` in `weights`, for readers of an export.
pub fn find<'a>(weights: &'a Checkpoint, name: &str) -> Option<&'a NamedTensor> {
    weights.tensors.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::ops::batchnorm::{BatchNormOptions, BatchNormShape};
    use crate::ops::conv2d::Conv2dShape;
    use crate::reference;

    fn random(rng: &mut StdRng, len: usize, range: std::ops::Range<f64>) -> Vec<f64> {
        (0..len).map(|_| rng.random_range(range.clone())).collect()
    }

    /// conv then batch norm (inference), both CPU references in f64, against the folded
    /// convolution with bias, on odd shapes: 1x1 and 3x3, stride 1 and 2, padding 0 and 1.
    #[test]
    fn folded_convolution_equals_conv_then_batch_norm() {
        let mut rng = StdRng::seed_from_u64(11);
        let eps = BatchNormOptions::default().eps as f64;
        let geometries = [(3, 1, 1), (3, 2, 1), (1, 1, 0), (1, 2, 0), (3, 2, 0)];
        for (case, &(kernel, stride, padding)) in geometries.iter().enumerate() {
            let s = Conv2dShape {
                batch: 2,
                in_channels: 3 + case,
                out_channels: 5 + 2 * case,
                height: 7 + case,
                width: 9 - case,
                kernel,
                stride,
                padding,
            };
            let x = random(&mut rng, s.input_shape().iter().product(), -3.0..3.0);
            let w = random(&mut rng, s.weight_shape().iter().product(), -1.0..1.0);
            let o = s.out_channels;
            let (gamma, beta) = (random(&mut rng, o, -2.0..2.0), random(&mut rng, o, -1.0..1.0));
            let mean = random(&mut rng, o, -2.0..2.0);
            // Variances down to 1e-3 give scales up to ~60: folding must hold there too.
            let var = random(&mut rng, o, 1e-3..4.0);
            let bn_shape =
                BatchNormShape { batch: s.batch, channels: o, spatial: s.output_height() * s.output_width() };

            // Without and with a convolution bias (the VGG-BNs have one).
            for conv_bias in [None, Some(random(&mut rng, o, -1.0..1.0))] {
                let conv = reference::conv2d::forward(&s, &x, &w, conv_bias.as_deref());
                let expected =
                    reference::batchnorm::forward_inference(bn_shape, &conv, &gamma, &beta, &mean, &var, eps);
                let params =
                    BatchNormParams { gamma: &gamma, beta: &beta, running_mean: &mean, running_var: &var, eps };
                let (folded_w, folded_b) = fold_conv_bn(&w, conv_bias.as_deref(), &params);
                let got = reference::conv2d::forward(&s, &x, &folded_w, Some(&folded_b));

                // Each side's error is below about (n + 6) u times the magnitude of the
                // terms it adds, u = f64::EPSILON / 2: recursive summation of the n = C*K*K
                // products plus a bias or mean costs (n + 1) u, and the scale
                // s = gamma / sqrt(var + eps) (three roundings) and the products and shifts
                // add a few u more, all relative to |s| (sum |w||x| + |b| + |mean|) + |beta|.
                // The difference of the two sides: twice that.
                let abs = |v: &[f64]| v.iter().map(|a| a.abs()).collect::<Vec<_>>();
                let magnitude = reference::conv2d::forward(&s, &abs(&x), &abs(&w), None);
                let n = (s.in_channels * kernel * kernel) as f64;
                let plane = s.output_height() * s.output_width();
                for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                    let c = (i / plane) % o;
                    let scale = (gamma[c] / (var[c] + eps).sqrt()).abs();
                    let b = conv_bias.as_ref().map_or(0.0, |b| b[c].abs());
                    let terms = scale * (magnitude[i] + b + mean[c].abs()) + beta[c].abs();
                    let tolerance = 2.0 * (n + 6.0) * (f64::EPSILON / 2.0) * terms;
                    assert!(
                        (g - e).abs() <= tolerance,
                        "case {case}, output {i}: {g} vs {e} (tolerance {tolerance:e})"
                    );
                }
            }
        }
    }

    fn conv(name: &str, input: &str) -> Op {
        Op::Conv2d {
            name: name.into(),
            input: input.into(),
            weight: format!("{name}.weight"),
            bias: None,
            input_shape: [1, 2, 2],
            output_shape: [2, 2, 2],
            kernel: 1,
            stride: 1,
            padding: 0,
        }
    }

    fn bn(name: &str, input: &str) -> Op {
        Op::BatchNorm {
            name: name.into(),
            input: input.into(),
            weight: format!("{name}.weight"),
            bias: format!("{name}.bias"),
            running_mean: format!("{name}.running_mean"),
            running_var: format!("{name}.running_var"),
            eps: 0.0,
            shape: vec![2, 2, 2],
        }
    }

    #[test]
    fn folding_a_graph_drops_batch_norms_adds_biases_and_reroutes_readers() {
        let relu = Op::Relu { name: "r".into(), input: "b".into(), site_index: 0, bound: None, shape: vec![2, 2, 2] };
        let ops = vec![conv("c", "input"), bn("b", "c"), relu];
        let mut checkpoint = Checkpoint::default();
        checkpoint.push("c.weight", &[2, 1, 1, 1], vec![1.0, 2.0]);
        checkpoint.push("b.weight", &[2], vec![2.0, 3.0]);
        checkpoint.push("b.bias", &[2], vec![0.5, -1.0]);
        checkpoint.push("b.running_mean", &[2], vec![1.0, 1.0]);
        checkpoint.push("b.running_var", &[2], vec![4.0, 9.0]);
        checkpoint.push("c.weight.momentum_buffer", &[2, 1, 1, 1], vec![0.0, 0.0]);
        let (folded, weights) = fold_network(&ops, &checkpoint, Path::new("test")).unwrap();
        assert_eq!(folded.len(), 2);
        assert!(matches!(&folded[0], Op::Conv2d { bias: Some(b), .. } if b == "c.bias"));
        assert_eq!(folded[1].inputs(), vec!["c"]);
        // s = gamma / sqrt(var) = [1, 1]: W' = W, b' = beta - mean.
        assert_eq!(find(&weights, "c.weight").unwrap().data, vec![1.0, 2.0]);
        assert_eq!(find(&weights, "c.bias").unwrap().data, vec![-0.5, -2.0]);
        assert_eq!(weights.tensors.len(), 2, "only the folded weight and bias are exported");
    }

    #[test]
    fn a_batch_norm_without_its_convolution_is_refused() {
        let ops = vec![bn("b", "input")];
        let error = fold_network(&ops, &Checkpoint::default(), Path::new("test")).unwrap_err().to_string();
        assert!(error.contains("batch norm b does not follow"), "{error}");
    }
}

use rand::Rng;

use super::batchnorm::ForwardPasses;
use super::conv2d::ConvGeometry;
use super::describe::per_image;
use super::{
    Activation, BatchNorm, BnRelu, Conv2d, Layer, Mode, Op, Param, Purpose, Shortcut, Site, SiteTables, ZeroPadShortcut,
};
use crate::gpu::{Dispatch, Gpu, Recorder, Result, Tensor};
use crate::ops::add;

/// He et al.'s basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)). Where
/// the shape changes the shortcut is the zero-padded subsampling (option A) or a 1x1
/// strided conv + batch norm (option B); elsewhere it is the identity. Where relu2
/// computes the exact function (training with exact ReLUs, evaluation) the sum and relu2
/// run in bn2's normalisation (bn2, sum and relu2 in one pass), and bn1 and relu1 in one
/// too (`BnRelu`); where relu2 trains with an activation that scales with its running
/// max |x|, bn2's normalisation writes the sum and measures it as it writes.
pub struct BasicBlock {
    name: String,
    conv1: Conv2d,
    bn1_relu1: BnRelu,
    conv2: Conv2d,
    bn2: BatchNorm,
    /// The shortcut's layers in order: none for the identity.
    shortcut: Vec<Box<dyn Layer>>,
    sum: Dispatch,
    /// bn2's forward with the sum and relu2 in its normalisation, writing relu2's output;
    /// None where passes are not fused (`Gpu::fuses_passes`).
    bn2_sum_relu: Option<ForwardPasses>,
    /// bn2's training forward with the sum and the measure of its max |x| that relu2's
    /// training reads, where relu2 trains with an activation that scales with it and
    /// passes are fused.
    bn2_sum_measuring: Option<Vec<Dispatch>>,
    /// The residual sum relu2 reads (its gradient is bn2's output gradient).
    sum_value: Activation,
    relu2: Site,
    /// input.grad = main-path gradient + shortcut gradient (training only).
    merge_grads: Option<Dispatch>,
}

/// The input as seen by one branch: same values, a gradient of the branch's own when training.
fn branch_view(gpu: &Gpu, input: &Activation, purpose: Purpose) -> Result<Activation> {
    Ok(Activation { value: input.value.clone(), ..Activation::new(gpu, input.shape(), purpose)? })
}

/// What a block is built from, besides its input.
pub struct BlockShape {
    pub out_channels: usize,
    pub stride: usize,
    /// The kind of shortcut where the shape changes.
    pub shortcut: Shortcut,
}

/// The layers of a shortcut that changes shape, reading `input` (the block's input with a
/// gradient of its own) and summed with `sibling` (whose gradient its output gradient is).
fn projection(
    gpu: &Gpu,
    name: &str,
    input: &Activation,
    sibling: &Activation,
    shape: &BlockShape,
    purpose: Purpose,
    rng: &mut impl Rng,
) -> Result<Vec<Box<dyn Layer>>> {
    Ok(match shape.shortcut {
        Shortcut::A => vec![Box::new(ZeroPadShortcut::new(gpu, &format!("{name}.shortcut"), input, sibling, purpose)?)],
        Shortcut::B => {
            let geometry = ConvGeometry {
                out_channels: shape.out_channels,
                kernel: 1,
                stride: shape.stride,
                padding: 0,
                bias: false,
            };
            let conv = Conv2d::new(gpu, &format!("{name}.shortcut.conv"), input, geometry, purpose, rng)?;
            let bn = BatchNorm::new(gpu, &format!("{name}.shortcut.bn"), conv.output(), Some(sibling), purpose)?;
            vec![Box::new(conv), Box::new(bn)]
        }
    })
}

impl BasicBlock {
    pub fn new(
        gpu: &Gpu,
        name: &str,
        input: &Activation,
        shape: BlockShape,
        tables: &SiteTables,
        rng: &mut impl Rng,
    ) -> Result<BasicBlock> {
        let BlockShape { out_channels, stride, .. } = shape;
        let purpose = tables.purpose();
        let main_input = branch_view(gpu, input, purpose)?;
        let conv3x3 = |stride| ConvGeometry { out_channels, kernel: 3, stride, padding: 1, bias: false };
        let conv1 = Conv2d::new(gpu, &format!("{name}.conv1"), &main_input, conv3x3(stride), purpose, rng)?;
        let bn1 = BatchNorm::new(gpu, &format!("{name}.bn1"), conv1.output(), None, purpose)?;
        let relu1 = Site::relu(gpu, &format!("{name}.relu1"), bn1.output(), tables)?;
        let bn1_relu1 = BnRelu::new(gpu, bn1, relu1, tables)?;
        let conv2 = Conv2d::new(gpu, &format!("{name}.conv2"), bn1_relu1.output(), conv3x3(1), purpose, rng)?;
        let bn2 = BatchNorm::new(gpu, &format!("{name}.bn2"), conv2.output(), None, purpose)?;
        // The residual sum's gradient is bn2's output gradient.
        let sum_grad = bn2.output();
        let changes_shape = stride != 1 || input.shape()[1] != out_channels;
        let (shortcut, shortcut_grad) = if changes_shape {
            let shortcut_input = branch_view(gpu, input, purpose)?;
            (projection(gpu, name, &shortcut_input, sum_grad, &shape, purpose, rng)?, shortcut_input.grad)
        } else {
            (Vec::new(), sum_grad.grad.clone())
        };
        let shortcut_value = shortcut.last().map_or(&input.value, |layer| &layer.output().value);
        let sum_input = Activation::sharing_grad(gpu, sum_grad)?;
        let sum = add::forward(gpu, &bn2.output().value, shortcut_value, &sum_input.value)?;
        let relu2 = Site::relu(gpu, &format!("{name}.relu2"), &sum_input, tables)?;
        let (bn2_sum_relu, bn2_sum_measuring) = match gpu.fuses_passes() {
            true => {
                let bn2_sum_relu = bn2.fused_residual_relu(gpu, shortcut_value, &relu2.output().value)?;
                let bn2_sum_measuring = match relu2.producer_measure(tables) {
                    Some(measure) => {
                        Some(bn2.fused_residual_measuring(gpu, shortcut_value, measure, &sum_input.value)?)
                    }
                    None => None,
                };
                (Some(bn2_sum_relu), bn2_sum_measuring)
            }
            false => (None, None),
        };
        // Only a training network has gradients to merge.
        let merge_grads = match &shortcut_grad {
            Some(shortcut_grad) => Some(add::forward(gpu, main_input.grad(), shortcut_grad, input.input_grad(name)?)?),
            None => None,
        };
        Ok(BasicBlock {
            name: name.into(),
            conv1,
            bn1_relu1,
            conv2,
            bn2,
            shortcut,
            sum,
            bn2_sum_relu,
            bn2_sum_measuring,
            sum_value: sum_input,
            relu2,
            merge_grads,
        })
    }

    fn main_path(&self) -> [&dyn Layer; 4] {
        [&self.conv1, &self.bn1_relu1, &self.conv2, &self.bn2]
    }

    fn layers(&self) -> Vec<&dyn Layer> {
        let mut layers = self.main_path().to_vec();
        layers.extend(self.shortcut.iter().map(|layer| layer.as_ref()));
        layers
    }
}

impl Layer for BasicBlock {
    fn output(&self) -> &Activation {
        self.relu2.output()
    }

    fn choose_kernels(&mut self, gpu: &Gpu) -> Result<()> {
        self.conv1.choose_kernels(gpu)?;
        self.conv2.choose_kernels(gpu)?;
        self.shortcut.iter_mut().try_for_each(|layer| layer.choose_kernels(gpu))
    }

    fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        // bn2 last: the sum fused into it reads the shortcut's output.
        let main_before_bn2: [&dyn Layer; 3] = [&self.conv1, &self.bn1_relu1, &self.conv2];
        let shortcut = self.shortcut.iter().map(|layer| layer.as_ref());
        for layer in main_before_bn2.into_iter().chain(shortcut) {
            layer.record_forward(recorder, mode);
        }
        let exact = mode == Mode::Eval || (mode == Mode::Train && self.relu2.trains_exact());
        match (&self.bn2_sum_relu, &self.bn2_sum_measuring) {
            (Some(bn2_sum_relu), _) if exact => bn2_sum_relu.record_forward(recorder, mode),
            (_, Some(bn2_sum_measuring)) if mode == Mode::Train => {
                recorder.record_all(bn2_sum_measuring);
                self.relu2.record_training_measured(recorder);
            }
            _ => {
                self.bn2.record_forward(recorder, mode);
                recorder.record(&self.sum);
                self.relu2.record_forward(recorder, mode);
            }
        }
    }

    fn record_backward(&self, recorder: &mut Recorder) {
        self.relu2.record_backward(recorder);
        for layer in self.layers().into_iter().rev() {
            layer.record_backward(recorder);
        }
        recorder.record_all(&self.merge_grads);
    }

    fn params(&self) -> Vec<&Param> {
        self.layers().into_iter().flat_map(|l| l.params()).collect()
    }

    fn state(&self) -> Vec<(String, &Tensor)> {
        self.layers().into_iter().flat_map(|l| l.state()).collect()
    }

    fn activations(&self) -> Vec<&Activation> {
        let mut activations: Vec<&Activation> = self.layers().into_iter().flat_map(|l| l.activations()).collect();
        activations.extend([&self.sum_value, self.relu2.output()]);
        activations
    }

    fn sites(&self) -> Vec<&Site> {
        let mut sites = self.bn1_relu1.sites();
        sites.push(&self.relu2);
        sites
    }

    /// conv1, bn1, relu1, conv2, bn2, [shortcut conv, shortcut bn | shortcut], add, relu2.
    fn describe(&self, input: &str) -> Vec<Op> {
        let mut ops = Vec::new();
        let chain = |layers: &[&dyn Layer], from: &str, ops: &mut Vec<Op>| {
            let mut value = from.to_string();
            for layer in layers {
                ops.extend(layer.describe(&value));
                value = ops.last().expect("every layer describes an op").name().to_string();
            }
            value
        };
        let main = chain(&self.main_path(), input, &mut ops);
        let shortcut_layers: Vec<&dyn Layer> = self.shortcut.iter().map(|layer| layer.as_ref()).collect();
        let shortcut = chain(&shortcut_layers, input, &mut ops);
        let add = format!("{}.add", self.name);
        ops.push(Op::Add {
            name: add.clone(),
            inputs: [main, shortcut],
            shape: per_image(self.relu2.output().shape()),
        });
        ops.extend(self.relu2.describe(&add));
        ops
    }
}

use rand::Rng;

use super::conv2d::ConvGeometry;
use super::describe::per_image;
use super::{Activation, BatchNorm, BnRelu, Conv2d, Layer, Mode, Op, Param, Purpose, Site, SiteTables};
use crate::gpu::{Dispatch, Gpu, Recorder, Result, Tensor};
use crate::ops::add;

/// He et al.'s basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), with a
/// 1x1 strided conv + batch norm shortcut when the shape changes (option B). Where relu2
/// computes the exact function (training with exact ReLUs, evaluation) the sum and relu2
/// run as one pass, and bn1 and relu1 too (`BnRelu`).
pub struct BasicBlock {
    name: String,
    conv1: Conv2d,
    bn1_relu1: BnRelu,
    conv2: Conv2d,
    bn2: BatchNorm,
    shortcut: Option<(Conv2d, BatchNorm)>,
    sum: Dispatch,
    /// The sum and relu2 in one pass, writing relu2's output; None where passes are not
    /// fused (`Gpu::fuses_passes`).
    sum_relu: Option<Dispatch>,
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

impl BasicBlock {
    pub fn new(
        gpu: &Gpu,
        name: &str,
        input: &Activation,
        out_channels: usize,
        stride: usize,
        tables: &SiteTables,
        rng: &mut impl Rng,
    ) -> Result<BasicBlock> {
        let purpose = tables.purpose();
        let main_input = branch_view(gpu, input, purpose)?;
        let conv3x3 = |stride| ConvGeometry { out_channels, kernel: 3, stride, padding: 1 };
        let conv1 = Conv2d::new(gpu, &format!("{name}.conv1"), &main_input, conv3x3(stride), purpose, rng)?;
        let bn1 = BatchNorm::new(gpu, &format!("{name}.bn1"), conv1.output(), None, purpose)?;
        let relu1 = Site::relu(gpu, &format!("{name}.relu1"), bn1.output(), tables)?;
        let bn1_relu1 = BnRelu::new(gpu, bn1, relu1)?;
        let conv2 = Conv2d::new(gpu, &format!("{name}.conv2"), bn1_relu1.output(), conv3x3(1), purpose, rng)?;
        let bn2 = BatchNorm::new(gpu, &format!("{name}.bn2"), conv2.output(), None, purpose)?;
        // The residual sum's gradient is bn2's output gradient.
        let sum_grad = bn2.output();
        let needs_projection = stride != 1 || input.shape()[1] != out_channels;
        let (shortcut, shortcut_grad) = if needs_projection {
            let shortcut_input = branch_view(gpu, input, purpose)?;
            let geometry = ConvGeometry { out_channels, kernel: 1, stride, padding: 0 };
            let conv = Conv2d::new(gpu, &format!("{name}.shortcut.conv"), &shortcut_input, geometry, purpose, rng)?;
            let bn = BatchNorm::new(gpu, &format!("{name}.shortcut.bn"), conv.output(), Some(sum_grad), purpose)?;
            (Some((conv, bn)), shortcut_input.grad)
        } else {
            (None, sum_grad.grad.clone())
        };
        let shortcut_value = shortcut.as_ref().map_or(&input.value, |(_, bn)| &bn.output().value);
        let sum_input = Activation::sharing_grad(gpu, sum_grad)?;
        let sum = add::forward(gpu, &bn2.output().value, shortcut_value, &sum_input.value)?;
        let relu2 = Site::relu(gpu, &format!("{name}.relu2"), &sum_input, tables)?;
        let sum_relu = match gpu.fuses_passes() {
            true => Some(add::forward_relu(gpu, &bn2.output().value, shortcut_value, &relu2.output().value)?),
            false => None,
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
            sum_relu,
            sum_value: sum_input,
            relu2,
            merge_grads,
        })
    }

    fn layers(&self) -> Vec<&dyn Layer> {
        let mut layers: Vec<&dyn Layer> = vec![&self.conv1, &self.bn1_relu1, &self.conv2, &self.bn2];
        if let Some((conv, bn)) = &self.shortcut {
            layers.extend([conv as &dyn Layer, bn as &dyn Layer]);
        }
        layers
    }
}

impl Layer for BasicBlock {
    fn output(&self) -> &Activation {
        self.relu2.output()
    }

    fn record_forward(&self, recorder: &mut Recorder, mode: Mode) {
        for layer in self.layers() {
            layer.record_forward(recorder, mode);
        }
        match &self.sum_relu {
            Some(sum_relu) if mode == Mode::Eval || (mode == Mode::Train && self.relu2.trains_exact()) => {
                recorder.record(sum_relu);
            }
            _ => {
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

    /// conv1, bn1, relu1, conv2, bn2, [shortcut conv, shortcut bn], add, relu2.
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
        let main = chain(&[&self.conv1, &self.bn1_relu1, &self.conv2, &self.bn2], input, &mut ops);
        let shortcut = match &self.shortcut {
            Some((conv, bn)) => chain(&[conv, bn], input, &mut ops),
            None => input.to_string(),
        };
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

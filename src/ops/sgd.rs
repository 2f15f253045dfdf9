//! SGD with momentum, optional Nesterov and weight decay, with PyTorch's semantics
//! (`torch.optim.SGD`, dampening 0): g = grad + weight_decay * w; v = momentum * v + g;
//! w -= lr * (nesterov ? g + momentum * v : v). Velocity starts at zero.

use crate::gpu::{Bindable, Dispatch, Gpu, GpuError, Result, Tensor};

use super::{dim, expect_shape, same_shape};

/// The fixed settings of one parameter group.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    pub momentum: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
}

crate::uniform! {
    pub(crate) struct Params {
        len: u32,
        momentum: f32,
        weight_decay: f32,
        nesterov: u32,
    }
}

/// One update of `weight` (and `velocity`) from `grad`, reading the learning rate from
/// `lr`, a 1-element f32 tensor the caller rewrites when the schedule changes it
/// (`gpu.write(&lr, &[rate])`, ordered before the next submission). `velocity` (shape of
/// `weight`, zeros at the start) is needed when momentum > 0; without it the update is
/// plain SGD with weight decay.
pub fn step(
    gpu: &Gpu,
    config: &Sgd,
    lr: &Tensor,
    grad: &Tensor,
    weight: &Tensor,
    velocity: Option<&Tensor>,
) -> Result<Dispatch> {
    let op = "sgd step";
    same_shape(op, &[("weight", weight), ("grad", grad)])?;
    expect_shape(op, "lr", lr, &[1])?;
    let Sgd { momentum, nesterov, weight_decay } = *config;
    let invalid = |message: &str| Err(GpuError::shape(format!("{op}: {message} (got {config:?})")));
    if !(momentum >= 0.0 && momentum.is_finite() && weight_decay >= 0.0 && weight_decay.is_finite()) {
        return invalid("momentum and weight decay must be finite and >= 0");
    }
    if nesterov && momentum == 0.0 {
        return invalid("Nesterov momentum needs momentum > 0");
    }
    let params = gpu.uniform(&Params { len: dim(weight.len()), momentum, weight_decay, nesterov: nesterov as u32 });
    let mut bindings: Vec<(&str, &dyn Bindable)> =
        vec![("params", &params), ("lr", lr), ("grad", grad), ("weight", weight)];
    let entry = match velocity {
        Some(velocity) => {
            same_shape(op, &[("weight", weight), ("velocity", velocity)])?;
            bindings.push(("velocity", velocity));
            "step"
        }
        None if momentum > 0.0 => return invalid("momentum > 0 needs a velocity tensor"),
        None => "step_plain",
    };
    let kernel = gpu.kernel("sgd", entry, &[])?;
    gpu.dispatch_1d(&kernel, &bindings, weight.len())
}

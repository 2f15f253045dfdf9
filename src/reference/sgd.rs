//! One step of `torch.optim.SGD` (dampening 0) on one parameter tensor.

pub struct Sgd {
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
}

/// g = grad + weight_decay * w; v = momentum * v + g; w -= lr * (nesterov ? g + momentum * v : v).
/// With momentum 0 this is plain SGD (and `velocity` just holds g).
pub fn step(config: &Sgd, lr: f64, grad: &[f64], weight: &mut [f64], velocity: &mut [f64]) {
    for ((w, v), g) in weight.iter_mut().zip(velocity.iter_mut()).zip(grad) {
        let g = g + config.weight_decay * *w;
        *v = config.momentum * *v + g;
        let direction = if config.nesterov { g + config.momentum * *v } else { *v };
        *w -= lr * direction;
    }
}

// SGD with PyTorch's semantics (dampening 0), one parameter tensor per dispatch:
//   g = grad + weight_decay * w
//   step:        v = momentum * v + g;  w -= lr * (nesterov ? g + momentum * v : v)
//   step_plain:  w -= lr * g            (no momentum, no velocity buffer)
// The learning rate is read from a 1-element buffer the training loop rewrites each
// step (schedules); momentum, nesterov and weight decay are fixed per dispatch, so a
// parameter group with its own weight decay (e.g. none for BN) is just another dispatch.

struct Params {
    len: u32,
    momentum: f32,
    weight_decay: f32,
    // 1 for Nesterov momentum.
    nesterov: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> lr: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> velocity: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i >= params.len {
        return;
    }
    let w = weight[i];
    let g = grad[i] + params.weight_decay * w;
    let v = params.momentum * velocity[i] + g;
    velocity[i] = v;
    let direction = select(v, g + params.momentum * v, params.nesterov != 0u);
    weight[i] = w - lr[0] * direction;
}

@compute @workgroup_size(WORKGROUP)
fn step_plain(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i >= params.len {
        return;
    }
    let w = weight[i];
    weight[i] = w - lr[0] * (grad[i] + params.weight_decay * w);
}

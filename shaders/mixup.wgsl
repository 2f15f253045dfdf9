// Mixup (Zhang et al., 2018): with a permutation perm of the batch and lambda, both drawn
// on the host each step,
//   mixed_images[n]  = lambda * images[n]  + (1 - lambda) * images[perm[n]]
//   mixed_targets[n] = lambda * targets[n] + (1 - lambda) * targets[perm[n]]
// One dispatch covers both: invocations below batch * image_len do images, the next
// batch * classes do targets. lambda * a + (1 - lambda) * b (rather than b + lambda (a - b))
// returns a exactly when lambda = 1, so disabled mixup is an exact copy.

struct Params {
    batch: u32,
    // Elements per image (C * H * W).
    image_len: u32,
    classes: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// [lambda], rewritten by the caller every step.
@group(0) @binding(1) var<storage, read> lambda: array<f32>;
@group(0) @binding(2) var<storage, read> perm: array<u32>;
@group(0) @binding(3) var<storage, read> images: array<f32>;
@group(0) @binding(4) var<storage, read> targets: array<f32>;
@group(0) @binding(5) var<storage, read_write> mixed_images: array<f32>;
@group(0) @binding(6) var<storage, read_write> mixed_targets: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn mix(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    let l = lambda[0];
    let images_len = params.batch * params.image_len;
    if i < images_len {
        let n = quotient(i, params.image_len);
        let j = i - n * params.image_len;
        let other = images[perm[n] * params.image_len + j];
        mixed_images[i] = l * images[i] + (1.0 - l) * other;
        return;
    }
    let t = i - images_len;
    if t < params.batch * params.classes {
        let n = quotient(t, params.classes);
        let j = t - n * params.classes;
        let other = targets[perm[n] * params.classes + j];
        mixed_targets[t] = l * targets[t] + (1.0 - l) * other;
    }
}

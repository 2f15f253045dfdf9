// Dropout in training: y = x * scale where element i is kept, else 0; backward
// dx = dy * scale where kept, else 0. Element i is dropped where its random word
// draw(key, i) is below `drop_below` (= rate 2^32), so with probability rate; scale is
// 1 / (1 - rate). The key is random_key(stream, seed, step) (shaders/common/random.wgsl),
// so forward and backward recompute the same mask and src/reference/dropout.rs
// reproduces it bit for bit. drop_below = 0 and scale = 1 keep everything: the identity.

struct Params {
    len: u32,
    stream: u32,
    drop_below: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
// [seed low 32 bits, seed high 32 bits, step]: rewritten by the caller every step.
@group(0) @binding(1) var<storage, read> counter: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

fn kept(i: u32) -> bool {
    return draw(random_key(params.stream, counter[0], counter[1], counter[2]), i) >= params.drop_below;
}

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i < params.len {
        y[i] = select(0.0, x[i] * params.scale, kept(i));
    }
}

@compute @workgroup_size(WORKGROUP)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i < params.len {
        dx[i] = select(0.0, dy[i] * params.scale, kept(i));
    }
}

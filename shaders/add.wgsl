// Elementwise sum out = a + b: the residual connection, and the accumulation of the
// two gradients that meet at a residual block's input. RELU (an override constant) fuses
// the ReLU after a residual sum: out = max(a + b, 0).

struct Params {
    len: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

override RELU: bool = false;

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i < params.len {
        let sum = a[i] + b[i];
        out[i] = select(sum, max(sum, 0.0), RELU);
    }
}

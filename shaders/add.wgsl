// Elementwise sum out = a + b: the residual connection where it is not fused into the
// batch norm before it (batchnorm.wgsl, RESIDUAL), and the accumulation of the two
// gradients that meet at a residual block's input. forward_vec4 sums four values per
// invocation through a4, b4 and out4, vec4 views of the same buffers (ops::per_element).

struct Params {
    len: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> out4: array<vec4<f32>>;

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i < params.len {
        out[i] = a[i] + b[i];
    }
}

@compute @workgroup_size(WORKGROUP)
fn forward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if 4u * t < params.len {
        out4[t] = a4[t] + b4[t];
    }
}

enable f16;

// ReLU forward with f16 storage and f32 arithmetic: what storing training activations in
// half precision would move through memory, measured by `sturdy bench` against the f32
// kernel (shaders/relu.wgsl) on adapters with SHADER_F16. Elements in pairs, one u32 word
// each, so every load and store is four bytes as in the f32 kernel, with half as many.

struct Params {
    len: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec2<f16>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec2<f16>>;

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if 2u * i < params.len {
        y[i] = vec2<f16>(max(vec2<f32>(x[i]), vec2<f32>(0.0)));
    }
}

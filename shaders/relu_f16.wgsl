enable f16;

// ReLU forward with f16 storage and f32 arithmetic: what storing training activations in
// half precision would move through memory, measured by `sturdy bench` against the f32
// kernel (shaders/relu.wgsl) on adapters with SHADER_F16. Four values an invocation, as
// in the f32 kernel's vec4 form: every load and store is eight bytes where it is sixteen.

struct Params {
    len: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f16>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<f16>>;

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if 4u * i < params.len {
        y[i] = vec4<f16>(max(vec4<f32>(x[i]), vec4<f32>(0.0)));
    }
}

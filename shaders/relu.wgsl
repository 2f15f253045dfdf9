// ReLU: y = max(x, 0); backward dx = dy where x > 0, else 0. The _vec4 entry points take
// four values per invocation through x4, y4, dy4 and dx4, vec4 views of the same buffers
// (ops::per_element).

struct Params {
    len: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> dx4: array<vec4<f32>>;

fn gated(g: vec4<f32>, v: vec4<f32>) -> vec4<f32> {
    return select(vec4<f32>(0.0), g, v > vec4<f32>(0.0));
}

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i < params.len {
        y[i] = max(x[i], 0.0);
    }
}

@compute @workgroup_size(WORKGROUP)
fn forward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if 4u * t < params.len {
        y4[t] = max(x4[t], vec4<f32>(0.0));
    }
}

@compute @workgroup_size(WORKGROUP)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i < params.len {
        dx[i] = gated(vec4<f32>(dy[i]), vec4<f32>(x[i])).x;
    }
}

@compute @workgroup_size(WORKGROUP)
fn backward_vec4(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if 4u * t < params.len {
        dx4[t] = gated(dy4[t], x4[t]);
    }
}

// out[i] = value for every element: zeroing gradients and resetting running totals
// inside the compute pass. The value is a bit pattern, so one kernel fills f32 and u32.

struct Params {
    len: u32,
    value: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(WORKGROUP)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if i < params.len {
        out[i] = params.value;
    }
}

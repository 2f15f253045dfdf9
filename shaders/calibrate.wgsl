// Calibration of a site's bound B: the running max |x| over every batch seen since the
// caller zeroed it, one f32 per site. See src/ops/calibrate.rs.
//
//   max_abs:   max_abs[site] = max(max_abs[site], max_i |x[i]|) on the f32 bit patterns

struct Params {
    len: u32,
    site: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// f32 values >= 0 seen as u32: their bit patterns order like the values.
@group(0) @binding(2) var<storage, read_write> max_abs_bits: array<atomic<u32>>;

var<workgroup> partial_max: array<u32, WORKGROUP>;

// Any number of workgroups (the op caps it): each strides over the input, reduces in
// workgroup memory, and one invocation per workgroup merges with atomicMax.
@compute @workgroup_size(WORKGROUP)
fn max_abs(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    var m = 0u;
    let stride = groups.x * WORKGROUP;
    for (var i = wid.x * WORKGROUP + lid; i < params.len; i += stride) {
        // |x| by clearing the sign bit: exact, and a NaN stays a NaN (above +inf as u32).
        m = max(m, bitcast<u32>(x[i]) & 0x7fffffffu);
    }
    partial_max[lid] = m;
    workgroupBarrier();
    for (var half = WORKGROUP / 2u; half > 0u; half >>= 1u) {
        if lid < half {
            partial_max[lid] = max(partial_max[lid], partial_max[lid + half]);
        }
        workgroupBarrier();
    }
    if lid == 0u {
        atomicMax(&max_abs_bits[params.site], partial_max[0]);
    }
}

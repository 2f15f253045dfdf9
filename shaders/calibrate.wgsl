// Calibration of a site's bound B: the running max |x| over every batch seen since the
// caller zeroed it, one f32 per site. See src/ops/calibrate.rs.
//
//   max_abs:       max_abs[site] = max(max_abs[site], max_i |x[i]|) on the f32 bit patterns
//
// The kernels that write a site's input in training can raise its max as they write
// (batchnorm.wgsl's stats_measuring and normalize_measuring), so that the input is not
// read again.

// include: max_abs

struct Params {
    len: u32,
    site: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// f32 values >= 0 seen as u32: their bit patterns order like the values.
@group(0) @binding(2) var<storage, read_write> max_abs_bits: array<atomic<u32>>;

// Takes any number of workgroups (the op caps it): each invocation takes its run of the
// input (`run_of`), then raise_running_max.
@compute @workgroup_size(WORKGROUP)
fn max_abs(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    var m = 0u;
    let run = run_of(wid.x * WORKGROUP + lid, groups.x * WORKGROUP, params.len);
    for (var i = run.x; i < run.y; i++) {
        m = max(m, abs_bits(vec4<f32>(x[i])).x);
    }
    raise_running_max(m, lid);
}

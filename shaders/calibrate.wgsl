// Calibration of a site's bound B: the running max |x| over every batch seen since the
// caller zeroed it, one f32 per site. See src/ops/calibrate.rs.
//
//   max_abs:       max_abs[site] = max(max_abs[site], max_i |x[i]|) on the f32 bit patterns
//   sum_max_abs:   out = a + b, and max_abs as above of out: a residual sum and the measure
//                  of the site that reads it in one pass, so that the sum is not read again
//                  before the site's kernel (sum_max_abs_vec4: four values per step through
//                  a4, b4 and out4, vec4 views of the same buffers, ops::per_element).

struct Params {
    len: u32,
    site: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
// f32 values >= 0 seen as u32: their bit patterns order like the values.
@group(0) @binding(2) var<storage, read_write> max_abs_bits: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> a: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> out4: array<vec4<f32>>;

var<workgroup> partial_max: array<u32, WORKGROUP>;

// |v| as bits, by clearing the sign bit: exact, and a NaN stays a NaN (above +inf as u32).
fn abs_bits(v: vec4<f32>) -> vec4<u32> {
    return bitcast<vec4<u32>>(v) & vec4<u32>(0x7fffffffu);
}

fn max_of(m: vec4<u32>) -> u32 {
    return max(max(m.x, m.y), max(m.z, m.w));
}

// Merges each invocation's max m across the workgroup in workgroup memory, in two levels
// of FAN (shaders/common/grid.wgsl), then into the site's running max with one atomicMax.
// Called by every invocation (uniform control flow).
fn merge_max(m: u32, lid: u32) {
    partial_max[lid] = m;
    workgroupBarrier();
    if lid < FAN {
        var largest = partial_max[lid * FAN];
        for (var k = 1u; k < FAN; k++) {
            largest = max(largest, partial_max[lid * FAN + k]);
        }
        partial_max[lid * FAN] = largest;
    }
    workgroupBarrier();
    if lid == 0u {
        var largest = partial_max[0];
        for (var k = 1u; k < FAN; k++) {
            largest = max(largest, partial_max[k * FAN]);
        }
        atomicMax(&max_abs_bits[params.site], largest);
    }
}

// Each entry takes any number of workgroups (the op caps it): each invocation takes its
// run of the input (`run_of`), then merge_max.
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
    merge_max(m, lid);
}

@compute @workgroup_size(WORKGROUP)
fn sum_max_abs(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    var m = 0u;
    let run = run_of(wid.x * WORKGROUP + lid, groups.x * WORKGROUP, params.len);
    for (var i = run.x; i < run.y; i++) {
        let sum = a[i] + b[i];
        out[i] = sum;
        m = max(m, abs_bits(vec4<f32>(sum)).x);
    }
    merge_max(m, lid);
}

@compute @workgroup_size(WORKGROUP)
fn sum_max_abs_vec4(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    var m = 0u;
    let run = run_of(wid.x * WORKGROUP + lid, groups.x * WORKGROUP, params.len / 4u);
    for (var t = run.x; t < run.y; t++) {
        let sum = a4[t] + b4[t];
        out4[t] = sum;
        m = max(m, max_of(abs_bits(sum)));
    }
    merge_max(m, lid);
}

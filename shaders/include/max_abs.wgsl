
// ---- shaders/include/max_abs.wgsl, appended by build.rs to the shaders that include it ----
// The running max |x| of a site (calibrate.wgsl): the values' magnitudes as u32 bit
// patterns, which order like the values (f32 >= 0), merged across a workgroup into the
// including shader's max_abs_bits with one atomicMax per workgroup.

var<workgroup> partial_max: array<u32, WORKGROUP>;

// |v| as bits, by clearing the sign bit: exact, and a NaN stays a NaN (above +inf as u32).
fn abs_bits(v: vec4<f32>) -> vec4<u32> {
    return bitcast<vec4<u32>>(v) & vec4<u32>(0x7fffffffu);
}

fn max_of(m: vec4<u32>) -> u32 {
    return max(max(m.x, m.y), max(m.z, m.w));
}

// Raises the site's running max (the including shader's max_abs_bits[params.site]) to
// the greatest of the workgroup's invocations' m, merged in workgroup memory in two levels
// of FAN (shaders/common/grid.wgsl), with one atomicMax. Called by every invocation
// (uniform control flow).
fn raise_running_max(m: u32, lid: u32) {
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


// ---- shaders/include/normalized_input.wgsl, appended by build.rs to the shaders that include it ----
// The input of the activation kernels' *_normalized entry points: x through the batch norm
// before the site (batch_normalized, shaders/common/batch_norm.wgsl) with its saved batch
// statistics, so that the batch norm's output is never written. The including shader
// declares x, x4 (its vec4 view), bn_mean, bn_inv_std, bn_gamma and bn_beta (per channel)
// and params.channels and params.spatial (values per channel plane).

// v, four values of the channel plane `plane`, through the batch norm.
fn normalized(v: vec4<f32>, plane: u32) -> vec4<f32> {
    let c = plane_channel(plane, params.channels);
    return batch_normalized4(v, bn_mean[c], bn_inv_std[c], bn_gamma[c], bn_beta[c]);
}

// x4[t], four values of one plane, through the batch norm.
fn normalized_x4(t: u32) -> vec4<f32> {
    return normalized(x4[t], quotient(4u * t, params.spatial));
}

// The values of run r (of one plane: shaders/include/runs.wgsl) through the batch norm.
fn normalized_x_run(r: RowRun) -> vec4<f32> {
    return normalized(x_run(r), r.row);
}

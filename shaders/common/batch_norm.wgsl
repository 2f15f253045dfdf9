
// ---- shaders/common/batch_norm.wgsl, appended to every shader by build.rs ----
// The batch-norm transform, in one home for batchnorm.wgsl and for the activation kernels
// that read their input through the batch norm before them (entry points *_normalized):
// y = gamma * ((x - mean) * inv_std) + beta, per channel of an NCHW tensor.

fn batch_normalized(x: f32, mean: f32, inv_std: f32, gamma: f32, beta: f32) -> f32 {
    return gamma * ((x - mean) * inv_std) + beta;
}

// The same operations on four values of one channel.
fn batch_normalized4(x: vec4<f32>, mean: f32, inv_std: f32, gamma: f32, beta: f32) -> vec4<f32> {
    return gamma * ((x - mean) * inv_std) + beta;
}

// The channel of element i of an NCHW tensor with `spatial` = H*W values per plane.
fn nchw_channel(i: u32, spatial: u32, channels: u32) -> u32 {
    return plane_channel(quotient(i, spatial), channels);
}

// The channel of plane `plane` (one sample's H*W values of one channel) of an NCHW tensor.
fn plane_channel(plane: u32, channels: u32) -> u32 {
    return plane - quotient(plane, channels) * channels;
}

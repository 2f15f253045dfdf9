//! 2-D convolution in NCHW: square K x K kernels, one stride, zero padding, optional bias.
//!
//! Layouts: x `[N, C, H, W]`, w `[O, C, K, K]`, b `[O]`, y `[N, O, OH, OW]`, where
//! `OH = (H + 2P - K) / S + 1` (likewise OW). The backward kernels overwrite their
//! gradient outputs; they never accumulate into them.
//!
//! Variants ([`Variant`], chosen per op and shape by `ops::variants::choose`): direct
//! kernels reading storage buffers, and implicit GEMMs over packed grids of texels with
//! either GEMM loader ([`implicit_gemm`]). Each op returns the dispatches to record, in order.

pub(crate) mod implicit_gemm;

use crate::gpu::{shader_constant, Bindable, Dispatch, Gpu, GpuError, Kernel, Result, Tensor, Texels, UniformBuffer};

use super::gemm::Loader;
use super::variants::{Product, Variant};
use super::{dim, expect_shape};

/// The name `ops::variants::choose` measures and caches `op` of `shape` under.
pub fn variant_key(op: Product, shape: &Conv2dShape) -> String {
    format!("conv2d {} {shape}", op.name())
}

/// The variants of `op` that apply to `shape`: the direct kernels, then each GEMM loader
/// whose packed grids for `op` fit the adapter's limits.
pub fn applicable(gpu: &Gpu, shape: &Conv2dShape, op: Product) -> Vec<Variant> {
    Variant::applicable(gpu, |loader| implicit_gemm::fits(gpu, shape, op, loader))
}

/// Blocks of `channels` that the direct kernels' threads compute, BLOCK channels each
/// (register blocking in shaders/conv2d.wgsl): output channels in forward,
/// backward_weight and backward_bias, input channels in backward_input.
fn channel_blocks(channels: usize) -> Result<usize> {
    Ok(channels.div_ceil(shader_constant("conv2d", "BLOCK")?))
}

/// The geometry of one convolution layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dShape {
    /// N: images per batch.
    pub batch: usize,
    /// C: channels of the input x.
    pub in_channels: usize,
    /// O: channels of the output y (one filter each).
    pub out_channels: usize,
    /// H: input image height.
    pub height: usize,
    /// W: input image width.
    pub width: usize,
    /// K: the kernel is K x K.
    pub kernel: usize,
    /// S: step between output positions, in input pixels, in both directions.
    pub stride: usize,
    /// P: zero rows and columns added on every side of the input.
    pub padding: usize,
}

impl std::fmt::Display for Conv2dShape {
    /// The shape as a cache key and in tables: "N128 16->32 32x32 k3 s2 p1".
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let Conv2dShape { batch, in_channels, out_channels, height, width, kernel, stride, padding } = self;
        write!(f, "N{batch} {in_channels}->{out_channels} {height}x{width} k{kernel} s{stride} p{padding}")
    }
}

impl Conv2dShape {
    /// OH = (H + 2P - K) / S + 1. Panics on a geometry that [`check`](Self::check) rejects.
    pub fn output_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// OW = (W + 2P - K) / S + 1. Panics on a geometry that [`check`](Self::check) rejects.
    pub fn output_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    pub fn input_shape(&self) -> [usize; 4] {
        [self.batch, self.in_channels, self.height, self.width]
    }

    pub fn weight_shape(&self) -> [usize; 4] {
        [self.out_channels, self.in_channels, self.kernel, self.kernel]
    }

    pub fn bias_shape(&self) -> [usize; 1] {
        [self.out_channels]
    }

    pub fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.out_channels, self.output_height(), self.output_width()]
    }

    /// Fails unless every size is positive and the kernel fits the padded input.
    pub fn check(&self) -> Result<()> {
        self.check_for("conv2d")
    }

    /// [`check`](Self::check), with errors naming `op`.
    fn check_for(&self, op: &str) -> Result<()> {
        let sizes = [
            ("batch", self.batch),
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("height", self.height),
            ("width", self.width),
            ("kernel", self.kernel),
            ("stride", self.stride),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, size)| *size == 0) {
            return Err(GpuError::shape(format!("{op}: {name} is 0 in {self:?}; it must be positive")));
        }
        if self.kernel > self.height.min(self.width) + 2 * self.padding {
            return Err(GpuError::shape(format!(
                "{op}: a {k}x{k} kernel does not fit a {h}x{w} input with padding {p}",
                k = self.kernel,
                h = self.height,
                w = self.width,
                p = self.padding
            )));
        }
        Ok(())
    }
}

crate::uniform! {
    /// The uniform block of shaders/conv2d.wgsl (field order matters).
    pub(crate) struct Params {
        batch: u32,
        in_channels: u32,
        out_channels: u32,
        height: u32,
        width: u32,
        kernel: u32,
        stride: u32,
        padding: u32,
        out_height: u32,
        out_width: u32,
    }
}

fn params(gpu: &Gpu, s: &Conv2dShape) -> UniformBuffer {
    gpu.uniform(&Params {
        batch: dim(s.batch),
        in_channels: dim(s.in_channels),
        out_channels: dim(s.out_channels),
        height: dim(s.height),
        width: dim(s.width),
        kernel: dim(s.kernel),
        stride: dim(s.stride),
        padding: dim(s.padding),
        out_height: dim(s.output_height()),
        out_width: dim(s.output_width()),
    })
}

/// The shape a tensor named after its role must have: x/dx, w/dw, b/db or y/dy.
fn expected_shape(shape: &Conv2dShape, name: &str) -> Vec<usize> {
    match name.trim_start_matches('d') {
        "x" => shape.input_shape().to_vec(),
        "w" => shape.weight_shape().to_vec(),
        "b" => shape.bias_shape().to_vec(),
        "y" => shape.output_shape().to_vec(),
        _ => unreachable!("conv2d has no tensor named {name}"),
    }
}

/// Checks the geometry first (the expected shapes are only defined for a valid one),
/// then each tensor against the shape its role gives.
fn check(op: &str, shape: &Conv2dShape, tensors: &[(&str, &Tensor)]) -> Result<()> {
    shape.check_for(op)?;
    tensors.iter().try_for_each(|&(name, tensor)| expect_shape(op, name, tensor, &expected_shape(shape, name)))
}

/// y = conv(x, w) + b, with b optional (absent for a convolution followed by batch norm).
pub fn forward(
    gpu: &Gpu,
    variant: Variant,
    shape: &Conv2dShape,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    y: &Tensor,
) -> Result<Vec<Dispatch>> {
    check_forward(shape, x, w, b, y)?;
    match variant {
        Variant::Direct => {
            let entry = if b.is_some() { "forward_bias" } else { "forward" };
            let kernel = gpu.kernel("conv2d", entry, &[])?;
            let params = params(gpu, shape);
            let mut bindings: Vec<(&str, &dyn Bindable)> = vec![("params", &params), ("x", x), ("w", w), ("y", y)];
            bindings.extend(b.map(|b| ("b", b as &dyn Bindable)));
            let threads = shape.output_shape().iter().product::<usize>() / shape.out_channels
                * channel_blocks(shape.out_channels)?;
            Ok(vec![gpu.dispatch_1d(&kernel, &bindings, threads)?])
        }
        Variant::Gemm(loader) => {
            let mut dispatches = implicit_gemm::forward(gpu, loader, shape, x, w, y, false)?.0;
            dispatches.extend(b.map(|b| add_bias(gpu, shape, b, y)).transpose()?);
            Ok(dispatches)
        }
    }
}

fn check_forward(shape: &Conv2dShape, x: &Tensor, w: &Tensor, b: Option<&Tensor>, y: &Tensor) -> Result<()> {
    let op = "conv2d forward";
    check(op, shape, &[("x", x), ("w", w), ("y", y)])?;
    b.map_or(Ok(()), |b| check(op, shape, &[("b", b)]))
}

/// y[n, o, :, :] += b[o], after a GEMM that wrote the plain sums.
fn add_bias(gpu: &Gpu, shape: &Conv2dShape, b: &Tensor, y: &Tensor) -> Result<Dispatch> {
    let kernel = gpu.kernel("conv2d", "add_bias", &[])?;
    let params = params(gpu, shape);
    let bindings: &[(&str, &dyn Bindable)] = &[("params", &params), ("b", b), ("y", y)];
    gpu.dispatch_1d(&kernel, bindings, shape.output_shape().iter().product())
}

/// [`forward`] through the GEMM with `loader`, keeping x packed in texels of its own for
/// [`backward_weight_packed`] with any loader of the same storage (the packing depends on
/// nothing else), which then packs nothing.
pub fn forward_keeping_input(
    gpu: &Gpu,
    loader: Loader,
    shape: &Conv2dShape,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    y: &Tensor,
) -> Result<(Vec<Dispatch>, Texels)> {
    check_forward(shape, x, w, b, y)?;
    let (mut dispatches, packed_x) = implicit_gemm::forward(gpu, loader, shape, x, w, y, true)?;
    dispatches.extend(b.map(|b| add_bias(gpu, shape, b, y)).transpose()?);
    Ok((dispatches, packed_x))
}

/// [`backward_weight`] through the GEMM with `loader`, from x as [`forward_keeping_input`]
/// packed it.
pub fn backward_weight_packed(
    gpu: &Gpu,
    loader: Loader,
    shape: &Conv2dShape,
    packed_x: &Texels,
    dy: &Tensor,
    dw: &Tensor,
) -> Result<Vec<Dispatch>> {
    check("conv2d backward_weight", shape, &[("dy", dy), ("dw", dw)])?;
    implicit_gemm::backward_weight_packed(gpu, loader, shape, packed_x, dy, dw)
}

/// dx = dL/dx given dy = dL/dy; overwrites dx.
pub fn backward_input(
    gpu: &Gpu,
    variant: Variant,
    shape: &Conv2dShape,
    w: &Tensor,
    dy: &Tensor,
    dx: &Tensor,
) -> Result<Vec<Dispatch>> {
    let op = "conv2d backward_input";
    check(op, shape, &[("w", w), ("dy", dy), ("dx", dx)])?;
    match variant {
        Variant::Direct => {
            let threads = shape.batch * channel_blocks(shape.in_channels)? * shape.height * shape.width;
            Ok(vec![direct(gpu, shape, "backward_input", &[("w", w), ("dy", dy), ("dx", dx)], |_| threads)?])
        }
        Variant::Gemm(loader) => implicit_gemm::backward_input(gpu, loader, shape, w, dy, dx),
    }
}

/// dw = dL/dw given dy = dL/dy, summed over the batch and all output positions; overwrites dw.
pub fn backward_weight(
    gpu: &Gpu,
    variant: Variant,
    shape: &Conv2dShape,
    x: &Tensor,
    dy: &Tensor,
    dw: &Tensor,
) -> Result<Vec<Dispatch>> {
    let op = "conv2d backward_weight";
    check(op, shape, &[("x", x), ("dy", dy), ("dw", dw)])?;
    match variant {
        Variant::Direct => {
            let workgroups = weight_gradient_workgroups(shape)?;
            let tensors = [("x", x), ("dy", dy), ("dw", dw)];
            Ok(vec![direct(gpu, shape, "backward_weight", &tensors, |kernel| {
                workgroups * kernel.workgroup_size()[0] as usize
            })?])
        }
        Variant::Gemm(loader) => implicit_gemm::backward_weight(gpu, loader, shape, x, dy, dw),
    }
}

/// db = dL/db given dy = dL/dy: dy summed over the batch and all output positions; overwrites db.
pub fn backward_bias(gpu: &Gpu, shape: &Conv2dShape, dy: &Tensor, db: &Tensor) -> Result<Dispatch> {
    let op = "conv2d backward_bias";
    check(op, shape, &[("dy", dy), ("db", db)])?;
    // One workgroup per block of output channels.
    let workgroups = channel_blocks(shape.out_channels)?;
    direct(gpu, shape, "backward_bias", &[("dy", dy), ("db", db)], |kernel| {
        workgroups * kernel.workgroup_size()[0] as usize
    })
}

/// The direct kernel `entry` bound to the layer's parameters and `tensors`, over the
/// invocations `threads` gives for it.
fn direct(
    gpu: &Gpu,
    shape: &Conv2dShape,
    entry: &'static str,
    tensors: &[(&str, &Tensor)],
    threads: impl FnOnce(&Kernel) -> usize,
) -> Result<Dispatch> {
    let kernel = gpu.kernel("conv2d", entry, &[])?;
    let params = params(gpu, shape);
    let mut bindings: Vec<(&str, &dyn Bindable)> = vec![("params", &params)];
    bindings.extend(tensors.iter().map(|&(name, tensor)| (name, tensor as &dyn Bindable)));
    gpu.dispatch_1d(&kernel, &bindings, threads(&kernel))
}

/// Workgroups of backward_weight: one per block of output channels and (input channel, kh, kw).
pub fn weight_gradient_workgroups(shape: &Conv2dShape) -> Result<usize> {
    Ok(channel_blocks(shape.out_channels)? * shape.in_channels * shape.kernel * shape.kernel)
}

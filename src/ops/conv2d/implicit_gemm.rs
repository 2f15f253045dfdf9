//! The GEMM path of conv2d: each convolution is an implicit GEMM (`shaders/gemm.wgsl`)
//! over images packed by `pack_images` and weights packed by `pack_weights`
//! (`shaders/conv2d.wgsl`) into grids of texels, so that every load is a texel of four
//! channels. The grids lie where the GEMM's loader reads them: textures or buffers.
//!
//! forward: C[m = (n, oh, ow), o] = sum over (kh, kw, c) of x_packed[n, c, oh S + kh, ow S + kw]
//! w[o, c, kh, kw], with x packed with P rows and columns of zeros around every plane.
//! backward_input: dx[ih] sums w[kh] dy[(ih + P - kh) / S] over the kh with
//! ih + P - kh divisible by S. For each phase (ih % S, iw % S) those taps are every S-th one
//! from a first, so each phase is a stride-1 convolution of dy with a sub-kernel read
//! backwards and the channel roles swapped: S x S GEMMs, no multiply by a zero.
//! backward_weight: dw[o, (kh, kw, c)] = sum over positions p of dy[o, p] x_packed[p, (kh, kw, c)],
//! a product with few blocks of C and a reduction over the whole batch, split into chunks
//! reduced in parallel (`gemm::split_k`); dy is packed with four positions per texel.

use super::{params, Conv2dShape};
use crate::gpu::{Bindable, Dispatch, Gpu, GpuError, Result, Tensor, TexelStorage, Texels};
use crate::ops::dim;
use crate::ops::gemm::{self, GemmLayout, IndexMap, Loader, TexelMap, WHOLE};
use crate::ops::variants::Product;

crate::uniform! {
    /// The uniform block `Packing` of shaders/conv2d.wgsl (field order matters).
    #[derive(Debug)]
    pub(crate) struct Packing {
        channels: u32,
        height: u32,
        width: u32,
        groups: u32,
        tile_height: u32,
        tile_width: u32,
        images_per_row: u32,
        offset: i32,
        texture_width: u32,
        threads: u32,
        batch: u32,
        kernel: u32,
        stride: u32,
        pitch: u32,
    }
}

/// The dispatches packing `source` as `packing` says into `texels` with pack kernel `entry`.
/// (`source4` binds the same tensor as vec4s, for the kernels that load rows of four.)
fn pack(gpu: &Gpu, entry: &'static str, packing: &Packing, texels: &Texels, source: &Tensor) -> Result<Vec<Dispatch>> {
    let kernel = gpu.kernel("conv2d", entry, &[])?;
    gpu.fill_texels(texels, |packed| {
        let uniform = gpu.uniform(&Packing { pitch: dim(packed.width()), ..*packing });
        let bindings: &[(&str, &dyn Bindable)] =
            &[("packing", &uniform), ("source", source), ("source4", source), ("packed", packed)];
        gpu.dispatch_1d(&kernel, bindings, packing.threads as usize)
    })
}

/// The error for a tensor too large for the adapter's textures.
fn too_large(what: &str, [batch, channels, height, width]: [usize; 4], limit: usize) -> GpuError {
    GpuError::shape(format!(
        "conv2d: {what} of {batch} images of {channels} channels, {height}x{width}, does not fit a texture within \
         this adapter's {limit} texels per dimension (max_texture_dimension_2d); use a smaller batch"
    ))
}

/// Images per band of a packed grid when at most `fitting` fit across the texture: as
/// many bands as needed, filled evenly, since every texel of the grid is packed and the
/// last band's empty tail would be packed as zeros (128 images of 120 a band packed 1.9x
/// the texels of 64 and 64: twice the time, measured).
fn images_per_band(batch: usize, fitting: usize) -> usize {
    batch.div_ceil(batch.div_ceil(fitting.max(1)))
}

/// Where a packed image tensor's planes lie, and the kernels packing them.
struct PackedImages {
    packing: Packing,
    texture_size: [usize; 2],
    /// The pack kernel: pack_images, or pack_taps.
    entry: &'static str,
}

impl PackedImages {
    /// Packs [batch, channels, height, width] into planes of tile_height x tile_width
    /// texels, source pixel (0, 0) at plane texel (offset, offset).
    fn new(
        gpu: &Gpu,
        [batch, channels, height, width]: [usize; 4],
        [tile_height, tile_width]: [usize; 2],
        offset: usize,
    ) -> Result<PackedImages> {
        let limit = gpu.limits.max_texture_dimension_2d as usize;
        let groups = channels.div_ceil(4);
        let image_width = groups * tile_width;
        let images_per_row = images_per_band(batch, limit / image_width);
        let bands = batch.div_ceil(images_per_row);
        let texture_size = [images_per_row * image_width, bands * tile_height];
        if texture_size.iter().any(|&s| s > limit) {
            return Err(too_large("the packed planes", [batch, channels, height, width], limit));
        }
        let packing = Packing {
            channels: dim(channels),
            height: dim(height),
            width: dim(width),
            groups: dim(groups),
            tile_height: dim(tile_height),
            tile_width: dim(tile_width),
            images_per_row: dim(images_per_row),
            offset: offset as i32,
            texture_width: dim(texture_size[0]),
            threads: dim(bands * images_per_row * groups * tile_height),
            batch: dim(batch),
            kernel: 0,
            stride: 0,
            pitch: 0,
        };
        Ok(PackedImages { packing, texture_size, entry: "pack_images" })
    }

    /// The dispatches packing `source` into scratch texels, and the texels.
    fn pack(&self, gpu: &Gpu, storage: TexelStorage, source: &Tensor) -> Result<(Vec<Dispatch>, Texels)> {
        let [width, height] = self.texture_size;
        let texels = gpu.scratch_texels(storage, "conv2d images", width, height)?;
        Ok((pack(gpu, self.entry, &self.packing, &texels, source)?, texels))
    }

    /// The dispatches packing `source` into texels of its own, which no other op
    /// overwrites, and the texels.
    fn pack_kept(&self, gpu: &Gpu, storage: TexelStorage, source: &Tensor) -> Result<(Vec<Dispatch>, Texels)> {
        let [width, height] = self.texture_size;
        let texels = gpu.texels(storage, width, height)?;
        Ok((pack(gpu, self.entry, &self.packing, &texels, source)?, texels))
    }

    /// Output positions (n, row, column index) of `rows x columns` images, reading the
    /// packed plane at (column index * column_step, row * stride).
    fn positions(&self, [rows, columns]: [usize; 2], stride: usize, column_step: usize) -> TexelMap {
        let p = &self.packing;
        let image_width = (p.groups * p.tile_width) as usize;
        TexelMap::new(
            [columns, rows, p.images_per_row as usize],
            [[column_step, 0], [0, stride], [image_width, 0], [0, p.tile_height as usize]],
        )
    }

    /// Depth of the GEMM: steps (g, kw, kh), channel group g fastest: the tap's offset in
    /// the plane of group g.
    fn taps(&self, kernel: usize) -> TexelMap {
        let p = &self.packing;
        TexelMap::new([p.groups as usize, kernel, WHOLE], [[p.tile_width as usize, 0], [1, 0], [0, 1], [0, 0]])
    }
}

/// dy [N, O, OH, OW] with four positions of a row per texel (`pack_positions`), in the
/// source's order: texel L = (n O + o) P + within, of P = OH ceil(OW / 4) a plane, lies at
/// (L % T, L / T) for texture rows of T = k P texels, k a divisor of O (the largest that
/// fits): channel o's plane at x = (o % k) P in row n O / k + o / k. Where OW is a multiple
/// of 4 dy's memory is that grid: a buffer loader reads it as it lies, and a texture is
/// copied from it where its rows can be.
struct PackedPositions {
    packing: Packing,
    texture_size: [usize; 2],
    /// Planes per texture row (k).
    planes_per_row: usize,
}

impl PackedPositions {
    fn new(gpu: &Gpu, shape @ [batch, channels, height, width]: [usize; 4]) -> Result<PackedPositions> {
        let limit = gpu.limits.max_texture_dimension_2d as usize;
        let quads = width.div_ceil(4);
        let plane = height * quads;
        let error = || too_large("the packed positions", shape, limit);
        let planes_per_row =
            (1..=channels).rev().find(|&k| channels.is_multiple_of(k) && k * plane <= limit).ok_or_else(error)?;
        let texture_size = [planes_per_row * plane, batch * channels / planes_per_row];
        if texture_size[1] > limit {
            return Err(error());
        }
        let packing = Packing {
            channels: dim(channels),
            height: dim(height),
            width: dim(width),
            groups: 0,
            tile_height: dim(height),
            tile_width: dim(quads),
            images_per_row: 0,
            offset: 0,
            texture_width: dim(texture_size[0]),
            threads: dim(texture_size[0] * texture_size[1]),
            batch: dim(batch),
            kernel: 0,
            stride: 0,
            pitch: 0,
        };
        Ok(PackedPositions { packing, texture_size, planes_per_row })
    }

    /// The dispatches packing `source` (none where a buffer loader reads it as it lies, a
    /// copy where a texture's rows can be copied from it), and the texels.
    fn pack(&self, gpu: &Gpu, storage: TexelStorage, source: &Tensor) -> Result<(Vec<Dispatch>, Texels)> {
        let [width, height] = self.texture_size;
        let lies_as_grid = self.packing.width.is_multiple_of(4);
        if lies_as_grid && storage == TexelStorage::Buffer {
            return Ok((Vec::new(), gpu.texels_of(source, width, height)?));
        }
        let texels = gpu.scratch_texels(storage, "conv2d positions", width, height)?;
        let copy = match lies_as_grid {
            true => gpu.copy_texels(&gpu.texels_of(source, width, height)?, &texels),
            false => None,
        };
        let dispatches = match copy {
            Some(copy) => vec![copy],
            None => pack(gpu, "pack_positions", &self.packing, &texels, source)?,
        };
        Ok((dispatches, texels))
    }

    /// Channel o's first texel: (o % k) P along the row, o / k rows down.
    fn channels(&self) -> TexelMap {
        let plane = (self.packing.tile_height * self.packing.tile_width) as usize;
        TexelMap::new([self.planes_per_row, WHOLE, WHOLE], [[plane, 0], [0, 1], [0, 0], [0, 0]])
    }

    /// Step s: positions 4s..4s+4 of the batch, (quad, row, image), image n O / k rows down.
    fn quads(&self) -> TexelMap {
        let p = &self.packing;
        let (quads, rows) = (p.tile_width as usize, p.tile_height as usize);
        let image_rows = p.channels as usize / self.planes_per_row;
        TexelMap::new([quads, rows, WHOLE], [[1, 0], [quads, 0], [0, image_rows], [0, 0]])
    }
}

crate::uniform! {
    /// The uniform block `WeightPacking` of shaders/conv2d.wgsl.
    #[derive(Debug)]
    pub(crate) struct WeightPacking {
        row_first: u32,
        row_taps: u32,
        column_first: u32,
        column_taps: u32,
        pitch: u32,
    }
}

/// The dispatches packing w as the GEMM's B, and the texels: for forward, or (`phase`
/// given) for that phase of backward_input.
fn pack_weights(
    gpu: &Gpu,
    storage: TexelStorage,
    shape: &Conv2dShape,
    w: &Tensor,
    phase: Option<[Taps; 2]>,
) -> Result<(Vec<Dispatch>, Texels)> {
    let (taps, [width, height]) = weight_grid(shape, phase);
    let texels = gpu.scratch_texels(storage, "conv2d weights", width, height)?;
    if taps == 0 {
        return Ok((Vec::new(), texels));
    }
    let [rows, columns] = phase.unwrap_or_default();
    let entry = if phase.is_some() { "pack_weights_transposed" } else { "pack_weights" };
    let kernel = gpu.kernel("conv2d", entry, &[])?;
    let params = params(gpu, shape);
    let dispatches = gpu.fill_texels(&texels, |packed| {
        let weight_packing = gpu.uniform(&WeightPacking {
            row_first: dim(rows.first),
            row_taps: dim(rows.count),
            column_first: dim(columns.first),
            column_taps: dim(columns.count),
            pitch: dim(packed.width()),
        });
        let bindings: &[(&str, &dyn Bindable)] =
            &[("params", &params), ("w", w), ("packed", packed), ("weight_packing", &weight_packing)];
        gpu.dispatch_1d(&kernel, bindings, width * height)
    })?;
    Ok((dispatches, texels))
}

/// The taps of the packed weights of forward (`phase` None) or of one backward_input
/// phase, and the size of their grid.
fn weight_grid(shape: &Conv2dShape, phase: Option<[Taps; 2]>) -> (usize, [usize; 2]) {
    let (filters, inputs, taps) = match phase {
        None => (shape.out_channels, shape.in_channels, shape.kernel * shape.kernel),
        Some([rows, columns]) => (shape.in_channels, shape.out_channels, rows.count * columns.count),
    };
    // A phase without taps packs nothing, but its GEMM (which writes zeros) needs a texture.
    (taps, [filters.div_ceil(4), (4 * inputs.div_ceil(4) * taps).max(1)])
}

/// One phase a (of S) along one axis of backward_input: the input rows ih = a + S i,
/// i < rows, whose taps kh = first + S t, t < count, read dy row oh = i + t' + shift with
/// t' = count - 1 - t.
#[derive(Clone, Copy, Debug, Default)]
struct Taps {
    phase: usize,
    rows: usize,
    first: usize,
    count: usize,
    shift: isize,
}

impl Taps {
    /// The S phases of an axis of `size` input rows.
    fn phases(size: usize, s: &Conv2dShape) -> Vec<Taps> {
        let (k, stride, padding) = (s.kernel, s.stride, s.padding);
        (0..stride)
            .map(|phase| {
                let first = (phase + padding) % stride;
                let count = if first < k { (k - first).div_ceil(stride) } else { 0 };
                let shift = ((phase + padding) / stride) as isize - count as isize + 1;
                Taps { phase, rows: size.saturating_sub(phase).div_ceil(stride), first, count, shift }
            })
            .collect()
    }
}

/// x packed for forward and backward_weight, and the shape its GEMMs compute: planes with
/// P rows and columns of zeros around; or, where an output position's channels times taps
/// fill at most K texels (one input channel of a 3x3 layer), its taps (`pack_taps`,
/// im2col), the layer then being a 1x1 convolution of its output positions over C K K
/// channels, whose weights [O, C K K] are w's memory as it lies: K times fewer steps for
/// the forward GEMM, and columns for the weight gradient's, than texels of four channels
/// of which three are zeros.
fn input_layout(gpu: &Gpu, s: &Conv2dShape) -> Result<(Conv2dShape, PackedImages)> {
    let taps = s.in_channels * s.kernel * s.kernel;
    if s.kernel == 1 || taps.div_ceil(4) > s.kernel {
        let tile = [s.height + 2 * s.padding, s.width + 2 * s.padding];
        return Ok((*s, PackedImages::new(gpu, s.input_shape(), tile, s.padding)?));
    }
    let columns = Conv2dShape {
        in_channels: taps,
        height: s.output_height(),
        width: s.output_width(),
        kernel: 1,
        stride: 1,
        padding: 0,
        ..*s
    };
    let mut images = PackedImages::new(gpu, columns.input_shape(), [columns.height, columns.width], 0)?;
    let [width, height] = images.texture_size;
    images.packing = Packing {
        channels: dim(s.in_channels),
        height: dim(s.height),
        width: dim(s.width),
        offset: s.padding as i32,
        kernel: dim(s.kernel),
        stride: dim(s.stride),
        // One invocation per position of each image's planes.
        threads: dim(width / images.packing.groups as usize * height),
        ..images.packing
    };
    images.entry = "pack_taps";
    Ok((columns, images))
}

/// Whether every grid `op` packs fits the adapter's texture size (the layouts are laid
/// out within it for either storage) and, in buffers, its binding size.
pub fn fits(gpu: &Gpu, s: &Conv2dShape, op: Product, loader: Loader) -> bool {
    let images = || input_layout(gpu, s).map(|(_, p)| p.texture_size);
    let sizes = match op {
        Product::Forward => vec![images(), Ok(weight_grid(s, None).1)],
        Product::BackwardWeight => vec![images(), PackedPositions::new(gpu, s.output_shape()).map(|p| p.texture_size)],
        Product::BackwardInput => {
            let plan = PhasePlan::new(s);
            let weights = plan.phases().into_iter().map(|phase| Ok(weight_grid(s, Some(phase)).1));
            std::iter::once(plan.packed(gpu, s).map(|p| p.texture_size)).chain(weights).collect()
        }
    };
    sizes.into_iter().all(|size| size.is_ok_and(|[width, height]| gpu.texels_fit(loader.storage(), width, height)))
}

/// y = conv(x, w) (the bias, if any, is the caller's): packs x into scratch, or with `keep`
/// into texels of its own that [`backward_weight_packed`] reads (packing nothing), then
/// the forward GEMM; the dispatches and the packed x.
pub fn forward(
    gpu: &Gpu,
    loader: Loader,
    s: &Conv2dShape,
    x: &Tensor,
    w: &Tensor,
    y: &Tensor,
    keep: bool,
) -> Result<(Vec<Dispatch>, Texels)> {
    let (s, images) = input_layout(gpu, s)?;
    let pack = if keep { PackedImages::pack_kept } else { PackedImages::pack };
    let (mut dispatches, a) = pack(&images, gpu, loader.storage(), x)?;
    dispatches.extend(forward_packed(gpu, loader, &s, &images, &a, w, y)?);
    Ok((dispatches, a))
}

/// The forward GEMM over x packed as `images` in `a`.
fn forward_packed(
    gpu: &Gpu,
    loader: Loader,
    s: &Conv2dShape,
    images: &PackedImages,
    a: &Texels,
    w: &Tensor,
    y: &Tensor,
) -> Result<Vec<Dispatch>> {
    let (mut dispatches, b) = pack_weights(gpu, loader.storage(), s, w, None)?;
    let [rows, columns] = [s.output_height(), s.output_width()];
    let plane = rows * columns;
    let layout = GemmLayout::new(
        s.batch * plane,
        s.out_channels,
        s.in_channels.div_ceil(4) * s.kernel * s.kernel,
        [images.positions([rows, columns], s.stride, s.stride), images.taps(s.kernel)],
        [IndexMap::new([columns, rows, WHOLE], [1, columns, s.out_channels * plane, 0]), IndexMap::linear(plane)],
    );
    dispatches.push(gemm::dispatch(gpu, loader, &layout, a, &b, y)?);
    Ok(dispatches)
}

/// backward_input's phases along both axes, and how dy is packed for all of them.
struct PhasePlan {
    rows: Vec<Taps>,
    columns: Vec<Taps>,
    /// dy's row and column 0 lie at this plane texel, so that every phase reads at >= 0.
    offset: usize,
    tile: [usize; 2],
}

impl PhasePlan {
    fn new(s: &Conv2dShape) -> PhasePlan {
        let (rows, columns) = (Taps::phases(s.height, s), Taps::phases(s.width, s));
        let with_taps = rows.iter().chain(&columns).filter(|t| t.count > 0);
        let offset = with_taps.map(|t| -t.shift).max().unwrap_or(0).max(0) as usize;
        // Phase reads reach row i + t' + shift for i < its rows, t' < its taps.
        let extent = |phases: &[Taps], size: usize| {
            let reads = phases.iter().filter(|t| t.count > 0 && t.rows > 0);
            reads.map(|t| (t.rows + t.count - 1) as isize + t.shift).max().unwrap_or(0).max(size as isize) as usize
                + offset
        };
        let tile = [extent(&rows, s.output_height()), extent(&columns, s.output_width())];
        PhasePlan { rows, columns, offset, tile }
    }

    fn packed(&self, gpu: &Gpu, s: &Conv2dShape) -> Result<PackedImages> {
        PackedImages::new(gpu, s.output_shape(), self.tile, self.offset)
    }

    /// The phases that compute some of dx: [rows, columns].
    fn phases(&self) -> Vec<[Taps; 2]> {
        let computing = |phases: &[Taps]| phases.iter().filter(|t| t.rows > 0).copied().collect::<Vec<_>>();
        let columns = computing(&self.columns);
        computing(&self.rows).into_iter().flat_map(|rows| columns.iter().map(move |&columns| [rows, columns])).collect()
    }
}

/// dx from dy, phase by phase (see the module documentation).
pub fn backward_input(
    gpu: &Gpu,
    loader: Loader,
    s: &Conv2dShape,
    w: &Tensor,
    dy: &Tensor,
    dx: &Tensor,
) -> Result<Vec<Dispatch>> {
    let plan = PhasePlan::new(s);
    let images = plan.packed(gpu, s)?;
    let (mut dispatches, a) = images.pack(gpu, loader.storage(), dy)?;
    let plane = s.height * s.width;
    for [rows, columns] in plan.phases() {
        let (pack_w, b) = pack_weights(gpu, loader.storage(), s, w, Some([rows, columns]))?;
        dispatches.extend(pack_w);
        let origin = |t: &Taps| (t.shift + plan.offset as isize).max(0) as usize;
        let positions = images.positions([rows.rows, columns.rows], 1, 1);
        let dx_positions =
            IndexMap::new([columns.rows, rows.rows, WHOLE], [s.stride, s.stride * s.width, s.in_channels * plane, 0]);
        let layout = GemmLayout::new(
            s.batch * rows.rows * columns.rows,
            s.in_channels,
            s.out_channels.div_ceil(4) * rows.count * columns.count,
            [positions.with_origin([origin(&columns), origin(&rows)]), images.taps(columns.count)],
            [dx_positions.with_origin(rows.phase * s.width + columns.phase), IndexMap::linear(plane)],
        );
        dispatches.push(gemm::dispatch(gpu, loader, &layout, &a, &b, dx)?);
    }
    Ok(dispatches)
}

/// dw from x and dy, summed over the batch and all output positions.
pub fn backward_weight(
    gpu: &Gpu,
    loader: Loader,
    s: &Conv2dShape,
    x: &Tensor,
    dy: &Tensor,
    dw: &Tensor,
) -> Result<Vec<Dispatch>> {
    let (mut dispatches, b) = input_layout(gpu, s)?.1.pack(gpu, loader.storage(), x)?;
    dispatches.extend(backward_weight_packed(gpu, loader, s, &b, dy, dw)?);
    Ok(dispatches)
}

/// [`backward_weight`] from x as [`forward`] with `keep` packed it into `b`.
pub fn backward_weight_packed(
    gpu: &Gpu,
    loader: Loader,
    s: &Conv2dShape,
    b: &Texels,
    dy: &Tensor,
    dw: &Tensor,
) -> Result<Vec<Dispatch>> {
    let (s, images) = input_layout(gpu, s)?;
    let s = &s;
    let positions = PackedPositions::new(gpu, s.output_shape())?;
    let (mut dispatches, a) = positions.pack(gpu, loader.storage(), dy)?;
    let kk = s.kernel * s.kernel;
    let channel_rows = 4 * s.in_channels.div_ceil(4);
    let quads = s.output_width().div_ceil(4);
    let steps = s.batch * s.output_height() * quads;
    // B is x packed, not a matrix: column group (taps, channel group), four positions a step.
    let layout = GemmLayout {
        n_inner: dim(s.in_channels),
        b_row_step: [dim(s.stride) as i32, 0],
        b_cols: images.taps(s.kernel),
        b_depth: images.positions([s.output_height(), quads], s.stride, 4 * s.stride),
        ..GemmLayout::new(
            s.out_channels,
            kk * channel_rows,
            steps,
            [positions.channels(), positions.quads()],
            // Column (tap, c) of C is dw[o, c, tap].
            [IndexMap::linear(s.in_channels * kk), IndexMap::new([channel_rows, WHOLE, WHOLE], [kk, 1, 0, 0])],
        )
    };
    dispatches.extend(gemm::split_k(gpu, loader, &layout, &a, b, dw)?);
    Ok(dispatches)
}

#[cfg(test)]
mod tests {
    use super::images_per_band;

    /// The fewest bands that hold the batch within `fitting` images each, filled evenly: no
    /// band is more than one image short of a full one's share.
    #[test]
    fn bands_are_fewest_and_even() {
        for batch in 1..300 {
            for fitting in 1..200 {
                let per_band = images_per_band(batch, fitting);
                let bands = batch.div_ceil(per_band);
                assert!(per_band <= fitting.min(batch), "{batch} images, {fitting} fit: {per_band} a band");
                assert_eq!(bands, batch.div_ceil(fitting), "{batch} images, {fitting} fit: {bands} bands");
                assert!(bands * per_band - batch < bands, "{batch} images, {fitting} fit: {per_band} a band");
            }
        }
    }
}

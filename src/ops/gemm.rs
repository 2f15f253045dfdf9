//! C = A B over packed operands (`shaders/gemm.wgsl`). Index maps say where each
//! operand's texels lie, so the same kernels compute the plain matrix product
//! ([`super::matmul`]), the linear layer ([`super::linear`]) and the convolutions as
//! implicit GEMMs over packed images ([`super::conv2d`]). Three loaders ([`Loader`]):
//! textures with a register block per invocation (CPU adapters), the same sharing B's
//! texels between the lanes of a subgroup (adapters with subgroups), or storage buffers
//! staged through workgroup memory in tiles (GPUs). Callers build layouts in texel
//! coordinates (x, y); [`dispatch`] flattens them for buffer operands.

use crate::gpu::{shader_constant, Bindable, Dispatch, Gpu, GpuError, Result, Tensor, TexelStorage, Texels};

use super::dim;

/// How the GEMM reads its operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loader {
    /// rgba32float textures, a ROWS x COLS block of C per invocation.
    Texture,
    /// As `Texture`, each of a subgroup's lanes loading one column group's texels of B
    /// for its neighbours (shaders/gemm_subgroup.wgsl); adapters with SUBGROUP only.
    Subgroup,
    /// Storage buffers of texels through workgroup memory: tiles of 8 x `thread_rows`
    /// rows and 8 x (64 / `thread_rows`) columns (`thread_rows` 8 or 16).
    Tiled { thread_rows: usize },
}

impl Loader {
    /// Every loader, the tile shapes a measurement chooses between included.
    pub const ALL: [Loader; 4] =
        [Loader::Texture, Loader::Subgroup, Loader::Tiled { thread_rows: 8 }, Loader::Tiled { thread_rows: 16 }];

    /// The loaders `gpu` can run: all but `Subgroup` where it lacks subgroups.
    pub fn available(gpu: &Gpu) -> Vec<Loader> {
        Loader::ALL.into_iter().filter(|&loader| loader != Loader::Subgroup || gpu.has_subgroups()).collect()
    }

    /// Where this loader's operands lie.
    pub fn storage(self) -> TexelStorage {
        match self {
            Loader::Texture | Loader::Subgroup => TexelStorage::Texture,
            Loader::Tiled { .. } => TexelStorage::Buffer,
        }
    }

    /// "texture", "subgroup", or "tiled 64x64" (rows x columns of a tile).
    pub fn name(self) -> String {
        match self {
            Loader::Texture => "texture".into(),
            Loader::Subgroup => "subgroup".into(),
            Loader::Tiled { thread_rows } => format!("tiled {}x{}", 8 * thread_rows, 8 * (64 / thread_rows)),
        }
    }
}

/// Rows and columns of C per invocation: the wide block ROWS x COLS of shaders/gemm.wgsl,
/// and the narrow one (WIDE = false: twice the rows, half the columns) that the shader
/// uses for C of at most COLS / 2 columns.
pub fn block_shapes() -> Result<[[usize; 2]; 2]> {
    let [rows, columns] = [shader_constant("gemm", "ROWS")?, shader_constant("gemm", "COLS")?];
    Ok([[rows, columns], [2 * rows, columns / 2]])
}

/// A radix no index reaches: the digit is the whole index.
pub const WHOLE: usize = u32::MAX as usize;

crate::uniform! {
    /// Index i to texel: its mixed-radix digits d0 = i % r0, d1 = i / r0 % r1,
    /// d2 = i / (r0 r1) % r2, d3 = i / (r0 r1 r2), each times its coefficient, summed, plus
    /// an origin.
    #[derive(Debug)]
    pub struct TexelMap {
        radix: [u32; 4],
        origin: [i32; 2],
        /// The coefficient of each digit (c0..c3: a uniform array of vec2 would need
        /// a 16-byte stride).
        c0: [i32; 2],
        c1: [i32; 2],
        c2: [i32; 2],
        c3: [i32; 2],
        /// WGSL rounds the struct up to a multiple of 16 bytes.
        _pad: [i32; 2],
    }
}

impl TexelMap {
    pub fn new(radix: [usize; 3], coefficients: [[usize; 2]; 4]) -> TexelMap {
        let [c0, c1, c2, c3] = coefficients.map(|[x, y]| [dim(x) as i32, dim(y) as i32]);
        TexelMap {
            radix: [dim(radix[0]), dim(radix[1]), dim(radix[2]), 0],
            origin: [0; 2],
            c0,
            c1,
            c2,
            c3,
            _pad: [0; 2],
        }
    }

    pub fn with_origin(self, [x, y]: [usize; 2]) -> TexelMap {
        TexelMap { origin: [dim(x) as i32, dim(y) as i32], ..self }
    }

    /// i to i * (x, y).
    pub fn linear(x: usize, y: usize) -> TexelMap {
        TexelMap::new([WHOLE; 3], [[x, y], [0; 2], [0; 2], [0; 2]])
    }

    /// The same map onto texel indices of a buffer `width` texels wide: (x, y) to
    /// (x + y * width, 0).
    fn flattened(self, width: usize) -> TexelMap {
        let flat = |[x, y]: [i32; 2]| [x + y * width as i32, 0];
        TexelMap {
            origin: flat(self.origin),
            c0: flat(self.c0),
            c1: flat(self.c1),
            c2: flat(self.c2),
            c3: flat(self.c3),
            ..self
        }
    }
}

crate::uniform! {
    /// Index i to an element offset of C: the same digits as [`TexelMap`], scalar
    /// coefficients. The shader steps four consecutive columns along digit 0, so for
    /// columns its radix must be a multiple of 4.
    #[derive(Debug)]
    pub struct IndexMap {
        radix: [u32; 4],
        coefficient: [u32; 4],
        origin: u32,
        /// WGSL rounds the struct up to a multiple of 16 bytes.
        _pad: [u32; 3],
    }
}

impl IndexMap {
    pub fn new(radix: [usize; 3], coefficients: [usize; 4]) -> IndexMap {
        IndexMap {
            radix: [dim(radix[0]), dim(radix[1]), dim(radix[2]), 0],
            coefficient: coefficients.map(dim),
            origin: 0,
            _pad: [0; 3],
        }
    }

    pub fn with_origin(self, origin: usize) -> IndexMap {
        IndexMap { origin: dim(origin), ..self }
    }

    /// i to i * stride.
    pub fn linear(stride: usize) -> IndexMap {
        IndexMap::new([WHOLE; 3], [stride, 0, 0, 0])
    }

    /// Whether every four indices from a multiple of 4 lie at four consecutive elements, the
    /// first a multiple of 4. Digits whose coefficient continues the digits below (1 for
    /// digit 0, then the radices below multiplied) count as one digit whose radix is the
    /// product; four aligned indices stay within it once that product is a multiple of 4
    /// or it never wraps.
    fn quads(&self) -> bool {
        let mut run = 1u64;
        for digit in 0..4 {
            if u64::from(self.coefficient[digit]) != run {
                return false;
            }
            let radix = if digit < 3 { self.radix[digit] } else { u32::MAX };
            if radix == u32::MAX {
                return self.origin.is_multiple_of(4);
            }
            run *= u64::from(radix);
            if run.is_multiple_of(4) {
                return self.origin.is_multiple_of(4)
                    && self.coefficient[digit + 1..].iter().all(|c| c.is_multiple_of(4));
            }
        }
        unreachable!("digit 3 never wraps")
    }

    /// Whether every index lies at a multiple of 4.
    fn aligned(&self) -> bool {
        self.origin.is_multiple_of(4) && self.coefficient.iter().all(|c| c.is_multiple_of(4))
    }
}

crate::uniform! {
    /// Where everything lies; see shaders/gemm.wgsl. The uniform block, field order matters.
    #[derive(Debug)]
    pub struct GemmLayout {
        pub m: u32,
        pub n: u32,
        /// K / 4: the reduction's steps, each one texel of A per row.
        pub steps: u32,
        /// C[m, n] is stored only where digit 0 of n (in `c_cols`) is below this: the valid
        /// channels of a padded channel group.
        pub n_inner: u32,
        /// Texel offset between the four B rows of a step.
        pub b_row_step: [i32; 2],
        /// Split K: steps per chunk ([`split_k`] sets it; `steps` for one chunk) ...
        pub chunk_steps: u32,
        /// ... and the element offset of each chunk's sums past the previous chunk's.
        pub chunk_stride: u32,
        pub a_rows: TexelMap,
        pub a_depth: TexelMap,
        pub b_cols: TexelMap,
        pub b_depth: TexelMap,
        pub c_rows: IndexMap,
        pub c_cols: IndexMap,
    }
}

impl GemmLayout {
    /// A product of `steps` steps whose A lies where `a_rows` (row m) plus `a_depth` (step)
    /// say and whose C elements lie where `c_rows` plus `c_cols` say; B is a row-major
    /// matrix in texels (n/4, k), as `matrices` and the convolutions' packed weights hold
    /// it; every column is stored; one chunk.
    pub fn new(
        m: usize,
        n: usize,
        steps: usize,
        [a_rows, a_depth]: [TexelMap; 2],
        [c_rows, c_cols]: [IndexMap; 2],
    ) -> GemmLayout {
        GemmLayout {
            m: dim(m),
            n: dim(n),
            steps: dim(steps),
            n_inner: dim(WHOLE),
            b_row_step: [0, 1],
            chunk_steps: dim(steps),
            chunk_stride: 0,
            a_rows,
            a_depth,
            b_cols: TexelMap::linear(1, 0),
            b_depth: TexelMap::linear(0, 4),
            c_rows,
            c_cols,
        }
    }

    /// Row-major matrices: A texel (k/4, m), B texel (n/4, k), C [M, N].
    pub fn matrices(m: usize, k4: usize, n: usize) -> GemmLayout {
        let a = [TexelMap::linear(0, 1), TexelMap::linear(1, 0)];
        GemmLayout::new(m, n, k4, a, [IndexMap::linear(n), IndexMap::linear(1)])
    }

    /// Whether C can be stored four rows at once (`ROW_QUADS` in shaders/gemm.wgsl): every
    /// four rows from a multiple of 4 at four consecutive elements of every column, the
    /// first a multiple of 4.
    fn row_quads(&self) -> bool {
        self.m.is_multiple_of(4) && self.chunk_stride.is_multiple_of(4) && self.c_rows.quads() && self.c_cols.aligned()
    }

    /// Whether C can be stored four columns at once (`COLUMN_QUADS`): every four columns
    /// from a multiple of 4 at four consecutive elements of every row, the first a multiple
    /// of 4, and stored all four or none.
    fn column_quads(&self) -> bool {
        let whole_groups = self.n.is_multiple_of(4) && (self.n_inner == dim(WHOLE) || self.n_inner.is_multiple_of(4));
        whole_groups && self.chunk_stride.is_multiple_of(4) && self.c_cols.quads() && self.c_rows.aligned()
    }

    /// The shader's store constants for this layout: four rows at once where C allows,
    /// else four columns where it allows that.
    fn store_constants(&self) -> [(&'static str, f64); 2] {
        let rows = self.row_quads();
        let columns = !rows && self.column_quads();
        [("ROW_QUADS", f64::from(u8::from(rows))), ("COLUMN_QUADS", f64::from(u8::from(columns)))]
    }

    /// The layout for operands in buffers of texels, A `a_width` and B `b_width` wide.
    fn flattened(&self, a_width: usize, b_width: usize) -> GemmLayout {
        let [x, y] = self.b_row_step;
        GemmLayout {
            a_rows: self.a_rows.flattened(a_width),
            a_depth: self.a_depth.flattened(a_width),
            b_cols: self.b_cols.flattened(b_width),
            b_depth: self.b_depth.flattened(b_width),
            b_row_step: [x + y * b_width as i32, 0],
            ..*self
        }
    }
}

crate::uniform! {
    /// The uniform block `MatrixPacking` of shaders/gemm.wgsl.
    pub(crate) struct MatrixPacking {
        rows: u32,
        columns: u32,
        row_stride: u32,
        column_stride: u32,
        width: u32,
        texels: u32,
        pitch: u32,
    }
}

/// A matrix to pack as a GEMM operand: `rows` x `columns` elements of a tensor, element
/// (r, c) at r * strides[0] + c * strides[1] (a transposed read is a choice of strides).
#[derive(Clone, Copy, Debug)]
pub struct MatrixView {
    pub rows: usize,
    pub columns: usize,
    pub strides: [usize; 2],
}

impl MatrixView {
    /// A row-major `rows` x `columns` matrix.
    pub fn rows(rows: usize, columns: usize) -> MatrixView {
        MatrixView { rows, columns, strides: [columns, 1] }
    }

    /// The transpose of a row-major `columns` x `rows` matrix.
    pub fn transposed(rows: usize, columns: usize) -> MatrixView {
        MatrixView { rows, columns, strides: [1, rows] }
    }
}

/// The dispatches packing `view` of `source` into scratch texels of `storage` (texel (q, r)
/// = elements (r, 4q..4q+4), zeros beyond the matrix) with `height` texel rows (at least
/// the matrix's rows: a B operand has whole texels of K), and the texels.
pub fn pack_matrix(
    gpu: &Gpu,
    storage: TexelStorage,
    role: &'static str,
    source: &Tensor,
    view: MatrixView,
    height: usize,
) -> Result<(Vec<Dispatch>, Texels)> {
    let width = view.columns.div_ceil(4);
    let texels = gpu.scratch_texels(storage, role, width, height)?;
    let kernel = gpu.kernel("gemm", "pack_matrix", &[])?;
    let dispatches = gpu.fill_texels(&texels, |packed| {
        let uniform = gpu.uniform(&MatrixPacking {
            rows: dim(view.rows),
            columns: dim(view.columns),
            row_stride: dim(view.strides[0]),
            column_stride: dim(view.strides[1]),
            width: dim(width),
            texels: dim(width * height),
            pitch: dim(packed.width()),
        });
        let bindings: &[(&str, &dyn Bindable)] = &[("matrix", &uniform), ("source", source), ("packed", packed)];
        gpu.dispatch_1d(&kernel, bindings, width * height)
    })?;
    Ok((dispatches, texels))
}

/// C [M, N] = A [M, K] B [K, N] from two matrix views of tensors, packed with `loader`'s
/// storage (roles name the scratch texels); split over K when `split` says.
pub fn matrix_product(
    gpu: &Gpu,
    loader: Loader,
    roles: [&'static str; 2],
    (a, a_view): (&Tensor, MatrixView),
    (b, b_view): (&Tensor, MatrixView),
    c: &Tensor,
    split: bool,
) -> Result<Vec<Dispatch>> {
    let k4 = a_view.columns.div_ceil(4);
    let (pack_a, a_texels) = pack_matrix(gpu, loader.storage(), roles[0], a, a_view, a_view.rows)?;
    let (pack_b, b_texels) = pack_matrix(gpu, loader.storage(), roles[1], b, b_view, 4 * k4)?;
    let layout = GemmLayout::matrices(a_view.rows, k4, b_view.columns);
    let mut dispatches = [pack_a, pack_b].concat();
    if split {
        dispatches.extend(split_k(gpu, loader, &layout, &a_texels, &b_texels, c)?);
    } else {
        dispatches.push(dispatch(gpu, loader, &layout, &a_texels, &b_texels, c)?);
    }
    Ok(dispatches)
}

/// Whether `matrix_product`'s packed operands of the given views fit the adapter.
pub fn matrices_fit(gpu: &Gpu, loader: Loader, a_view: MatrixView, b_view: MatrixView) -> bool {
    let k4 = a_view.columns.div_ceil(4);
    let grids = [[k4, a_view.rows], [b_view.columns.div_ceil(4), 4 * k4]];
    grids.iter().all(|&[width, height]| gpu.texels_fit(loader.storage(), width, height))
}

/// Invocations a split-K product aims for: enough for every SIMD lane of a many-core CPU.
const SPLIT_INVOCATIONS: usize = 1024;
/// Steps a chunk keeps at least, so that its per-invocation set-up stays negligible.
const MIN_CHUNK_STEPS: usize = 64;

crate::uniform! {
    /// The uniform block `Chunks` of shaders/gemm.wgsl.
    pub(crate) struct Chunks {
        elements: u32,
        count: u32,
    }
}

/// The subgroup loader's lane group for `row_blocks` row blocks: the most lanes (a power
/// of two, at most `lanes`) whose whole groups pad the row blocks by at most a quarter.
/// Padding 4 row blocks to 8 (as 32-channel weight gradients' split-K products would
/// be) ran them at half the texture loader's speed on lavapipe; groups of 4 share B.
fn lane_group(row_blocks: usize, lanes: usize) -> usize {
    let padding = |group: usize| row_blocks.next_multiple_of(group) - row_blocks;
    let mut group = 1 << lanes.ilog2();
    while group > 1 && 4 * padding(group) > row_blocks {
        group /= 2;
    }
    group
}

/// A texture loader's shader and grid: its blocks of C (row blocks in whole `quantum`s,
/// ROW_QUANTUM of shaders/include/gemm_texture.wgsl), the quantum, and whether the blocks
/// are the wide ones.
struct TextureBlocks {
    shader: &'static str,
    blocks: usize,
    quantum: usize,
    wide: bool,
}

fn texture_blocks(layout: &GemmLayout, loader: Loader) -> Result<TextureBlocks> {
    let [wide_block, narrow_block] = block_shapes()?;
    let wide = layout.n as usize > narrow_block[1];
    let [rows, columns] = if wide { wide_block } else { narrow_block };
    let row_blocks = (layout.m as usize).div_ceil(rows);
    let (shader, quantum) = match loader {
        Loader::Subgroup => ("gemm_subgroup", lane_group(row_blocks, shader_constant("gemm_subgroup", "LANES")?)),
        _ => ("gemm", 1),
    };
    let blocks = row_blocks.div_ceil(quantum) * quantum * (layout.n as usize).div_ceil(columns);
    Ok(TextureBlocks { shader, blocks, quantum, wide })
}

/// The entry points that multiply: the texture loaders' (shaders/gemm.wgsl and
/// shaders/gemm_subgroup.wgsl) and the tiled one (shaders/gemm.wgsl).
const TEXTURE_ENTRY: &str = "gemm";
const TILED_ENTRY: &str = "gemm_tiled";

/// Whether `dispatch` is a GEMM's product, not one of its packs, copies or chunk sums.
pub fn is_product(dispatch: &Dispatch) -> bool {
    let entry = dispatch.kernel().and_then(|kernel| kernel.name().rsplit("::").next());
    entry.is_some_and(|entry| entry == TEXTURE_ENTRY || entry == TILED_ENTRY)
}

/// Tiles of C a tiled workgroup computes.
fn tiles(layout: &GemmLayout, thread_rows: usize) -> Result<usize> {
    let workgroup = shader_constant("gemm", "WORKGROUP")?;
    let [rows, columns] = [8 * thread_rows, 8 * (workgroup / thread_rows)];
    Ok((layout.m as usize).div_ceil(rows) * (layout.n as usize).div_ceil(columns))
}

/// The dispatch computing C (a buffer of f32 the maps index) from `a` and `b` with
/// `loader` (whose storage they must have), each chunk of `layout` into its own part of `c`.
pub fn dispatch(
    gpu: &Gpu,
    loader: Loader,
    layout: &GemmLayout,
    a: &Texels,
    b: &Texels,
    c: &Tensor,
) -> Result<Dispatch> {
    if [a, b].iter().any(|texels| texels.storage() != loader.storage()) {
        return Err(GpuError::shape(format!(
            "gemm: the {} loader reads {:?} operands",
            loader.name(),
            loader.storage()
        )));
    }
    let chunks = (layout.steps as usize).div_ceil(layout.chunk_steps.max(1) as usize).max(1);
    match loader {
        Loader::Texture | Loader::Subgroup => {
            let TextureBlocks { shader, blocks, quantum, wide } = texture_blocks(layout, loader)?;
            let constants = [("WIDE", f64::from(u8::from(wide))), ("ROW_QUANTUM", quantum as f64)];
            let [rows, columns] = layout.store_constants();
            let kernel = gpu.kernel(shader, TEXTURE_ENTRY, &[constants[0], constants[1], rows, columns])?;
            let params = gpu.uniform(layout);
            let bindings: &[(&str, &dyn Bindable)] = &[("params", &params), ("a", a), ("b", b), ("c", c), ("c4", c)];
            gpu.dispatch(&kernel, bindings, kernel.grid_1d(blocks * chunks))
        }
        Loader::Tiled { thread_rows } => {
            let [rows, columns] = layout.store_constants();
            let kernel = gpu.kernel("gemm", TILED_ENTRY, &[("THREAD_ROWS", thread_rows as f64), rows, columns])?;
            let params = gpu.uniform(&layout.flattened(a.width(), b.width()));
            let bindings: &[(&str, &dyn Bindable)] =
                &[("params", &params), ("a_texels", a), ("b_texels", b), ("c", c), ("c4", c)];
            let workgroup = kernel.workgroup_size()[0] as usize;
            gpu.dispatch(&kernel, bindings, kernel.grid_1d(tiles(layout, thread_rows)? * chunks * workgroup))
        }
    }
}

/// C for products with few blocks of C but a long reduction (a weight gradient sums over
/// every position of the batch): K is split into chunks reduced in parallel into a
/// scratch buffer, then added into `c` ([C's elements]). Two dispatches.
pub fn split_k(
    gpu: &Gpu,
    loader: Loader,
    layout: &GemmLayout,
    a: &Texels,
    b: &Texels,
    c: &Tensor,
) -> Result<Vec<Dispatch>> {
    let blocks = match loader {
        Loader::Texture | Loader::Subgroup => texture_blocks(layout, loader)?.blocks,
        Loader::Tiled { thread_rows } => tiles(layout, thread_rows)? * shader_constant("gemm", "WORKGROUP")?,
    };
    let steps = layout.steps as usize;
    let chunks = SPLIT_INVOCATIONS.div_ceil(blocks).min(steps.div_ceil(MIN_CHUNK_STEPS)).max(1);
    let chunk_steps = steps.div_ceil(chunks);
    let chunks = steps.div_ceil(chunk_steps);
    let split = GemmLayout { chunk_steps: dim(chunk_steps), chunk_stride: dim(c.len()), ..*layout };
    let partial_sums = gpu.zeros(&[chunks, c.len()])?;
    let product = dispatch(gpu, loader, &split, a, b, &partial_sums)?;
    let kernel = gpu.kernel("gemm", "sum_chunks", &[])?;
    let uniform = gpu.uniform(&Chunks { elements: dim(c.len()), count: dim(chunks) });
    let bindings: &[(&str, &dyn Bindable)] = &[("chunks", &uniform), ("partial_sums", &partial_sums), ("total", c)];
    Ok(vec![product, gpu.dispatch_1d(&kernel, bindings, c.len())?])
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::{lane_group, IndexMap, WHOLE};

    /// The lane group is the largest power of two within the lanes whose padding adds at
    /// most a quarter of the row blocks; the padding is what `block_at` adds.
    #[test]
    fn lane_groups_pad_by_at_most_a_quarter() {
        let padding = |blocks: usize, group: usize| blocks.next_multiple_of(group) - blocks;
        for lanes in [1, 4, 8, 12] {
            for blocks in 1..200 {
                let group = lane_group(blocks, lanes);
                assert!(group.is_power_of_two() && group <= lanes, "{blocks} blocks, {lanes} lanes: {group}");
                assert!(4 * padding(blocks, group) <= blocks, "{blocks} blocks: groups of {group}");
                let larger = 2 * group;
                assert!(
                    larger > lanes || 4 * padding(blocks, larger) > blocks,
                    "{blocks} blocks: {larger} lanes pad little too"
                );
            }
        }
        assert_eq!([4, 36, 2, 5, 1].map(|blocks| lane_group(blocks, 8)), [4, 8, 2, 2, 1]);
    }

    /// The element index i maps to, digit by digit as shaders/gemm.wgsl computes it.
    fn element(map: &IndexMap, i: u64) -> u64 {
        let [r0, r1, r2] = [0, 1, 2].map(|d| u64::from(map.radix[d]));
        let digits = [i % r0, i / r0 % r1, i / (r0 * r1) % r2, i / (r0 * r1 * r2)];
        u64::from(map.origin) + digits.iter().zip(map.coefficient).map(|(d, c)| d * u64::from(c)).sum::<u64>()
    }

    /// Whether every aligned four of indices below `limit` lie at four consecutive elements
    /// from a multiple of 4, by trying them.
    fn quads_by_trial(map: &IndexMap, limit: u64) -> bool {
        (0..limit)
            .step_by(4)
            .all(|g| element(map, g).is_multiple_of(4) && (1..4).all(|i| element(map, g + i) == element(map, g) + i))
    }

    /// `quads` says what trying every index says, for maps of radices 2 to 9 (indices up to
    /// twice the product of the radices reach every digit, so every wrap is tried), and for
    /// a convolution's output positions: whole planes of a multiple of 4 positions.
    #[test]
    fn quads_are_what_trying_every_index_finds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut found = 0;
        for _ in 0..20_000 {
            let radix: [usize; 3] = std::array::from_fn(|_| rng.random_range(2..10));
            // Coefficients near the products of the radices below, where runs continue.
            let runs = [1, radix[0], radix[0] * radix[1], radix[0] * radix[1] * radix[2]];
            let coefficients =
                runs.map(
                    |run| if rng.random_bool(0.6) { run } else { rng.random_range(0..4) * 4 + rng.random_range(0..2) },
                );
            let map =
                IndexMap::new(radix, coefficients).with_origin(rng.random_range(0..3) * 4 + rng.random_range(0..2) * 2);
            let limit = 2 * runs[3] as u64 + 8;
            assert_eq!(map.quads(), quads_by_trial(&map, limit), "{map:?}");
            found += usize::from(map.quads());
        }
        assert!(found > 1000, "only {found} maps had quads: the test draws too few");
        let positions =
            |rows: usize, columns: usize| IndexMap::new([columns, rows, WHOLE], [1, columns, 16 * rows * columns, 0]);
        assert!(positions(28, 28).quads() && positions(14, 14).quads() && positions(3, 4).quads());
        assert!(!positions(7, 7).quads() && !positions(5, 9).quads());
        assert!(
            IndexMap::linear(1).quads() && !IndexMap::linear(1).with_origin(2).quads() && !IndexMap::linear(2).quads()
        );
    }
}

use sturdy::gpu::Tensor;
use sturdy::ops::conv2d::{self, Conv2dShape};
use sturdy::ops::gemm::Loader;
use sturdy::ops::variants::{Product, Variant};
use sturdy::reference::conv2d as reference;

use crate::harness::*;

// Error bounds. Every output of these kernels is a sum of `terms` products (or plain
// values, for db), added in some order. For any order, the f32 result is within
// sum_bound(terms) * sum_i |term_i| of the exact sum (Higham, Thm 3.1 and §4.2, first
// order). The same kernel run on |x|, |w|, |dy| gives sum_i |term_i| for every element,
// so ||gpu - exact|| <= sum_bound(terms) * ||abs_result||: relative to ||exact||, that is
// sum_bound(terms) * ||abs_result|| / ||exact||, computed per case by `bound`.
// SAFETY = 2 covers the second-order part of that bound (terms * u is below 1e-3 here, so
// it adds under 0.1%) and the f64 reference's own rounding (about 1e-16 relative): both
// are far below a factor of 2, while an indexing bug gives relative errors of order 1.
const SAFETY: f64 = 2.0;

// Finite differences of L = <forward(x, w, b), r>: L is linear in each of x, w and b, so
// central differences have no truncation error, only f64 rounding of about
// 1e-16 * |L| / STEP (|L| is below 1e3 here), far below this bound.
const STEP: f64 = 0.5;
const FINITE_DIFFERENCE_ERROR: f64 = 1e-10;

#[allow(clippy::too_many_arguments)]
fn conv(
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Conv2dShape {
    Conv2dShape { batch, in_channels, out_channels, height, width, kernel, stride, padding }
}

/// Odd shapes: batch 1 and 5, 3 channels, 7x5 images, stride 2 on odd sizes, the 1x1
/// stride-2 shortcut, padding 0 and 1, 5x5 and even kernels, output-channel counts that
/// are not multiples of 4, reductions longer than one workgroup (765 terms), and channel
/// counts above 16 (the texture GEMM's full-width blocks; 16 or fewer take half-width ones).
fn shapes() -> Vec<Conv2dShape> {
    vec![
        conv(2, 5, 20, 6, 5, 3, 1, 1),
        conv(1, 18, 21, 5, 4, 3, 2, 1),
        conv(1, 3, 4, 7, 5, 3, 1, 1),
        conv(5, 3, 5, 7, 5, 3, 2, 1),
        conv(5, 3, 6, 7, 5, 1, 2, 0),
        conv(2, 5, 3, 7, 5, 3, 1, 0),
        conv(1, 2, 7, 9, 9, 3, 2, 0),
        conv(3, 4, 9, 17, 15, 3, 1, 1),
        conv(2, 3, 2, 8, 6, 5, 2, 2),
        conv(2, 3, 3, 6, 7, 2, 2, 1),
        conv(1, 1, 1, 1, 1, 1, 1, 0),
        // More rows and columns than one tile of the tiled GEMM (128 x 32 and 64 x 64).
        conv(2, 9, 70, 9, 11, 3, 1, 1),
        // Rows of a multiple of 4 values with paddings 1, 2, 0 and 3: every shift of a
        // packed plane's texels against the source's fours.
        conv(2, 5, 6, 5, 8, 3, 1, 1),
        conv(1, 3, 4, 5, 12, 5, 1, 2),
        conv(2, 6, 5, 6, 8, 3, 2, 0),
        conv(1, 2, 3, 7, 8, 7, 1, 3),
        // One input channel: the GEMMs read the taps (im2col), with strides 1 and 2, a
        // 4x4 kernel (16 taps in 4 texels), padding 0 and 1.
        conv(2, 1, 5, 7, 9, 3, 1, 1),
        conv(3, 1, 4, 9, 8, 3, 2, 0),
        conv(2, 1, 3, 7, 6, 4, 2, 1),
        // Planes of a multiple of 4 positions, which the texture GEMM stores four rows at a
        // time: full-width blocks with a partial column group (20 and 33 outputs), a last
        // block with four rows of eight (12 positions), and backward_input's 20 channels.
        conv(1, 5, 20, 6, 2, 3, 1, 1),
        conv(2, 7, 33, 4, 4, 3, 1, 1),
        conv(2, 20, 6, 4, 6, 3, 1, 1),
        // dy's rows whole fours and its positions' texture rows (5 planes of 16 texels) as
        // a copy into a texture wants them: the weight gradient's dy is copied as it lies.
        conv(2, 3, 5, 8, 8, 3, 1, 1),
    ]
}

const TEXTURE: Variant = Variant::Gemm(Loader::Texture);

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|a| a.abs()).collect()
}

/// The relative error bound for a result whose elements are sums of `terms` terms; see SAFETY.
fn bound(terms: usize, abs_result: &[f64], exact: &[f64]) -> f64 {
    SAFETY * sum_bound(terms) * norm(abs_result) / norm(exact)
}

fn output_positions(s: &Conv2dShape) -> usize {
    s.batch * s.output_height() * s.output_width()
}

/// Random x, w, b and dy (all in [-1, 1)) for one geometry, on the GPU and in f64.
struct Inputs {
    x: (Tensor, Vec<f64>),
    w: (Tensor, Vec<f64>),
    b: (Tensor, Vec<f64>),
    dy: (Tensor, Vec<f64>),
}

impl Inputs {
    fn new(case: &mut Case, s: &Conv2dShape) -> Inputs {
        Inputs {
            x: case.tensor(&s.input_shape(), -1.0, 1.0),
            w: case.tensor(&s.weight_shape(), -1.0, 1.0),
            b: case.tensor(&s.bias_shape(), -1.0, 1.0),
            dy: case.tensor(&s.output_shape(), -1.0, 1.0),
        }
    }
}

fn check_forward(s: &Conv2dShape, variant: Variant, with_bias: bool) {
    let mut case = Case::new(format!("conv2d forward {variant:?} {s:?} bias={with_bias}"));
    let t = Inputs::new(&mut case, s);
    let y = poisoned(&s.output_shape());
    let b = with_bias.then_some(&t.b.0);
    let forward = conv2d::forward(gpu(), variant, s, &t.x.0, &t.w.0, b, &y).unwrap();
    let b_ref = with_bias.then_some(&t.b.1[..]);
    let expected = reference::forward(s, &t.x.1, &t.w.1, b_ref);
    let abs_b = abs(&t.b.1);
    let abs_result = reference::forward(s, &abs(&t.x.1), &abs(&t.w.1), with_bias.then_some(&abs_b[..]));
    let terms = s.in_channels * s.kernel * s.kernel + usize::from(with_bias);
    let forward: Vec<_> = forward.iter().collect();
    assert_close(&case, "y", &run_and_read(&forward, &y), &expected, bound(terms, &abs_result, &expected));
}

fn check_backward_input(case: &Case, s: &Conv2dShape, variant: Variant, t: &Inputs) {
    let dx = poisoned(&s.input_shape());
    gpu().run(&conv2d::backward_input(gpu(), variant, s, &t.w.0, &t.dy.0, &dx).unwrap()).unwrap();
    // Each dx element sums at most O*K*K taps (fewer with stride or near borders).
    let expected = reference::backward_input(s, &t.w.1, &t.dy.1);
    let terms = s.out_channels * s.kernel * s.kernel;
    let limit = bound(terms, &reference::backward_input(s, &abs(&t.w.1), &abs(&t.dy.1)), &expected);
    assert_close(case, &format!("dx ({variant:?})"), &read(&dx), &expected, limit);
}

fn check_backward_weight(case: &Case, s: &Conv2dShape, variant: Variant, t: &Inputs) {
    check_backward_weight_within(case, s, variant, t, sum_bound);
}

/// backward_weight against the reference within `sum_bound` for sums of N*OH*OW terms (one
/// product per output position).
fn check_backward_weight_within(
    case: &Case,
    s: &Conv2dShape,
    variant: Variant,
    t: &Inputs,
    sum_bound: fn(usize) -> f64,
) {
    let dw = poisoned(&s.weight_shape());
    gpu().run(&conv2d::backward_weight(gpu(), variant, s, &t.x.0, &t.dy.0, &dw).unwrap()).unwrap();
    let expected = reference::backward_weight(s, &t.x.1, &t.dy.1);
    let magnitude = reference::backward_weight(s, &abs(&t.x.1), &abs(&t.dy.1));
    let limit = SAFETY * sum_bound(output_positions(s)) * norm(&magnitude) / norm(&expected);
    assert_close(case, &format!("dw ({variant:?})"), &read(&dw), &expected, limit);
}

fn check_backward_bias(case: &Case, s: &Conv2dShape, t: &Inputs) {
    let db = poisoned(&s.bias_shape());
    let expected = reference::backward_bias(s, &t.dy.1);
    let limit = bound(output_positions(s), &reference::backward_bias(s, &abs(&t.dy.1)), &expected);
    let backward = conv2d::backward_bias(gpu(), s, &t.dy.0, &db).unwrap();
    assert_close(case, "db", &run_and_read(&[&backward], &db), &expected, limit);
}

#[test]
fn forward_matches_reference_with_and_without_bias() {
    for s in shapes() {
        for variant in Variant::all(gpu()) {
            for with_bias in [false, true] {
                check_forward(&s, variant, with_bias);
            }
        }
    }
}

/// A 4000-pixel-wide image of 8 channels packs 2 x 4002 texels wide, so a texture holds
/// at most two images per band of rows (one under 16384 texels per dimension): 3 images take
/// several bands, which the positions' image digits must address. Its dy of 9 rows packs
/// 9 x 1000 texels a plane, one plane per texture row of the weight gradient's operand; a
/// 2800-pixel-wide dy of 6 channels, 9 x 700, two (6300 texels each, 2 dividing 6), so that
/// both digits of a channel's place are used. dw sums up to 108,000 terms, so it is held
/// to the probabilistic bound: the worst case exceeds 1 there.
#[test]
fn gemm_packs_images_onto_several_bands() {
    for s in [conv(3, 8, 5, 9, 4000, 3, 1, 1), conv(2, 3, 6, 9, 2800, 3, 1, 1)] {
        let mut case = Case::new(format!("conv2d backward_input over bands {s:?}"));
        let t = Inputs::new(&mut case, &s);
        for variant in Loader::available(gpu()).into_iter().map(Variant::Gemm) {
            check_forward(&s, variant, false);
            check_backward_input(&case, &s, variant, &t);
            check_backward_weight_within(&case, &s, variant, &t, probable_sum_bound);
        }
    }
}

/// Every texel the GEMMs read was packed by the same op: each shape runs once, so that its
/// scratch grids exist, then again after they are filled with NaN.
#[test]
fn packs_write_every_texel_the_gemms_read() {
    for poisoned_scratch in [false, true] {
        if poisoned_scratch {
            gpu().poison_scratch_texels().unwrap();
        }
        for s in shapes() {
            let mut case = Case::new(format!("conv2d over NaN-filled scratch {s:?}"));
            let t = Inputs::new(&mut case, &s);
            for variant in Loader::available(gpu()).into_iter().map(Variant::Gemm) {
                check_forward(&s, variant, false);
                check_backward_input(&case, &s, variant, &t);
                check_backward_weight(&case, &s, variant, &t);
            }
        }
    }
}

#[test]
fn backward_matches_reference() {
    for s in shapes() {
        let mut case = Case::new(format!("conv2d backward {s:?}"));
        let t = Inputs::new(&mut case, &s);
        for variant in Variant::all(gpu()) {
            check_backward_input(&case, &s, variant, &t);
            check_backward_weight(&case, &s, variant, &t);
        }
        check_backward_bias(&case, &s, &t);
    }
}

#[test]
fn gradients_match_finite_differences() {
    for s in [conv(2, 3, 4, 7, 5, 3, 2, 1), conv(1, 2, 3, 5, 4, 1, 2, 0), conv(2, 2, 5, 5, 6, 3, 1, 1)] {
        let mut case = Case::new(format!("conv2d gradient check {s:?}"));
        let t = Inputs::new(&mut case, &s);
        // L = <forward(x, w, b), r> with r = dy, so dL/dy = dy.
        let (x, w, b, r) = (&t.x.1, &t.w.1, &t.b.1, &t.dy.1);
        let loss = |x: &[f64], w: &[f64], b: &[f64]| dot(&reference::forward(&s, x, w, Some(b)), r);
        let db = poisoned(&s.bias_shape());
        gpu().run([&conv2d::backward_bias(gpu(), &s, &t.dy.0, &db).unwrap()]).unwrap();
        let (abs_x, abs_w, abs_r) = (abs(x), abs(w), abs(r));

        let numeric = numerical_gradient(|x| loss(x, w, b), x, STEP);
        let limit =
            bound(s.out_channels * s.kernel * s.kernel, &reference::backward_input(&s, &abs_w, &abs_r), &numeric);
        for variant in Variant::all(gpu()) {
            let dx = poisoned(&s.input_shape());
            gpu().run(&conv2d::backward_input(gpu(), variant, &s, &t.w.0, &t.dy.0, &dx).unwrap()).unwrap();
            assert_close(&case, &format!("dx ({variant:?})"), &read(&dx), &numeric, limit + FINITE_DIFFERENCE_ERROR);
        }

        let numeric = numerical_gradient(|w| loss(x, w, b), w, STEP);
        let limit = bound(output_positions(&s), &reference::backward_weight(&s, &abs_x, &abs_r), &numeric);
        for variant in Variant::all(gpu()) {
            let dw = poisoned(&s.weight_shape());
            gpu().run(&conv2d::backward_weight(gpu(), variant, &s, &t.x.0, &t.dy.0, &dw).unwrap()).unwrap();
            assert_close(&case, &format!("dw ({variant:?})"), &read(&dw), &numeric, limit + FINITE_DIFFERENCE_ERROR);
        }

        let numeric = numerical_gradient(|b| loss(x, w, b), b, STEP);
        let limit = bound(output_positions(&s), &reference::backward_bias(&s, &abs_r), &numeric);
        assert_close(&case, "db", &read(&db), &numeric, limit + FINITE_DIFFERENCE_ERROR);
    }
}

#[test]
fn long_reductions_cover_every_term() {
    // 3 * 33 * 31 = 3069 output positions: 47.95 passes of a 64-thread workgroup (Direct);
    // 3 * 33 * 8 = 792 steps of 4 positions, split into 13 chunks, the last one shorter
    // (TextureGemm).
    let s = conv(3, 2, 3, 33, 31, 1, 1, 0);
    let mut case = Case::new(format!("conv2d long reduction {s:?}"));
    let t = Inputs::new(&mut case, &s);
    for variant in Variant::all(gpu()) {
        check_backward_weight(&case, &s, variant, &t);
    }
    check_backward_bias(&case, &s, &t);
}

#[test]
fn direct_weight_gradient_grid_beyond_one_dimension_covers_every_weight() {
    // 2 blocks of output channels * 4000 input channels * 9 taps = 72000 workgroups, more
    // than the 65535 of one grid dimension, so the grid spills into y.
    let s = conv(1, 4000, 5, 3, 3, 3, 1, 0);
    let mut case = Case::new(format!("conv2d dw 2-D grid {s:?}"));
    let t = Inputs::new(&mut case, &s);
    let dw = poisoned(&s.weight_shape());
    let backward = conv2d::backward_weight(gpu(), Variant::Direct, &s, &t.x.0, &t.dy.0, &dw).unwrap().remove(0);
    let workgroups = conv2d::weight_gradient_workgroups(&s).unwrap();
    let kernel = backward.kernel().expect("the direct weight gradient is a kernel");
    let grid = kernel.grid_1d(workgroups * kernel.workgroup_size()[0] as usize);
    assert!(grid[1] > 1, "the grid must use its y dimension");
    let expected = reference::backward_weight(&s, &t.x.1, &t.dy.1);
    let limit = bound(output_positions(&s), &reference::backward_weight(&s, &abs(&t.x.1), &abs(&t.dy.1)), &expected);
    assert_close(&case, "dw", &run_and_read(&[&backward], &dw), &expected, limit);
}

#[test]
fn mismatched_shapes_are_rejected() {
    let s = conv(2, 3, 4, 7, 5, 3, 2, 1); // output [2, 4, 4, 3]
    let zeros = |shape: &[usize]| gpu().zeros(shape).unwrap();
    let (x, w, b, y) = (zeros(&[2, 3, 7, 5]), zeros(&[4, 3, 3, 3]), zeros(&[4]), zeros(&[2, 4, 4, 3]));
    let expect_error = |result: sturdy::gpu::Result<_>, parts: &[&str]| {
        let error = result.err().expect("a shape mismatch must fail").to_string();
        for part in parts {
            assert!(error.contains(part), "{error:?} should mention {part:?}");
        }
    };
    assert!(conv2d::forward(gpu(), TEXTURE, &s, &x, &w, Some(&b), &y).is_ok());
    expect_error(
        conv2d::forward(gpu(), TEXTURE, &s, &zeros(&[2, 3, 5, 7]), &w, None, &y),
        &["conv2d forward", "x", "[2, 3, 7, 5]"],
    );
    expect_error(conv2d::forward(gpu(), TEXTURE, &s, &x, &zeros(&[4, 3, 1, 1]), None, &y), &["w", "[4, 3, 3, 3]"]);
    expect_error(conv2d::forward(gpu(), TEXTURE, &s, &x, &w, Some(&zeros(&[3])), &y), &["b", "[4]"]);
    expect_error(conv2d::forward(gpu(), TEXTURE, &s, &x, &w, None, &zeros(&[2, 4, 7, 5])), &["y", "[2, 4, 4, 3]"]);
    expect_error(
        conv2d::backward_input(gpu(), TEXTURE, &s, &w, &y, &zeros(&[2, 3, 7, 6])),
        &["conv2d backward_input", "dx", "[2, 3, 7, 5]"],
    );
    expect_error(conv2d::backward_input(gpu(), TEXTURE, &s, &w, &zeros(&[2, 4, 3, 4]), &x), &["dy", "[2, 4, 4, 3]"]);
    expect_error(
        conv2d::backward_weight(gpu(), TEXTURE, &s, &x, &y, &zeros(&[3, 4, 3, 3])),
        &["conv2d backward_weight", "dw", "[4, 3, 3, 3]"],
    );
    expect_error(
        conv2d::backward_bias(gpu(), &s, &y, &zeros(&[4, 1])).map(|d| vec![d]),
        &["conv2d backward_bias", "db", "[4]"],
    );
    // Geometries with no output are rejected before any tensor is looked at.
    let too_small = conv(2, 3, 4, 2, 5, 5, 1, 1);
    expect_error(
        conv2d::forward(gpu(), TEXTURE, &too_small, &x, &w, None, &y),
        &["5x5 kernel does not fit a 2x5 input with padding 1"],
    );
    let no_stride = Conv2dShape { stride: 0, ..s };
    expect_error(conv2d::backward_bias(gpu(), &no_stride, &y, &b).map(|d| vec![d]), &["stride is 0"]);
}

/// Every variant `applicable` offers for an op of `s` builds that op's dispatches.
fn applicable_variants_build(s: &Conv2dShape) {
    let zeros = |shape: &[usize]| gpu().zeros(shape).unwrap();
    let (x, w, y) = (zeros(&s.input_shape()), zeros(&s.weight_shape()), zeros(&s.output_shape()));
    for op in Product::ALL {
        for variant in conv2d::applicable(gpu(), s, op) {
            let built = match op {
                Product::Forward => conv2d::forward(gpu(), variant, s, &x, &w, None, &y),
                Product::BackwardWeight => conv2d::backward_weight(gpu(), variant, s, &x, &y, &w),
                Product::BackwardInput => conv2d::backward_input(gpu(), variant, s, &w, &y, &x),
            };
            assert!(built.is_ok(), "{} {} on {s}: {}", op.name(), variant.name(), built.err().unwrap());
        }
    }
}

/// The variants that apply to each op of `s`, in [`Product::ALL`]'s order.
fn applicable_per_op(s: &Conv2dShape) -> Vec<Vec<Variant>> {
    Product::ALL.map(|op| conv2d::applicable(gpu(), s, op)).to_vec()
}

#[test]
fn layers_too_wide_for_textures_take_other_variants() {
    let limit = gpu().limits.max_texture_dimension_2d as usize;
    let small = conv(2, 3, 4, 7, 5, 3, 2, 1);
    assert_eq!(applicable_per_op(&small), vec![Variant::all(gpu()); 3]);
    // One image row wider than a texture: its packed planes cannot fit.
    let wide = conv(1, 1, 1, 1, limit + 1, 1, 1, 0);
    assert_eq!(applicable_per_op(&wide), vec![vec![Variant::Direct]; 3]);
    // Filters whose packed weights are taller than a texture in backward_input only (its
    // grid has 4 ceil(O / 4) K^2 rows, forward's 4 ceil(C / 4) K^2): a buffer holds them,
    // and the other ops keep the texture loader.
    let tall = conv(1, 4, 4 * (limit / 36 + 1), 3, 3, 3, 1, 1);
    let but_texture: Vec<_> = Variant::all(gpu()).into_iter().filter(|v| !reads_textures(*v)).collect();
    let expected =
        Product::ALL.map(|op| if op == Product::BackwardInput { but_texture.clone() } else { Variant::all(gpu()) });
    assert_eq!(applicable_per_op(&tall), expected);
    for shape in [small, wide, tall] {
        applicable_variants_build(&shape);
    }
}

/// A forward (with bias) that keeps its packed x, then another layer of the same shape
/// packing its own x into the shared scratch, then the first layer's backward_weight from
/// the kept x with any loader of the same storage: the output and the weight gradient are the
/// first layer's, for every such pair of loaders.
#[test]
fn backward_weight_reads_the_input_forward_kept() {
    let s = conv(2, 5, 20, 6, 5, 3, 1, 1);
    let loaders = Loader::available(gpu());
    let pairs = loaders.iter().flat_map(|&a| loaders.iter().map(move |&b| (a, b)));
    for (loader, weight_loader) in pairs.filter(|(a, b)| a.storage() == b.storage()) {
        let names = format!("{}, then {}", loader.name(), weight_loader.name());
        let mut case = Case::new(format!("conv2d kept input {names} {s:?}"));
        let (first, other) = (Inputs::new(&mut case, &s), Inputs::new(&mut case, &s));
        let (y, other_y, dw) = (poisoned(&s.output_shape()), poisoned(&s.output_shape()), poisoned(&s.weight_shape()));
        let (mut dispatches, packed_x) =
            conv2d::forward_keeping_input(gpu(), loader, &s, &first.x.0, &first.w.0, Some(&first.b.0), &y).unwrap();
        dispatches
            .extend(conv2d::forward(gpu(), Variant::Gemm(loader), &s, &other.x.0, &other.w.0, None, &other_y).unwrap());
        dispatches
            .extend(conv2d::backward_weight_packed(gpu(), weight_loader, &s, &packed_x, &first.dy.0, &dw).unwrap());
        gpu().run(&dispatches).unwrap();
        let expected = reference::backward_weight(&s, &first.x.1, &first.dy.1);
        let magnitude = reference::backward_weight(&s, &abs(&first.x.1), &abs(&first.dy.1));
        assert_close(&case, "dw", &read(&dw), &expected, bound(output_positions(&s), &magnitude, &expected));
        let expected_y = reference::forward(&s, &first.x.1, &first.w.1, Some(&first.b.1));
        let abs_b = abs(&first.b.1);
        let magnitude_y = reference::forward(&s, &abs(&first.x.1), &abs(&first.w.1), Some(&abs_b));
        let terms = s.in_channels * s.kernel * s.kernel + 1;
        assert_close(&case, "y", &read(&y), &expected_y, bound(terms, &magnitude_y, &expected_y));
    }
}

/// `--kernels` forces a family where it applies and falls back to the direct kernels where
/// it does not (a layer too wide for textures); the choice is recorded for `sturdy bench`.
#[test]
fn a_forced_family_applies_where_it_fits() {
    use sturdy::gpu::{Gpu, GpuOptions, KernelChoice};
    use sturdy::ops::variants::choose;
    let limit = gpu().limits.max_texture_dimension_2d as usize;
    let small = conv(2, 3, 4, 7, 5, 3, 2, 1);
    let wide = conv(1, 1, 1, 1, limit + 1, 1, 1, 0);
    let unused = |_| -> sturdy::gpu::Result<Vec<sturdy::gpu::Dispatch>> { panic!("a forced family measures nothing") };
    for (kernels, expected_small) in [
        (KernelChoice::Texture, Variant::Gemm(Loader::Texture)),
        (KernelChoice::Subgroup, Variant::Gemm(Loader::Subgroup)),
        (KernelChoice::Tiled, Variant::Gemm(Loader::Tiled { thread_rows: 8 })),
        (KernelChoice::Direct, Variant::Direct),
    ] {
        let forced = Gpu::new(&GpuOptions { kernels, ..GpuOptions::from_env() }).unwrap();
        let pick = |s: &Conv2dShape| {
            choose(&forced, &format!("test {s}"), &conv2d::applicable(&forced, s, Product::Forward), unused)
        };
        assert_eq!(pick(&small).unwrap(), expected_small, "{kernels:?}");
        assert_eq!(pick(&wide).unwrap(), Variant::Direct, "{kernels:?} on a layer too wide for textures");
        let chosen = forced.chosen_variants();
        assert!(
            chosen.iter().any(|(op, v)| op == &format!("test {small}") && *v == expected_small.name()),
            "{chosen:?}"
        );
    }
}

use sturdy::ops::variants::{Product, Variant};
use sturdy::{ops, reference};

use crate::harness::*;

/// (x shape, out features): batch 1 and 5, odd widths, a 4-D x read flattened, a batch
/// reduction longer than a workgroup, widths above one workgroup, and products larger than
/// one tile of the tiled GEMM (128 x 32 and 64 x 64) in every direction.
fn shapes() -> Vec<(Vec<usize>, usize)> {
    vec![
        (vec![1, 7], 3),
        (vec![5, 7], 3),
        (vec![5, 1], 1),
        (vec![5, 3, 2, 2], 5),
        (vec![130, 5], 4),
        (vec![3, 67], 65),
        (vec![131, 70], 67),
    ]
}

fn norm(v: &[f64]) -> f64 {
    dot(v, v).sqrt()
}

/// Relative error bound for outputs that are `terms`-term sums of products: each
/// element's error is at most sum_bound(terms) * sum|terms| (Higham, Thm 3.1, plus the
/// product and store roundings), and sum|terms| is the same op run on |inputs|
/// (`magnitude`). By the triangle inequality ||error|| <= sum_bound * ||magnitude||.
/// No extra safety factor: this is already the worst case, and an FMA only removes roundings.
fn sum_of_products_bound(terms: usize, magnitude: &[f64], expected: &[f64]) -> f64 {
    sum_bound(terms) * norm(magnitude) / norm(expected)
}

fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

#[test]
fn forward_and_backward_match_reference() {
    for ((x_shape, out_features), variant) in
        shapes().into_iter().flat_map(|s| Variant::all(gpu()).into_iter().map(move |v| (s.clone(), v)))
    {
        check_products(&x_shape, out_features, [variant; 3]);
    }
}

/// Runs the three products of a layer from x of `x_shape` to `out_features`, each with its
/// variant (in [`Product::ALL`]'s order), into poisoned outputs, against the f64 references.
fn check_products(x_shape: &[usize], out_features: usize, variants: [Variant; 3]) {
    let names = variants.map(|v| v.name()).join(", ");
    let mut case = Case::new(format!("linear {names} x {x_shape:?} out {out_features}"));
    let (batch, in_features) = (x_shape[0], x_shape[1..].iter().product::<usize>());
    let (x, x_ref) = case.tensor(x_shape, -1.0, 1.0);
    let (w, w_ref) = case.tensor(&[out_features, in_features], -1.0, 1.0);
    let (b, b_ref) = case.tensor(&[out_features], -1.0, 1.0);
    let (dy, dy_ref) = case.tensor(&[batch, out_features], -1.0, 1.0);
    let (y, dx) = (poisoned(&[batch, out_features]), poisoned(x_shape));
    let (dw, db) = (poisoned(&[out_features, in_features]), poisoned(&[out_features]));
    let [forward_variant, input_variant, weight_variant] = variants;
    let forward = ops::linear::forward(gpu(), forward_variant, &x, &w, &b, &y).unwrap();
    let backward_input = ops::linear::backward_input(gpu(), input_variant, &w, &dy, &dx).unwrap();
    let backward_params = ops::linear::backward_params(gpu(), weight_variant, &x, &dy, &dw, &db).unwrap();
    gpu().run(forward.iter().chain(&backward_input).chain(&backward_params)).unwrap();

    let expected = reference::linear::forward(&x_ref, &w_ref, &b_ref, in_features);
    let magnitude = reference::linear::forward(&abs(&x_ref), &abs(&w_ref), &abs(&b_ref), in_features);
    // in_features products plus the bias.
    let bound = sum_of_products_bound(in_features + 1, &magnitude, &expected);
    assert_close(&case, "y", &read(&y), &expected, bound);

    let expected = reference::linear::backward_input(&w_ref, &dy_ref, in_features);
    let magnitude = reference::linear::backward_input(&abs(&w_ref), &abs(&dy_ref), in_features);
    assert_close(&case, "dx", &read(&dx), &expected, sum_of_products_bound(out_features, &magnitude, &expected));

    let expected = reference::linear::backward_weight(&x_ref, &dy_ref, in_features, out_features);
    let magnitude = reference::linear::backward_weight(&abs(&x_ref), &abs(&dy_ref), in_features, out_features);
    assert_close(&case, "dw", &read(&dw), &expected, sum_of_products_bound(batch, &magnitude, &expected));

    let expected = reference::linear::backward_bias(&dy_ref, out_features);
    let magnitude = reference::linear::backward_bias(&abs(&dy_ref), out_features);
    assert_close(&case, "db", &read(&db), &expected, sum_of_products_bound(batch, &magnitude, &expected));
}

/// A layer with more input features than a texture is wide: forward's packed W^T has a
/// texel row per feature, too many for a texture, while the other products pack the
/// features along rows of texels of four. Forward loses the texture loader only, and each
/// product gives the reference with every variant it is offered.
#[test]
fn a_layer_too_wide_for_textures_loses_them_in_forward_only() {
    let limit = gpu().limits.max_texture_dimension_2d as usize;
    let (batch, in_features, out_features) = (1, limit + 1, 1);
    let but_texture: Vec<_> = Variant::all(gpu()).into_iter().filter(|v| !reads_textures(*v)).collect();
    for product in Product::ALL {
        let offered = ops::linear::applicable(gpu(), product, batch, in_features, out_features);
        let expected = if product == Product::Forward { but_texture.clone() } else { Variant::all(gpu()) };
        assert_eq!(offered, expected, "{}", product.name());
        for variant in offered {
            let variants = Product::ALL.map(|p| if p == product { variant } else { Variant::Direct });
            check_products(&[batch, in_features], out_features, variants);
        }
    }
    // A narrow layer is offered every variant for every product.
    for product in Product::ALL {
        assert_eq!(ops::linear::applicable(gpu(), product, 5, 7, 3), Variant::all(gpu()), "{}", product.name());
    }
}

/// L = <forward(x, w, b), r>: the GPU backward fed dy = r must give L's finite-difference
/// gradient with respect to x, w and b.
#[test]
fn backward_matches_finite_differences() {
    let shapes = [(vec![1, 7], 3), (vec![5, 7], 3), (vec![5, 3, 2, 2], 2)];
    for ((x_shape, out_features), variant) in
        shapes.into_iter().flat_map(|s| Variant::all(gpu()).into_iter().map(move |v| (s.clone(), v)))
    {
        let mut case = Case::new(format!("linear gradient {} x {x_shape:?} out {out_features}", variant.name()));
        let (batch, in_features) = (x_shape[0], x_shape[1..].iter().product::<usize>());
        let (x, x_ref) = case.tensor(&x_shape, -1.0, 1.0);
        let (w, w_ref) = case.tensor(&[out_features, in_features], -1.0, 1.0);
        let (_, b_ref) = case.uniform(out_features, -1.0, 1.0);
        let (r, r_ref) = case.tensor(&[batch, out_features], -1.0, 1.0);
        let (dx, dw, db) = (poisoned(&x_shape), poisoned(&[out_features, in_features]), poisoned(&[out_features]));
        let backward_input = ops::linear::backward_input(gpu(), variant, &w, &r, &dx).unwrap();
        let backward_params = ops::linear::backward_params(gpu(), variant, &x, &r, &dw, &db).unwrap();
        gpu().run(backward_input.iter().chain(&backward_params)).unwrap();

        let loss = |x: &[f64], w: &[f64], b: &[f64]| dot(&reference::linear::forward(x, w, b, in_features), &r_ref);
        // L is linear in each argument, so central differences have no truncation error;
        // f64 rounding in L (about 1e-16 * |L| / step) adds far less than 1e-9.
        const STEP: f64 = 1e-3;
        const DIFFERENCE_ERROR: f64 = 1e-9;
        let numeric_dx = numerical_gradient(|x| loss(x, &w_ref, &b_ref), &x_ref, STEP);
        let numeric_dw = numerical_gradient(|w| loss(&x_ref, w, &b_ref), &w_ref, STEP);
        let numeric_db = numerical_gradient(|b| loss(&x_ref, &w_ref, b), &b_ref, STEP);
        let magnitude = reference::linear::backward_input(&abs(&w_ref), &abs(&r_ref), in_features);
        let bound = sum_of_products_bound(out_features, &magnitude, &numeric_dx) + DIFFERENCE_ERROR;
        assert_close(&case, "dx", &read(&dx), &numeric_dx, bound);
        let magnitude = reference::linear::backward_weight(&abs(&x_ref), &abs(&r_ref), in_features, out_features);
        let bound = sum_of_products_bound(batch, &magnitude, &numeric_dw) + DIFFERENCE_ERROR;
        assert_close(&case, "dw", &read(&dw), &numeric_dw, bound);
        let magnitude = reference::linear::backward_bias(&abs(&r_ref), out_features);
        let bound = sum_of_products_bound(batch, &magnitude, &numeric_db) + DIFFERENCE_ERROR;
        assert_close(&case, "db", &read(&db), &numeric_db, bound);
    }
}

#[test]
fn mismatched_shapes_are_rejected() {
    let zeros = |shape: &[usize]| gpu().zeros(shape).unwrap();
    let (x, w, b, y) = (zeros(&[5, 7]), zeros(&[3, 7]), zeros(&[3]), zeros(&[5, 3]));
    let expect_error = |result: sturdy::gpu::Result<_>, needles: &[&str]| {
        let error = result.expect_err("shape mismatch must fail").to_string();
        assert!(needles.iter().all(|n| error.contains(n)), "{error}");
    };
    expect_error(
        ops::linear::forward(gpu(), Variant::Direct, &zeros(&[5, 6]), &w, &b, &y).map(|_| ()),
        &["linear forward", "x", "[5, 6]", "[N, 7]"],
    );
    expect_error(
        ops::linear::forward(gpu(), Variant::Direct, &x, &zeros(&[3, 7, 1]), &b, &y).map(|_| ()),
        &["linear forward", "w", "[out, in]"],
    );
    expect_error(
        ops::linear::forward(gpu(), Variant::Direct, &x, &w, &zeros(&[4]), &y).map(|_| ()),
        &["linear forward", "b", "[4]", "[3]"],
    );
    expect_error(
        ops::linear::forward(gpu(), Variant::Direct, &x, &w, &b, &zeros(&[5, 4])).map(|_| ()),
        &["y", "[5, 4]", "[5, 3]"],
    );
    expect_error(
        ops::linear::backward_input(gpu(), Variant::Direct, &w, &zeros(&[4, 3]), &x).map(|_| ()),
        &["linear backward_input", "dy", "[4, 3]"],
    );
    expect_error(
        ops::linear::backward_params(gpu(), Variant::Direct, &x, &y, &w, &zeros(&[7])).map(|_| ()),
        &["linear backward_params", "db", "[7]"],
    );
    expect_error(
        ops::linear::backward_params(gpu(), Variant::Direct, &x, &y, &zeros(&[3, 8]), &b).map(|_| ()),
        &["x", "[5, 7]", "[N, 8]"],
    );
}

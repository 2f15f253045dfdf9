//! `FILE_STEM.json`: everything about an exported PANN except the weights, which are
//! in `FILE_STEM.safetensors` beside it.
//!
//! Schema (JSON through serde), format tag `"sturdy-pann-export/2"` (version 2 added the
//! HE-ready layout, `input_scales`, `calibration.requested_images` and the polynomials'
//! `he` form; a reader refuses other versions):
//!
//! ```text
//! {
//!   "format": "sturdy-pann-export/2",
//!   "sturdy_version": "0.1.0",
//!   "source": { "run": "runs/fm", "epochs": 30, "model": "resnet20", "width": 1.0,
//!               "dataset": "fashion-mnist" },
//!   "weights": "fm-pann.safetensors",  // file name, beside this file; f32 tensors named
//!                                      // by the layers below, no optimiser state
//!   "input": {
//!     "shape": [1, 28, 28],            // [C, H, W] of one image, row-major
//!     "normalization": { "mean": [0.286], "std": [0.353] }
//!                                      // the layer list's "input" value is
//!                                      // (pixel / 255 - mean[c]) / std[c]
//!   },
//!   "classes": 10,                     // the last layer's output: one logit per class
//!   "activation": {
//!     "formula": "ReLU(x) ~= x * (1 + p(x / B)) / 2",
//!     "inputs_divided_by_bound": true, // each site evaluates p at x / B, its own B
//!     "bounds_folded_into_weights": false  // the weights are not rescaled by 1 / B
//!   },                                 // --he: formula "ReLU(x) / B ~= u * q(u), u = x / B, ...",
//!                                      // bounds_folded_into_weights true: each site
//!                                      // receives u = x / B and returns u q(u) = ReLU(x) / B,
//!                                      // q from `relu.he` (export::he, poly::he)
//!   "max_pool": {                      // how a PANN evaluates a max_pool2x2 site
//!     "formula": "max(a, b) ~= ((a + b) + d * p(d / D)) / 2, d = a - b",
//!     "window": "max(max(x00, x01; D1), max(x10, x11; D1); D2)",  // see below
//!     "scales_over_bound": [2.0, 2.25] // D1 = 2 B, D2 = 2.25 B, B the site's bound
//!   },
//!   "calibration": {                   // how the bounds B were chosen
//!     "per_site": true,                // one B per site (false: all sites share the largest)
//!     "margin": 1.0,                   // B = margin * max |x| seen at the site (global: at any site)
//!     "images": 5056,                  // training images run through the backbone (eval mode):
//!                                      // whole batches, the request rounded up
//!     "requested_images": 5000
//!   },
//!   "sites": [                         // every site (ReLUs and max poolings), in
//!                                      // site-index order: sites[i].index == i
//!     { "name": "stem.relu", "index": 0, "max_abs": 7.9, "bound": 7.9, "kind": "relu",
//!       "alpha": 9, "evaluations": 3136, "cost": 47040.0 },
//!     { "name": "stage1.pool", "index": 2, "max_abs": 5.1, "bound": 5.1, "kind": "max2x2", ... }
//!   ],                                 // max_abs: of the site's input; alpha: the
//!                                      // precision of the site's polynomial; evaluations
//!                                      // of it per image (one per ReLU input, three per
//!                                      // max pooling output); cost: its ciphertext
//!                                      // products per image under OpenFHE
//!                                      // (costs.openfhe.products x evaluations)
//!   "relu": { ... },                   // the polynomial p for the export's alpha: poly::export's
//!                                      // "sturdy-relu-poly/2" object (alpha, components
//!                                      // with Chebyshev and power coefficients, the he
//!                                      // form, costs per evaluator, ...)
//!   "polynomials": [ { ... } ],        // only with per-site alphas (--site-alphas): the
//!                                      // polynomial of every other alpha a site has, the
//!                                      // same objects; a site's is the one of its alpha
//!   "he_cost": { "depth": 51, "rotations": 104, "plaintext_products": 1284,
//!                "ciphertext_products": 616 },  // --he only: per image, for the packing of
//!                                      // interop/openfhe/infer (export::he_cost)
//!   "layers": [ ... ]                  // the inference graph, in evaluation order
//! }
//! ```
//!
//! `layers` is a list of ops (`nn::Op`, tagged by `"op"`), batch norm already folded away.
//! In the HE-ready layout an op may carry `"input_scales": [s_0, ...]`: it computes its
//! function of s_0 x input_0, ...: `[1.0, s]` on a residual sum whose identity shortcut
//! comes in another ReLU's units, `[H W]` on the global average pooling, which therefore
//! sums.
//! Every op's output is a value named by its `"name"`; `"input"`/`"inputs"` name earlier
//! outputs or `"input"`, the normalised image. Shapes are per image, without the batch:
//!
//! ```text
//! { "op": "conv2d", "name": "stem.conv", "input": "input",
//!   "weight": "stem.conv.weight",        // [O, C, K, K] = [output_shape[0], input_shape[0], kernel, kernel]
//!   "bias": "stem.conv.bias",            // [O]; the folded batch norm
//!   "input_shape": [1, 28, 28], "output_shape": [16, 28, 28],
//!   "kernel": 3, "stride": 1, "padding": 1 }  // zero padding on every side
//! { "op": "relu", "name": "stem.relu", "input": "stem.conv", "site_index": 0,
//!   "bound": 7.9, "shape": [16, 28, 28] }      // B of this site (= sites[site_index].bound)
//! { "op": "add", "name": "block0.add", "inputs": ["block0.conv2", "block0.shortcut.conv"],
//!   "shape": [8, 14, 14] }                      // the residual sum; a relu follows it
//! { "op": "global_average_pool", "name": "pool", "input": "block1.relu2",
//!   "input_shape": [16, 7, 7] }                 // -> [C]
//! { "op": "max_pool2x2", "name": "stage1.pool", "input": "stage1.1.relu",
//!   "input_shape": [64, 28, 28], "output_shape": [64, 14, 14],  // VGG only
//!   "site_index": 2, "bound": 5.1 }             // B of this site (= sites[site_index].bound)
//! { "op": "linear", "name": "fc", "input": "pool", "weight": "fc.weight",
//!   "bias": "fc.bias", "in_features": 16, "out_features": 10 }  // y = W x + b
//! ```
//!
//! The output of the last op is the logits.
//!
//! A PANN's max pooling takes each 2x2 window (x00, x01; x10, x11) to
//! max(max(x00, x01), max(x10, x11)), every max by the formula above with the same p as
//! the ReLUs: D1 for the two maxima of the first level (|a - b| <= 2B when |x| <= B), D2
//! for the second, whose inputs are off by up to D1 2^-alpha (`ops::poly_relu`).
//!
//! Inputs with |x| > B (and max differences with |d| > D) lie outside the polynomial's
//! range: under HE it explodes there. sturdy's GPU PANN mode (and `export::forward`)
//! clamps them to [-B, B] (to [-D, D]) and counts them as overflows; choose `--margin`
//! above 1 when test data may exceed the training maxima.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::he_cost::NetworkCost;
use crate::data::{DatasetKind, Normalization};
use crate::models::ModelKind;
use crate::nn::{Op, SiteKind};
use crate::ops::poly_relu::max_pool_scales;
use crate::poly::export::ReluExport;

pub const FORMAT: &str = "sturdy-pann-export/2";
pub const FORMULA: &str = "ReLU(x) ~= x * (1 + p(x / B)) / 2";
pub const MAX_FORMULA: &str = "max(a, b) ~= ((a + b) + d * p(d / D)) / 2, d = a - b";
pub const MAX_WINDOW: &str = "max(max(x00, x01; D1), max(x10, x11; D1); D2)";

/// The exported network's description (schema in the module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub sturdy_version: String,
    pub source: Source,
    pub weights: String,
    pub input: InputSpec,
    pub classes: usize,
    pub activation: ActivationConvention,
    pub max_pool: MaxPoolConvention,
    pub calibration: Calibration,
    pub sites: Vec<SiteBound>,
    pub relu: ReluExport,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub polynomials: Vec<ReluExport>,
    /// HE-ready exports: what `interop/openfhe/infer` pays per image (`export::he_cost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub he_cost: Option<NetworkCost>,
    pub layers: Vec<Layer>,
}

/// One op of the inference graph (`nn::Op`, its fields inline), and in an HE-ready export
/// the scalars its inputs are multiplied by first (module doc).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    #[serde(flatten)]
    pub op: Op,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_scales: Option<Vec<f64>>,
}

impl From<Op> for Layer {
    fn from(op: Op) -> Self {
        Layer { op, input_scales: None }
    }
}

impl Manifest {
    /// Each site's polynomial, in site-index order: `relu`, or the entry of `polynomials`
    /// with the site's alpha.
    pub fn site_polynomials(&self) -> anyhow::Result<Vec<&ReluExport>> {
        let polynomials: Vec<&ReluExport> = std::iter::once(&self.relu).chain(&self.polynomials).collect();
        self.sites
            .iter()
            .map(|site| match polynomials.iter().find(|p| p.alpha == site.alpha) {
                Some(&polynomial) => Ok(polynomial),
                None => {
                    anyhow::bail!("site {} has alpha {}, whose polynomial is not in the export", site.name, site.alpha)
                }
            })
            .collect()
    }
}

/// The training run the export came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub run: PathBuf,
    pub epochs: usize,
    pub model: ModelKind,
    pub width: f64,
    pub dataset: DatasetKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub shape: [usize; 3],
    pub normalization: Normalization,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivationConvention {
    pub formula: String,
    pub inputs_divided_by_bound: bool,
    pub bounds_folded_into_weights: bool,
}

impl ActivationConvention {
    /// The plain layout (sites divide by B), or the HE-ready one (`export::he`).
    pub fn new(bounds_folded_into_weights: bool) -> Self {
        let formula = if bounds_folded_into_weights { crate::poly::he::FORMULA } else { FORMULA };
        ActivationConvention { formula: formula.into(), inputs_divided_by_bound: true, bounds_folded_into_weights }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaxPoolConvention {
    pub formula: String,
    /// Which D each max of a window divides by.
    pub window: String,
    /// [D1, D2] / B.
    pub scales_over_bound: [f64; 2],
}

impl Default for MaxPoolConvention {
    fn default() -> Self {
        MaxPoolConvention {
            formula: MAX_FORMULA.into(),
            window: MAX_WINDOW.into(),
            scales_over_bound: max_pool_scales(1.0),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub per_site: bool,
    pub margin: f64,
    /// Training images run: whole batches, so `requested_images` rounded up to the batch
    /// size (and at most the training set).
    pub images: usize,
    pub requested_images: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SiteBound {
    pub name: String,
    pub index: u32,
    pub max_abs: f32,
    pub bound: f32,
    pub kind: SiteKind,
    /// Precision of the site's polynomial (its depth and products per evaluator are the
    /// polynomial's `costs`).
    pub alpha: u32,
    /// Evaluations of the polynomial per image (`pann::pricing::evaluations`).
    pub evaluations: usize,
    /// Ciphertext products per image under OpenFHE: `costs.openfhe.products` x `evaluations`.
    pub cost: f64,
}

//! The built-in `quick` study: the paper's central comparison at a size that runs on a
//! 2-core CPU adapter (lavapipe) in about two minutes (measured: 108 s with an empty kernel
//! cache on idle cores, 2026-12-02).

/// The name that selects it on the command line (`sturdy study quick`).
pub const NAME: &str = "quick";

/// Sizing, measured on 2 cores with lavapipe (2026-12-02): the small CNN at width 0.5
/// trains at 1600 to 2000 images/s, so 4 epochs of 10000 images take about 25 s a cell; the
/// sweep of 7 alphas over 2000 test images and the per-site search take 25 to 30 s.
pub const TOML: &str = r#"# The quick study: vanilla training with strong weight decay (the paper's finding 1:
# weight decay costs sturdiness) against both remedies (noise on negative and large
# activation inputs, Mixup, minimal weight decay), on a subset of Fashion-MNIST.
name = "quick"
seeds = [0]

[[grid]]
recipes = ["vanilla"]
weight_decays = [5e-3]

[[grid]]
recipes = ["mixup-noise"]
weight_decays = [1e-4]

[train]
dataset = "fashion-mnist"
model = "smallcnn"
width = 0.5
epochs = 4
batch_size = 64
lr = 0.05
train_limit = 10000
test_limit = 2000
# Random crops are a CIFAR recipe; Fashion-MNIST items are centred.
crop_padding = 0
flip = true
# The noise imitates the polynomial of this precision, mid-way in the swept range.
alpha_target = 7

[sweep]
alphas = [4, 5, 6, 7, 8, 9, 10]
# One bound per activation site (HE folds it into the preceding weights).
per_site = true
margin = 1.0
tolerance = 0.01
calibration_images = 2000
# Then one alpha per site: the cheapest assignment within the tolerance, selected on the
# last 2000 training images (the first 2000 calibrate), priced by multiplications.
per_site_alpha = true
validation_images = 2000
site_cost = "mults"
"#;

"""Writes the fixtures of tests/torch_parity.rs into tests/fixtures/torch/parity/: for each
case, from fixed random weights, running statistics and optimiser velocities on a fixed
batch, one training step in float64 with sturdy's semantics, and the PANN's logits at
alpha 7 and 12 with per-site bounds. Each `<case>.safetensors` holds

- as f16 (values drawn in f16, so that both sides read them exactly): the state dict
  before the step under its own names, `velocity.<param>` (momentum buffers, where the
  case has momentum), `input`, `labels`, and for the VGG `dropout{1,2}.mask`, sturdy's
  dropout masks for the file's seed and step;
- as f32, what PyTorch computed in f64: `logits` (training mode), `loss`, `grad.<param>`,
  the state dict after the step as `after.<name>` (weights and running statistics),
  `pann.bounds` (B per site, in sturdy's site order) and `pann{alpha}.logits` (evaluation
  mode, every ReLU and max pooling replaced by its PANN with its bound);

and, as JSON in the metadata key `settings`, every setting the Rust test needs (model, shortcut, width, input shape,
learning rate, momentum, Nesterov, weight decay and whether batch-norm parameters decay,
seed, step, dropout rate, the max pooling's second scale, and where the case has Mixup its
given draw: `mixup_lambda` and `mixup_perm`).

sturdy's step is PyTorch's: soft-target cross-entropy (`F.cross_entropy` with a
probability vector per row: the labels' one-hot rows, or with Mixup those rows blended as
the images are, lambda t[n] + (1 - lambda) t[perm[n]], as shaders/mixup.wgsl does),
`torch.optim.SGD` (dampening 0, sturdy's `ops::sgd` documents the same update), batch-norm parameters in a group of their own
whose weight decay is 0 unless `decay_norm`, batch norm with momentum 0.1 and eps 1e-5
(biased batch variance to normalise, unbiased stored). The PANN polynomials are sturdy's:
`sturdy approx --json` files committed beside the fixtures. Run from the repository root:

    sturdy approx --alpha 7 --json tests/fixtures/torch/parity/relu7.json    (and 12)
    /usr/bin/python3 interop/torch/reference.py
"""

import copy
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
import sturdy_torch  # noqa: E402
from make_fixtures import randomise  # noqa: E402

OUT = os.path.join("tests", "fixtures", "torch", "parity")
ALPHAS = (7, 12)
CLASSES = 10
# sturdy's ops::poly_relu::MAX_POOL_SECOND_SCALE; the fixture records it and the Rust test
# checks it against sturdy's.
MAX_POOL_SECOND_SCALE = 1.125
# Each site's bound is this times the largest |input| the exact network gives it: room for
# the PANN's own error, so that no input of the PANN lies beyond its bound (checked below).
BOUND_MARGIN = 1.5
# sturdy's dropout streams come after the sites' noise streams (nn::MAX_SITES + index);
# the Rust test draws the masks again from nn::MAX_SITES.
MAX_SITES = 1024

# The VGG has no shortcuts; sturdy's model settings want one all the same.
CASES = [
    dict(case="resnet20_a", model="resnet20", shortcut="a", width=0.125, channels=3, side=8,
         momentum=0.9, nesterov=False, decay_norm=False),
    dict(case="resnet20_b", model="resnet20", shortcut="b", width=0.125, channels=3, side=8,
         momentum=0.9, nesterov=True, decay_norm=True),
    dict(case="vgg11", model="vgg11", shortcut="a", width=0.015625, channels=3, side=32,
         momentum=0.9, nesterov=True, decay_norm=False, dropout_rate=0.5, seed=77, step=3),
    dict(case="smallcnn", model="smallcnn", shortcut="b", width=0.25, channels=1, side=28,
         momentum=0.0, nesterov=False, decay_norm=True, mixup_lambda=0.6875, mixup_perm=[2, 0, 3, 1]),
]
BATCH, LR, WEIGHT_DECAY = 4, 0.05, 0.05


def f32(value):
    """`value` rounded to f32, as sturdy holds it."""
    return torch.tensor(value, dtype=torch.float32).item()


U32 = 0xFFFFFFFF


def pcg_hash(v):
    """shaders/common/random.wgsl's pcg_hash, in u32 arithmetic."""
    state = (v * 747796405 + 2891336453) & U32
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & U32
    return (word >> 22) ^ word


def random_key(stream, seed, step):
    """random.wgsl's random_key: pcg_hash(stream + pcg_hash(step + pcg_hash(seed_hi + pcg_hash(seed_lo))))."""
    key = pcg_hash(seed & U32)
    for word in (seed >> 32, step, stream):
        key = pcg_hash((word + key) & U32)
    return key


def dropout_mask(seed, step, stream, rate, shape):
    """sturdy's dropout mask (shaders/dropout.wgsl): element i is kept where its word
    draw(key, i) = pcg_hash(pcg_hash(i) + key) is at least round(rate 2^32)."""
    key, drop_below = random_key(stream, seed, step), round(rate * 2**32)
    kept = [pcg_hash((pcg_hash(i) + key) & U32) >= drop_below for i in range(torch.Size(shape).numel())]
    return torch.tensor(kept, dtype=torch.float64).reshape(shape)


class FixedDropout(nn.Module):
    """Dropout with a given mask; kept elements are scaled by 1 / (1 - rate) in f32, as sturdy's."""

    def __init__(self, mask, rate):
        super().__init__()
        self.mask, self.scale = mask, f32(1.0 / (1.0 - rate))

    def forward(self, x):
        return x * self.mask * self.scale if self.training else x


def optimiser(model, spec):
    """torch.optim.SGD with the batch-norm scales and shifts in a group of their own."""
    norm = [p for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters(recurse=False)]
    rest = [p for p in model.parameters() if all(p is not q for q in norm)]
    decay = f32(WEIGHT_DECAY)
    groups = [dict(params=rest, weight_decay=decay),
              dict(params=norm, weight_decay=decay if spec["decay_norm"] else 0.0)]
    return torch.optim.SGD(groups, lr=f32(LR), momentum=f32(spec["momentum"]), nesterov=spec["nesterov"])


def gradients(model, images, targets):
    """Every parameter's gradient in training mode, rounded to f16 (a copy: the model is left as it was)."""
    probe = copy.deepcopy(model)
    loss = F.cross_entropy(probe(images), targets)
    loss.backward()
    return {name: p.grad.detach().half().double() for name, p in probe.named_parameters()}


def site_inputs(model, images):
    """The input of every PANN site of `model`, in site order, on `images`."""
    seen = {}
    names = sturdy_torch.site_names(model)
    hooks = [model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, i[0]))
             for n in names]
    with torch.no_grad():
        logits = model(images)
    for hook in hooks:
        hook.remove()
    return logits, [seen[n] for n in names]


def pann_logits(model, images, bounds):
    """The PANN's logits at each alpha; fails if an input leaves its bound (nothing clamps)."""
    results = {}
    for alpha in ALPHAS:
        with open(os.path.join(OUT, f"relu{alpha}.json")) as f:
            relu = json.load(f)
        pann = sturdy_torch.with_pann(model, relu, bounds.tolist(), MAX_POOL_SECOND_SCALE)
        logits, inputs = site_inputs(pann, images)
        for name, x, bound in zip(sturdy_torch.site_names(pann), inputs, bounds.tolist()):
            assert x.abs().max() <= bound, f"alpha {alpha}: {name} sees {x.abs().max()} > {bound}"
        results[f"pann{alpha}.logits"] = logits
    return results


def pann_reference(model, images):
    model.eval()
    _, inputs = site_inputs(model, images)
    bounds = torch.tensor([f32(BOUND_MARGIN * x.abs().max().item()) for x in inputs], dtype=torch.float64)
    return {"pann.bounds": bounds, **pann_logits(model, images, bounds)}


def install_dropout(model, spec):
    """Replaces the VGG's dropout layers by sturdy's masks; returns the masks by name."""
    features = model.linear1.in_features
    shapes = {"dropout1": (BATCH, features), "dropout2": (BATCH, model.linear2.in_features)}
    masks = {}
    for stream, (name, shape) in enumerate(shapes.items()):
        mask = dropout_mask(spec["seed"], spec["step"], MAX_SITES + stream, spec["dropout_rate"], shape)
        setattr(model, name, FixedDropout(mask, spec["dropout_rate"]))
        masks[f"{name}.mask"] = mask
    return masks


def training_step(model, spec, images, targets, velocities):
    """One step in training mode; returns the logits, the loss and the gradients."""
    model.train()
    sgd = optimiser(model, spec)
    for name, p in model.named_parameters():
        if name in velocities:
            sgd.state[p]["momentum_buffer"] = velocities[name].clone()
    logits = model(images)
    loss = F.cross_entropy(logits, targets)
    sgd.zero_grad()
    loss.backward()
    grads = {f"grad.{name}": p.grad.detach().clone() for name, p in model.named_parameters()}
    sgd.step()
    return {"logits": logits.detach(), "loss": loss.detach().reshape(1), **grads}


def mixup(spec, images, targets):
    """The batch sturdy trains on: with the case's Mixup draw, image and target n become
    lambda x[n] + (1 - lambda) x[perm[n]] (shaders/mixup.wgsl); without, the batch itself."""
    if "mixup_lambda" not in spec:
        return images, targets
    lam, perm = spec["mixup_lambda"], spec["mixup_perm"]
    assert f32(lam) == lam and 0 < lam < 1 and sorted(perm) == list(range(BATCH))
    return (lam * images + (1 - lam) * images[perm], lam * targets + (1 - lam) * targets[perm])


def metadata(spec):
    """The case's settings (the f32 values sturdy holds) as one JSON string: one key, so
    that the file is the same bit for bit each time (safetensors orders keys at random)."""
    settings = dict(spec, batch=BATCH, classes=CLASSES, lr=f32(LR), weight_decay=f32(WEIGHT_DECAY),
                    momentum=f32(spec["momentum"]), max_pool_second_scale=MAX_POOL_SECOND_SCALE, alphas=ALPHAS)
    return {"settings": json.dumps(settings, sort_keys=True)}


def draw_case(spec, generator):
    """The case's given values, f16 values held in f64: the model's weights and statistics,
    the batch, its one-hot targets, the velocities and the VGG's dropout masks."""
    model = sturdy_torch.build(spec["model"], shortcut=spec["shortcut"], width=spec["width"],
                               in_channels=spec["channels"], image=spec["side"])
    with torch.no_grad():
        randomise(model, generator)
    model = model.half().double()
    shape = (BATCH, spec["channels"], spec["side"], spec["side"])
    images = torch.randn(shape, generator=generator).half().double()
    labels = torch.randint(0, CLASSES, (BATCH,), generator=generator)
    masks = install_dropout(model, spec) if "dropout_rate" in spec else {}
    # The velocities a previous step would leave: the gradients of another batch.
    model.train()
    other = torch.randn(shape, generator=generator).double()
    other_targets = F.one_hot(torch.randint(0, CLASSES, (BATCH,), generator=generator), CLASSES).double()
    velocities = gradients(model, other, other_targets) if spec["momentum"] > 0 else {}
    given = {k: v.clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    given.update({f"velocity.{name}": v for name, v in velocities.items()})
    given.update({**masks, "input": images, "labels": labels.double()})
    return model, given, velocities


def write_case(spec, generator):
    model, given, velocities = draw_case(spec, generator)
    images, targets = given["input"], F.one_hot(given["labels"].long(), CLASSES).double()
    computed = pann_reference(model, images)  # before the step changes the weights
    computed.update(training_step(model, spec, *mixup(spec, images, targets), velocities))
    computed.update({f"after.{k}": v for k, v in model.state_dict().items() if v.is_floating_point()})
    tensors = {**{k: v.half() for k, v in given.items()}, **{k: v.float() for k, v in computed.items()}}
    path = os.path.join(OUT, f"{spec['case']}.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=metadata(spec))
    print(spec["case"], "loss", computed["loss"].item(), "size", os.path.getsize(path))


def main():
    generator = torch.Generator().manual_seed(2026)
    for spec in CASES:
        write_case(spec, generator)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Training-step speed of sturdy's models in PyTorch, for a side-by-side figure.

Measures what `sturdy bench --only steps` measures (src/bench/steps.rs): whole
training steps on random data, batch 128, f32, after warm-up steps, reported as
images/s from the median step time. One step is: copy the batch to the device,
forward in training mode (batch norm on batch statistics), soft-target
cross-entropy -(t * log_softmax(z)).sum(1).mean() with one-hot targets built from
the labels on the device, the running loss/accuracy sums, backward, and SGD
(lr 0.01, momentum 0.9, weight decay 5e-4 on every parameter except batch norm's,
like sturdy's decay_norm = false).

The models follow src/models/ and src/nn/ layer for layer, with sturdy's tensor
names (stem.conv.weight, stage1.block0.conv1.weight, ..., fc.bias):
  - stem: conv 3x3 (stride 1, padding 1, no bias) -> batch norm -> ReLU;
  - basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), convs 3x3
    padding 1 without bias, conv1 carries the stride; where the shape changes the
    shortcut is option A (sturdy's default, `--shortcut a`: every other row and column,
    zero channels on both sides, no parameters) or option B (`--shortcut b`: a 1x1
    strided conv without bias + batch norm);
  - resnet20: stem 16, three stages of 3 blocks (16, 32, 64 channels, stages 2
    and 3 start with stride 2), on 3x32x32;
  - smallcnn: stem 16, then two blocks of stride 2 (16 and 32 channels), on 1x28x28;
  - classifier: global average pooling, linear to 10 classes (with bias).
Batch norm: eps 1e-5, momentum 0.1 (PyTorch's defaults and sturdy's). Conv
weights are He-normal, linear layers PyTorch's default, as in sturdy.

On CUDA: plain f32 (TF32 off in convolutions and matmuls), and cuDNN's benchmark
mode on, so that PyTorch times its algorithms per shape as sturdy times its kernel
variants (the warm-up steps pay for both).

Parameter counts: sturdy prints none. `--check` prints this script's; to compare
with sturdy, pass a checkpoint written by `sturdy train --out DIR` with
`--check --checkpoint DIR/checkpoint.safetensors --model smallcnn [--width W]`:
its trainable tensors (all but *.momentum_buffer, *.running_mean, *.running_var,
sites.*) are counted and compared by name and shape. For ResNet-20 the "weights"
row of `sturdy bench --only memory` is also the count: MiB = 4 * count / 2^20.

Example: /usr/bin/python3 bench/peers/torch_step.py --device cpu --threads 2
"""

import argparse
import json
import math
import statistics
import struct
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F

CLASSES = 10
INPUTS = {"resnet20": (3, 32, 32), "smallcnn": (1, 28, 28)}


def scaled(channels, width):
    """sturdy's models::scaled: round half away from zero, at least 1."""
    return max(1, math.floor(channels * width + 0.5))


def conv(in_channels, out_channels, kernel, stride):
    layer = nn.Conv2d(in_channels, out_channels, kernel, stride, padding=kernel // 2, bias=False)
    nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
    return layer


class ConvBnRelu(nn.Module):
    def __init__(self, in_channels, channels):
        super().__init__()
        self.conv = conv(in_channels, channels, 3, 1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Shortcut(nn.Module):
    def __init__(self, in_channels, channels, stride):
        super().__init__()
        self.conv = conv(in_channels, channels, 1, stride)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.bn(self.conv(x))


class PadShortcut(nn.Module):
    """Option A: F.pad(x[:, :, ::2, ::2], ...) with (C' - C) / 2 zero channels in front, the rest behind."""

    def __init__(self, in_channels, channels):
        super().__init__()
        self.before = (channels - in_channels) // 2
        self.after = channels - in_channels - self.before

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.before, self.after))


class BasicBlock(nn.Module):
    def __init__(self, in_channels, channels, stride, shortcut):
        super().__init__()
        self.conv1 = conv(in_channels, channels, 3, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv(channels, channels, 3, 1)
        self.bn2 = nn.BatchNorm2d(channels)
        needs_projection = stride != 1 or in_channels != channels
        self.shortcut = None
        if needs_projection:
            self.shortcut = PadShortcut(in_channels, channels) if shortcut == "a" else Shortcut(in_channels, channels, stride)

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class Network(nn.Module):
    """stem, residual blocks (added by the builders under sturdy's names), classifier."""

    def __init__(self, in_channels, stem_channels):
        super().__init__()
        self.stem = ConvBnRelu(in_channels, stem_channels)
        self.blocks = []

    def add_block(self, parent, name, block):
        parent.add_module(name, block)
        self.blocks.append(block)

    def finish(self, channels):
        self.fc = nn.Linear(channels, CLASSES)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.fc(x.mean((2, 3)))


def resnet20(width=1.0, shortcut="a"):
    stem = scaled(16, width)
    net = Network(3, stem)
    channels_in = stem
    for stage, channels in enumerate([16, 32, 64]):
        holder = nn.Module()
        net.add_module(f"stage{stage + 1}", holder)
        channels = scaled(channels, width)
        for index in range(3):
            stride = 2 if stage > 0 and index == 0 else 1
            net.add_block(holder, f"block{index}", BasicBlock(channels_in, channels, stride, shortcut))
            channels_in = channels
    net.finish(channels_in)
    return net


def smallcnn(width=1.0, shortcut="a"):
    stem = scaled(16, width)
    net = Network(1, stem)
    channels_in = stem
    for index, channels in enumerate([16, 32]):
        channels = scaled(channels, width)
        net.add_block(net, f"block{index}", BasicBlock(channels_in, channels, 2, shortcut))
        channels_in = channels
    net.finish(channels_in)
    return net


BUILDERS = {"resnet20": resnet20, "smallcnn": smallcnn}


def optimiser(net):
    """SGD with weight decay on every parameter but batch norm's (decay_norm = false)."""
    norm = [p for m in net.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()]
    norm_ids = {id(p) for p in norm}
    rest = [p for p in net.parameters() if id(p) not in norm_ids]
    groups = [{"params": rest, "weight_decay": 5e-4}, {"params": norm, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=0.01, momentum=0.9, nesterov=False)


def step_timer(net, opt, images, labels, device, batch):
    """A function running one training step and returning its wall time in seconds."""
    x = torch.empty(images.shape, device=device)
    y = torch.empty(labels.shape, dtype=torch.long, device=device)
    totals = torch.zeros(3, device=device)
    count = torch.tensor(float(batch), device=device)

    def step():
        start = time.perf_counter()
        x.copy_(images)
        y.copy_(labels)
        targets = F.one_hot(y, CLASSES).float()
        logits = net(x)
        loss = -(targets * F.log_softmax(logits, 1)).sum(1).mean()
        with torch.no_grad():
            correct = (logits.argmax(1) == y).sum()
            totals.add_(torch.stack([loss * batch, correct.float(), count]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    return step


def measure(name, device, args):
    torch.manual_seed(0x5EED)
    net = BUILDERS[name](args.width, args.shortcut).to(device).train()
    opt = optimiser(net)
    images = torch.rand((args.batch,) + INPUTS[name]) * 2 - 1
    labels = torch.randint(0, CLASSES, (args.batch,))
    step = step_timer(net, opt, images, labels, device, args.batch)
    for _ in range(args.warmup):
        step()
    times = [step() for _ in range(args.steps)]
    return args.batch / statistics.median(times), min(times), max(times)


def checkpoint_params(path):
    """Trainable tensors {name: shape} of a sturdy checkpoint (a safetensors file)."""
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    skip = (".momentum_buffer", ".running_mean", ".running_var")
    return {
        name: tuple(entry["shape"])
        for name, entry in header.items()
        if name != "__metadata__" and not name.endswith(skip) and not name.startswith("sites.")
    }


def check(models, args):
    """Prints each model's parameter count; compares with a sturdy checkpoint if given."""
    for name in models:
        net = BUILDERS[name](args.width, args.shortcut)
        count = sum(p.numel() for p in net.parameters())
        print(f"{name} parameters {count} tensors {len(list(net.parameters()))} width {args.width:g}")
    if args.checkpoint is None:
        return 0
    if len(models) != 1:
        sys.exit("torch_step.py: --checkpoint needs one --model (resnet20 or smallcnn)")
    ours = {n: tuple(p.shape) for n, p in BUILDERS[models[0]](args.width, args.shortcut).named_parameters()}
    theirs = checkpoint_params(args.checkpoint)
    count = sum(math.prod(shape) for shape in theirs.values())
    print(f"sturdy checkpoint parameters {count} tensors {len(theirs)}")
    differences = sorted(
        f"  {n}: torch {ours.get(n, 'missing')}, sturdy {theirs.get(n, 'missing')}"
        for n in set(ours) | set(theirs)
        if ours.get(n) != theirs.get(n)
    )
    print("names and shapes match" if not differences else "differences:\n" + "\n".join(differences))
    return 1 if differences else 0


def pick_device(name):
    if name == "cuda" and not torch.cuda.is_available():
        sys.exit("torch_step.py: --device cuda asked for, but torch.cuda.is_available() is False "
                 f"(torch {torch.__version__}, CUDA build {torch.version.cuda})")
    if name == "cuda":
        # Plain f32 like sturdy: no TF32 in convolutions (cuDNN's default) or matmuls.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        # cuDNN times its algorithms at each shape's first use, as sturdy times its kernel
        # variants (the warm-up steps pay for it): PyTorch at its fastest in eager mode.
        torch.backends.cudnn.benchmark = True
    return torch.device(name)


def parse_args():
    parser = argparse.ArgumentParser(
        description="Images/s of full PyTorch training steps of sturdy's ResNet-20 and small CNN.",
        epilog="Example: /usr/bin/python3 bench/peers/torch_step.py --device cpu --threads 2",
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--model", choices=["all"] + list(BUILDERS), default="all")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier, as sturdy's --width")
    parser.add_argument("--shortcut", choices=["a", "b"], default="a", help="residual shortcuts, as sturdy's --shortcut")
    parser.add_argument("--check", action="store_true", help="print parameter counts instead of timing")
    parser.add_argument("--checkpoint", help="with --check: a sturdy checkpoint.safetensors to compare with")
    args = parser.parse_args()
    if args.batch < 2 or args.steps < 1 or args.warmup < 0 or not 0 < args.width <= 16:
        parser.error("need --batch >= 2, --steps >= 1, --warmup >= 0 and 0 < --width <= 16")
    return args


def main():
    args = parse_args()
    models = list(BUILDERS) if args.model == "all" else [args.model]
    if args.check:
        return check(models, args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"# torch {torch.__version__}, python {sys.version.split()[0]}, device {device.type} ({where}), "
          f"batch {args.batch}, median of {args.steps} steps after {args.warmup} warm-up")
    for name in models:
        rate, fastest, slowest = measure(name, device, args)
        print(f"{name} images/s {rate:.1f}")
        print(f"# {name} step ms min-max {fastest * 1e3:.1f}-{slowest * 1e3:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

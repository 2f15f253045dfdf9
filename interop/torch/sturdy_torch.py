"""sturdy's models in PyTorch, with approxCNN's module names (snu-ccl/approxCNN,
models/resnet_cifar10.py and models/vgg_cifar10.py), so that

    model.load_state_dict(safetensors.torch.load_file("weights.safetensors"))

takes what `sturdy export --format torch` writes, and `sturdy import torch` takes
`safetensors.torch.save_file(model.state_dict(), FILE)` of these modules.

Channel counts are the published ones times `width` (rounded, at least 1), as sturdy's
`--width`. `PannRelu` is the PANN activation of a `sturdy export` manifest.
"""

import copy
import json

import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled(channels, width):
    """sturdy's models::scaled: the published count times width, rounded, at least 1."""
    return max(1, int(round(channels * width)))


class ZeroPadShortcut(nn.Module):
    """Option A (He et al.): every other row and column, zero channels on both sides.
    (planes - in) // 2 in front and the rest behind: planes // 4 each for planes = 2 in."""

    def __init__(self, in_planes, planes):
        super().__init__()
        self.before = (planes - in_planes) // 2
        self.after = planes - in_planes - self.before

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.before, self.after), "constant", 0)


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride, option):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            if option == "a":
                self.shortcut = ZeroPadShortcut(in_planes, planes)
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
                )

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet-(6n+2); `stages` lists (channels, blocks, first stride) per stage."""

    def __init__(self, stages, option="a", width=1.0, in_channels=3, num_classes=10):
        super().__init__()
        planes = scaled(16, width)
        self.conv1 = nn.Conv2d(in_channels, planes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        for index, (channels, blocks, stride) in enumerate(stages):
            layers = []
            for block in range(blocks):
                out = scaled(channels, width)
                layers.append(BasicBlock(planes, out, stride if block == 0 else 1, option))
                planes = out
            setattr(self, f"layer{index + 1}", nn.Sequential(*layers))
        self.num_stages = len(stages)
        self.linear = nn.Linear(planes, num_classes)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        for index in range(self.num_stages):
            out = getattr(self, f"layer{index + 1}")(out)
        out = F.avg_pool2d(out, out.size()[2:])
        return self.linear(out.flatten(1))


def resnet(depth, **kwargs):
    n = (depth - 2) // 6
    return ResNet([(16, n, 1), (32, n, 2), (64, n, 2)], **kwargs)


def small_cnn(**kwargs):
    """sturdy's smallcnn: the stem and two strided blocks of 16 and 32 channels."""
    return ResNet([(16, 1, 2), (32, 1, 2)], **kwargs)


VGG_CONFIGS = {
    "vgg": [64, 64, "M", 128, 128, "M", 256, 256, "M"],
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def features(config, width, in_channels, bias):
    layers = []
    for entry in config:
        if entry == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            out = scaled(entry, width)
            layers += [nn.Conv2d(in_channels, out, 3, padding=1, bias=bias), nn.BatchNorm2d(out), nn.ReLU()]
            in_channels = out
    return nn.Sequential(*layers), in_channels


class VGG(nn.Module):
    """approxCNN's VGG-BN: conv biases, five max pools, dropout, 512-512-classes."""

    def __init__(self, name, width=1.0, in_channels=3, num_classes=10, image=32):
        super().__init__()
        config = VGG_CONFIGS[name]
        self.features, channels = features(config, width, in_channels, bias=True)
        side = image >> config.count("M")
        hidden = scaled(512, width)
        self.dropout1, self.dropout2 = nn.Dropout(0.5), nn.Dropout(0.5)
        self.linear1 = nn.Linear(channels * side * side, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, num_classes)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()

    def forward(self, x):
        out = self.features(x).flatten(1)
        out = self.relu1(self.linear1(self.dropout1(out)))
        out = self.relu2(self.linear2(self.dropout2(out)))
        return self.linear3(out)


class SmallVGG(nn.Module):
    """sturdy's small vgg: three conv-BN-ReLU pairs with max pools, global pooling, linear."""

    def __init__(self, width=1.0, in_channels=3, num_classes=10):
        super().__init__()
        self.features, channels = features(VGG_CONFIGS["vgg"], width, in_channels, bias=False)
        self.linear = nn.Linear(channels, num_classes)

    def forward(self, x):
        out = self.features(x)
        return self.linear(F.avg_pool2d(out, out.size()[2:]).flatten(1))


def build(model, shortcut="a", width=1.0, in_channels=3, num_classes=10, image=32):
    """The module sturdy's `--model model --shortcut shortcut --width width` names."""
    if model.startswith("resnet"):
        return resnet(int(model[6:]), option=shortcut, width=width, in_channels=in_channels,
                      num_classes=num_classes)
    if model == "smallcnn":
        return small_cnn(option=shortcut, width=width, in_channels=in_channels, num_classes=num_classes)
    if model == "vgg":
        return SmallVGG(width=width, in_channels=in_channels, num_classes=num_classes)
    return VGG(model, width=width, in_channels=in_channels, num_classes=num_classes, image=image)


def clenshaw(coefficients, t):
    """sum_k c_k T_k(t) by Clenshaw's recurrence (full c_0, numpy's convention)."""
    b1 = torch.zeros_like(t)
    b2 = torch.zeros_like(t)
    for c in reversed(coefficients[1:]):
        b1, b2 = 2 * t * b1 - b2 + c, b1
    return t * b1 - b2 + coefficients[0]


class PannRelu(nn.Module):
    """ReLU(x) ~= x (1 + p(x / B)) / 2, p the composite polynomial of a `sturdy export`
    manifest's "relu" (each component a Chebyshev series on [-radius, radius]), B this
    site's bound. Inputs beyond B make p explode, as under encryption: nothing clamps."""

    def __init__(self, relu, bound):
        super().__init__()
        self.components = [(c["radius"], c["chebyshev"]) for c in relu["components"]]
        self.bound = bound

    def sign(self, u):
        for radius, coefficients in self.components:
            u = clenshaw(coefficients, u / radius)
        return u

    def forward(self, x):
        return x * (1 + self.sign(x / self.bound)) / 2


def load_manifest(path):
    with open(path) as f:
        return json.load(f)


class PannMaxPool(nn.Module):
    """sturdy's PANN 2x2 max pooling (`ops::poly_relu::max_pool_forward`): the window
    (a, b; c, d) gives max(max(a, b), max(c, d)), each max(a, b) ~= ((a + b) + d p(d / D)) / 2
    with d = a - b, D = 2B for the two first maxima and D = 2B second_scale for the last one
    (a `sturdy export` manifest's `max_pool.scales_over_bound` is [2, 2 second_scale]).
    Nothing clamps: B must bound the inputs."""

    def __init__(self, relu, bound, second_scale):
        super().__init__()
        self.sign = PannRelu(relu, 1.0).sign
        self.scales = (2 * bound, 2 * bound * second_scale)

    def pair(self, a, b, scale):
        d = a - b
        return ((a + b) + d * self.sign(d / scale)) / 2

    def forward(self, x):
        x = x[:, :, : x.shape[2] // 2 * 2, : x.shape[3] // 2 * 2]
        upper = self.pair(x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2], self.scales[0])
        lower = self.pair(x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2], self.scales[0])
        return self.pair(upper, lower, self.scales[1])


def site_names(model):
    """The modules a PANN replaces (every ReLU and max pooling), in sturdy's site order:
    the order they are declared, which is the order the forward pass reaches them."""
    return [name for name, module in model.named_modules() if isinstance(module, (nn.ReLU, nn.MaxPool2d))]


def with_pann(model, relu, bounds, second_scale):
    """A copy of `model` whose site i (in `site_names` order) is the PANN of `relu` (a
    `sturdy approx --json` file or a manifest's "relu") with bound `bounds[i]`."""
    pann = copy.deepcopy(model)
    names = site_names(pann)
    if len(names) != len(bounds):
        raise ValueError(f"{len(bounds)} bounds for {len(names)} sites")
    for name, bound in zip(names, bounds):
        parent, _, leaf = name.rpartition(".")
        owner = pann.get_submodule(parent)
        is_relu = isinstance(getattr(owner, leaf), nn.ReLU)
        setattr(owner, leaf, PannRelu(relu, bound) if is_relu else PannMaxPool(relu, bound, second_scale))
    return pann

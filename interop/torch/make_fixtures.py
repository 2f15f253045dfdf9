"""Writes the PyTorch fixtures of tests/torch_interop.rs into tests/fixtures/torch/:
for each case a state dict (`<case>.safetensors`, as `save_file(model.state_dict(), FILE)`
writes it, in the case's dtype) and `<case>.expected.safetensors` holding two input
images and the eval-mode logits PyTorch computes for them from those weights. (The
training step and the PANN against PyTorch: interop/torch/reference.py, which shares
`randomise`.)

Weights, biases and batch-norm statistics are all random (seeded), so that a name, a
layout or a statistic read wrongly moves the logits. Run from the repository root:

    python3 interop/torch/make_fixtures.py   (PyTorch and `pip install safetensors`)
"""

import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
import sturdy_torch  # noqa: E402

OUT = os.path.join("tests", "fixtures", "torch")

# (case, model, shortcut, width, input channels and side, dtype)
CASES = [
    ("resnet20_a", "resnet20", "a", 0.25, 3, 32, torch.float32),
    ("smallcnn_b", "smallcnn", "b", 0.5, 1, 28, torch.float64),
    ("vgg11", "vgg11", "a", 0.0625, 3, 32, torch.float16),
]


def randomise(model, generator):
    for name, tensor in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            tensor.fill_(7)
        elif name.endswith("running_var"):
            tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
        elif name.endswith("running_mean") or name.endswith("bias"):
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.2)
        elif tensor.dim() == 1:  # batch-norm scales
            tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
        else:
            fan_in = tensor[0].numel()
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * (2.0 / fan_in) ** 0.5)


def main():
    os.makedirs(OUT, exist_ok=True)
    generator = torch.Generator().manual_seed(2024)
    for case, model_name, shortcut, width, channels, side, dtype in CASES:
        model = sturdy_torch.build(model_name, shortcut=shortcut, width=width, in_channels=channels, image=side)
        with torch.no_grad():
            randomise(model, generator)
            state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in model.state_dict().items()}
            # The logits of the weights as stored (rounded to the file's dtype).
            model.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()})
            model.eval()
            images = torch.randn((2, channels, side, side), generator=generator)
            logits = model(images)
        save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(OUT, f"{case}.safetensors"))
        save_file({"input": images, "logits": logits}, os.path.join(OUT, f"{case}.expected.safetensors"))
        print(case, sum(v.numel() for v in state.values()), "values")


if __name__ == "__main__":
    main()

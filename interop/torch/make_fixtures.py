"""Writes the PyTorch fixtures of tests/torch_interop.rs into tests/fixtures/torch/:
for each case a state dict (`<case>.safetensors`, as `save_file(model.state_dict(), FILE)`
writes it, in the case's dtype) and `<case>.expected.safetensors` holding two input
images and the eval-mode logits PyTorch computes for them from those weights; and for
the ResNet-20 `resnet20_a.steps.safetensors`: a batch, its labels (as f32), the losses of
two SGD steps from those weights in training mode and every tensor after them
(`after.<name>`), for tests/torch_training_step.rs.

Weights, biases and batch-norm statistics are all random (seeded), so that a name, a
layout or a statistic read wrongly moves the logits. Run from the repository root:

    python3 interop/torch/make_fixtures.py   (PyTorch and `pip install safetensors`)
"""

import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file as safetensors_load
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
    training_steps(generator)


# The training steps' settings; tests/torch_training_step.rs uses the same.
STEP_LR, STEP_MOMENTUM, STEP_WEIGHT_DECAY, STEP_BATCH, STEPS = 0.05, 0.9, 5e-4, 8, 2


def training_steps(generator):
    """Two SGD steps of PyTorch's semantics on the ResNet-20 fixture, every parameter decayed."""
    model = sturdy_torch.build("resnet20", shortcut="a", width=0.25)
    state = safetensors_load(os.path.join(OUT, "resnet20_a.safetensors"))
    model.load_state_dict(state)
    model.train()
    images = torch.randn((STEP_BATCH, 3, 32, 32), generator=generator)
    labels = torch.randint(0, 10, (STEP_BATCH,), generator=generator)
    optimiser = torch.optim.SGD(
        model.parameters(), lr=STEP_LR, momentum=STEP_MOMENTUM, weight_decay=STEP_WEIGHT_DECAY
    )
    losses = []
    for _ in range(STEPS):
        optimiser.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    after = {f"after.{k}": v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    tensors = {"images": images, "labels": labels.to(torch.float32), "losses": torch.tensor(losses), **after}
    save_file(tensors, os.path.join(OUT, "resnet20_a.steps.safetensors"))
    print("training steps: losses", losses)


if __name__ == "__main__":
    main()

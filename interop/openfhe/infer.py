"""Encrypted inference of a sturdy HE-ready export under CKKS (OpenFHE), image by image.

Reads STEM.json and its weights (`sturdy export --he`), encrypts N test images, runs the
whole network on ciphertexts, decrypts the logits and compares them with sturdy's own
f64 evaluation of the export (`sturdy predict --export STEM --no-clamp`, which also
writes the exact inputs it evaluated). The packing and what each op costs are described
once, in sturdy's src/export/he_cost.rs; this runner counts what it does and checks the
counts, and the levels it measures, against the export's `he_cost`.

Packing: one ciphertext per channel; a [C, H, W] map lies on the input's H0 x W0 grid,
value (i, j) at slot g (i W0 + j), where the gap g doubles at each stride-2 convolution.
Every slot off the map holds 0: convolution masks zero them.
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import openfhe as fhe

import simulate

FORMAT = "sturdy-pann-export/2"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Refusal(Exception):
    """Bad input: the message names the problem and the fix."""


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise Refusal(f"{path}: tensor {name} is {info['dtype']}, sturdy exports f32")
        start, end = info["data_offsets"]
        raw = data[8 + length + start : 8 + length + end]
        tensors[name] = np.frombuffer(raw, dtype="<f4").astype(np.float64).reshape(info["shape"])
    return tensors


def load_export(stem):
    path = stem + ".json"
    if not os.path.exists(path):
        raise Refusal(f"{path} does not exist: pass the FILE_STEM given to `sturdy export --he --out`")
    with open(path) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise Refusal(f"{path} is a {manifest.get('format')} export; this runner reads {FORMAT}: "
                      "export the run again with this sturdy (`sturdy export --he ...`)")
    if not manifest["activation"]["bounds_folded_into_weights"] or "he_cost" not in manifest:
        raise Refusal(f"{path} is in the plain layout: export it with `sturdy export --he`")
    weights = os.path.join(os.path.dirname(path), manifest["weights"])
    if not os.path.exists(weights):
        raise Refusal(f"{path} names the weights file {weights}, which is missing: keep the two files side by side")
    return manifest, read_safetensors(weights)


def sturdy_binary(explicit):
    if explicit:
        return explicit
    if os.environ.get("STURDY"):
        return os.environ["STURDY"]
    built = os.path.join(REPO, "target", "release", "sturdy")
    return built if os.path.exists(built) else "sturdy"


def reference(args, scratch):
    """sturdy's f64 logits and the normalised inputs it evaluated, for the first N images."""
    out, inputs = os.path.join(scratch, "reference.csv"), os.path.join(scratch, "inputs.npy")
    command = [sturdy_binary(args.sturdy), "predict", "--export", args.export, "--no-clamp",
               "--limit", str(args.images), "--out", out, "--save-inputs", inputs]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise Refusal(f"`{' '.join(command)}` failed:\n{done.stderr.strip()}")
    rows = np.loadtxt(out, delimiter=",", skiprows=1, ndmin=2)
    return rows[:, 1].astype(int), rows[:, 3:], np.load(inputs)


class Runner:
    """A CKKS context for one export, and the network on ciphertexts, counting its work."""

    def __init__(self, manifest, weights, args):
        self.manifest, self.weights = manifest, weights
        _, self.h0, self.w0 = manifest["input"]["shape"]
        self.slots = 1 << (self.h0 * self.w0 - 1).bit_length()
        self.depth = manifest["he_cost"]["depth"]
        budget = args.depth if args.depth is not None else self.depth
        if budget < self.depth:
            raise Refusal(f"the export needs a level budget of {self.depth} (he_cost.depth: its alphas "
                          f"{sorted({s['alpha'] for s in manifest['sites']})}), --depth gives {budget}: "
                          f"pass --depth {self.depth} or more, or export a lower alpha")
        self.cc = simulate.PlainContext(self.slots) if args.simulate else self.context(args, budget)
        if not args.simulate:
            self.check_memory(budget)
        for feature in ("PKE", "KEYSWITCH", "LEVELEDSHE", "ADVANCEDSHE"):
            self.cc.Enable(getattr(fhe.PKESchemeFeature, feature))
        self.keys = self.cc.KeyGen()
        self.cc.EvalMultKeyGen(self.keys.secretKey)
        self.cc.EvalRotateKeyGen(self.keys.secretKey, sorted(self.rotations_needed()))
        self.polynomials = {p["alpha"]: p["he"] for p in [manifest["relu"], *manifest.get("polynomials", [])]}
        # OpenFHE's polynomial evaluation is opaque from Python: its ciphertext products are
        # the export's figure (OpenFHE's own formula), not counted here; its levels are measured.
        self.counts = {"rotations": 0, "plaintext_products": 0}
        self.seconds = {}

    def context(self, args, budget):
        params = fhe.CCParamsCKKSRNS()
        params.SetMultiplicativeDepth(budget)
        params.SetScalingModSize(args.scale_bits)
        params.SetFirstModSize(args.scale_bits + 10)
        params.SetBatchSize(self.slots)
        if args.insecure_small_ring:
            params.SetSecurityLevel(fhe.SecurityLevel.HEStd_NotSet)
            params.SetRingDim(2 * self.slots)
        else:
            params.SetSecurityLevel(fhe.SecurityLevel.HEStd_128_classic)
        try:
            return fhe.GenCryptoContext(params)
        except Exception as error:
            raise Refusal(f"OpenFHE cannot make 128-bit secure CKKS parameters for a level budget of {budget} "
                          f"at scale 2^{args.scale_bits} ({error}): export a lower alpha, lower --scale-bits, "
                          "or test with --insecure-small-ring") from error

    def check_memory(self, budget):
        """Refuses parameters whose keys and ciphertexts would not fit in the memory free."""
        ciphertext = 2 * (budget + 1) * self.cc.GetRingDimension() * 8
        # Hybrid key switching with OpenFHE's default 3 digits: a key is about 4 ciphertexts.
        keys = (len(self.rotations_needed()) + 1) * 4 * ciphertext
        channels = max(layer.get("output_shape", layer.get("shape", [1]))[0] for layer in self.manifest["layers"])
        need = keys + (4 * channels + 8) * ciphertext
        try:
            with open("/proc/meminfo") as f:
                free = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
        except (OSError, StopIteration):
            return
        if need > 0.8 * free:
            raise Refusal(f"ring 2^{self.ring_log2()} at depth {budget} needs about {need / 2**30:.1f} GiB "
                          f"({len(self.rotations_needed())} rotation keys of {4 * ciphertext / 2**20:.0f} MiB, "
                          f"ciphertexts of {ciphertext / 2**20:.0f} MiB), and {free / 2**30:.1f} GiB are free: run it "
                          "on a machine with more memory, export a lower alpha, or test with --insecure-small-ring")

    def ring_log2(self):
        return self.cc.GetRingDimension().bit_length() - 1

    # Counted primitives.
    def rotate(self, ct, offset):
        self.counts["rotations"] += 1
        start = time.time()
        rotated = self.cc.EvalRotate(ct, offset)
        self.seconds["rotations"] = self.seconds.get("rotations", 0.0) + time.time() - start
        return rotated

    def times_plain(self, ct, values):
        self.counts["plaintext_products"] += 1
        return self.cc.EvalMult(ct, self.cc.MakeCKKSPackedPlaintext(list(values), 1, ct.GetLevel()))

    def times_scalar(self, ct, scalar):
        self.counts["plaintext_products"] += 1
        return self.cc.EvalMult(ct, float(scalar))

    def plus_plain(self, ct, values):
        return self.cc.EvalAdd(ct, self.cc.MakeCKKSPackedPlaintext(list(values), 1, ct.GetLevel()))

    def sum(self, cts):
        total = cts[0]
        for ct in cts[1:]:
            total = self.cc.EvalAdd(total, ct)
        return total

    # Layout.
    def slot(self, gap, i, j):
        return gap * (i * self.w0 + j)

    def gaps(self):
        """The gap of every value, and each convolution's input gap."""
        gap = {"input": 1}
        for layer in self.manifest["layers"]:
            op = layer
            inputs = op.get("inputs") or [op["input"]]
            step = {"conv2d": op.get("stride", 1), "zero_pad_shortcut": 2}.get(op["op"], 1)
            gap[op["name"]] = gap[inputs[0]] * step
        return gap

    def last_uses(self):
        """The layer after which each value is read no more (the logits: none)."""
        last = {}
        for layer in self.manifest["layers"]:
            for name in layer.get("inputs") or [layer["input"]]:
                last[name] = layer["name"]
        return last

    def conv_offsets(self, layer, gap):
        k, p = layer["kernel"], layer["padding"]
        return {(dy, dx): gap * ((dy - p) * self.w0 + (dx - p)) for dy in range(k) for dx in range(k)}

    def rotations_needed(self):
        gap, needed = self.gaps(), set()
        for layer in self.manifest["layers"]:
            if layer["op"] == "conv2d":
                needed |= {o for o in self.conv_offsets(layer, gap[layer["input"]]).values() if o != 0}
            elif layer["op"] == "global_average_pool":
                needed |= {1 << s for s in range(self.slots.bit_length() - 1)}
        return needed

    def mask(self, layer, gap_in, dy, dx):
        """1 on the output grid where tap (dy, dx) reads inside the input."""
        (_, h, w), (_, ho, wo) = layer["input_shape"], layer["output_shape"]
        s, p, gap_out = layer["stride"], layer["padding"], gap_in * layer["stride"]
        values = np.zeros(self.slots)
        for i in range(ho):
            for j in range(wo):
                if 0 <= s * i + dy - p < h and 0 <= s * j + dx - p < w:
                    values[self.slot(gap_out, i, j)] = 1.0
        return values

    # Ops.
    def conv2d(self, layer, xs, gap_in):
        weight, bias = self.weights[layer["weight"]], self.weights[layer["bias"]]
        offsets = self.conv_offsets(layer, gap_in)
        masks = {tap: self.mask(layer, gap_in, *tap) for tap in offsets}
        # One rotated input alive at a time: memory for the outputs and one more ciphertext.
        out = [None] * weight.shape[0]
        for c, x in enumerate(xs):
            for (dy, dx), off in offsets.items():
                shifted = x if off == 0 else self.rotate(x, off)
                for o in range(len(out)):
                    term = self.times_plain(shifted, weight[o, c, dy, dx] * masks[dy, dx])
                    out[o] = term if out[o] is None else self.cc.EvalAdd(out[o], term)
        # The centre tap reads inside the input at every output position: its mask is the grid.
        grid = masks[(layer["padding"], layer["padding"])]
        return [self.plus_plain(total, bias[o] * grid) for o, total in enumerate(out)]

    def relu(self, layer, xs):
        he = self.polynomials[self.manifest["sites"][layer["site_index"]]["alpha"]]
        out = []
        for x in xs:
            t = x
            for component in he["components"]:
                t = self.cc.EvalChebyshevSeries(t, component["chebyshev_openfhe"], -1.0, 1.0)
            out.append(self.cc.EvalMult(x, t))
        return out

    def zero_pad_shortcut(self, layer, xs, gap_in):
        """Option A: every other row and column (the same slots on a grid of twice the gap,
        masked to it, the mask carrying input_scales) and zero channels on both sides (None:
        no ciphertext)."""
        (c, _, _), (c_out, ho, wo) = layer["input_shape"], layer["output_shape"]
        scale = (layer.get("input_scales") or [1.0])[0]
        grid = np.zeros(self.slots)
        for i in range(ho):
            for j in range(wo):
                grid[self.slot(2 * gap_in, i, j)] = scale
        before = (c_out - c) // 2
        return [None] * before + [self.times_plain(x, grid) for x in xs] + [None] * (c_out - c - before)

    def add(self, layer, a, b):
        scales = layer.get("input_scales") or [1.0, 1.0]
        scaled = lambda xs, s: [x if x is None or s == 1.0 else self.times_scalar(x, s) for x in xs]
        a, b = scaled(a, scales[0]), scaled(b, scales[1])
        return [y if x is None else x if y is None else self.cc.EvalAdd(x, y) for x, y in zip(a, b)]

    def pool(self, layer, xs):
        """The sum of each channel's slots, in slot 0 (the export folded the mean's 1 / (H W) away)."""
        out = []
        for x in xs:
            for s in range(self.slots.bit_length() - 1):
                x = self.cc.EvalAdd(x, self.rotate(x, 1 << s))
            out.append(x)
        return out

    def linear(self, layer, xs):
        weight, bias = self.weights[layer["weight"]], self.weights[layer["bias"]]
        return [self.cc.EvalAdd(self.sum([self.times_scalar(x, weight[k, c]) for c, x in enumerate(xs)]), float(bias[k]))
                for k in range(weight.shape[0])]


    def infer(self, image):
        """Encrypts one normalised image [C, H, W], runs the network, decrypts the logits."""
        gap, last_use = self.gaps(), self.last_uses()
        values = {"input": [self.cc.Encrypt(self.keys.publicKey, self.cc.MakeCKKSPackedPlaintext(
            list(np.pad(channel.reshape(-1), (0, self.slots - channel.size))))) for channel in image]}
        for layer in self.manifest["layers"]:
            op, start = layer["op"], time.time()
            inputs = [values[name] for name in (layer.get("inputs") or [layer["input"]])]
            if op == "conv2d":
                values[layer["name"]] = self.conv2d(layer, inputs[0], gap[layer["input"]])
            elif op == "relu":
                values[layer["name"]] = self.relu(layer, inputs[0])
            elif op == "add":
                values[layer["name"]] = self.add(layer, *inputs)
            elif op == "zero_pad_shortcut":
                values[layer["name"]] = self.zero_pad_shortcut(layer, inputs[0], gap[layer["input"]])
            elif op == "global_average_pool":
                values[layer["name"]] = self.pool(layer, inputs[0])
            elif op == "linear":
                values[layer["name"]] = self.linear(layer, inputs[0])
            else:
                raise Refusal(f"{layer['name']}: the runner has no {op} (export with --he a model it supports)")
            self.seconds[op] = self.seconds.get(op, 0.0) + time.time() - start
            for name in [name for name, last in last_use.items() if last == layer["name"]]:
                del values[name]
        logits = values[self.manifest["layers"][-1]["name"]]
        decrypted = []
        for ct in logits:
            plain = self.cc.Decrypt(self.keys.secretKey, ct)
            plain.SetLength(1)
            decrypted.append(plain.GetRealPackedValue()[0])
        return np.array(decrypted), max(ct.GetLevel() for ct in logits)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", required=True, help="the FILE_STEM of `sturdy export --he --out`")
    parser.add_argument("--images", type=int, default=1, help="test images to encrypt (default 1)")
    parser.add_argument("--insecure-small-ring", action="store_true",
                        help="the smallest ring that holds an image (no security: for tests)")
    parser.add_argument("--simulate", action="store_true",
                        help="run the schedule in the clear (numpy) instead of under CKKS: checks the packing")
    parser.add_argument("--depth", type=int, help="level budget (default: the export's he_cost.depth)")
    parser.add_argument("--scale-bits", type=int, default=50, help="CKKS scaling modulus bits (default 50)")
    parser.add_argument("--data-dir", help="the dataset's folder, passed to sturdy predict")
    parser.add_argument("--sturdy", help="the sturdy binary (default: $STURDY, target/release/sturdy, PATH)")
    args = parser.parse_args()
    if args.images < 1:
        raise Refusal("--images must be at least 1")
    manifest, weights = load_export(args.export)
    with tempfile.TemporaryDirectory() as scratch:
        labels, expected, inputs = reference(args, scratch)
    shape = tuple(manifest["input"]["shape"])
    if inputs.shape[1:] != shape:
        raise Refusal(f"sturdy predict gave images of shape {inputs.shape[1:]}, the export expects {shape}")
    start = time.time()
    runner = Runner(manifest, weights, args)
    print(f"ring 2^{runner.ring_log2()}, depth {runner.depth}, {len(runner.rotations_needed())} rotation keys: "
          f"{time.time() - start:.1f} s for keys", flush=True)
    worst, agree, seconds, cpu, measured_depth = 0.0, 0, [], [], 0
    for index, image in enumerate(inputs):
        runner.counts, runner.seconds = dict.fromkeys(runner.counts, 0), {}
        start, start_cpu = time.time(), time.process_time()
        logits, levels = runner.infer(image)
        seconds.append(time.time() - start)
        cpu.append(time.process_time() - start_cpu)
        measured_depth = max(measured_depth, levels)
        difference = float(np.max(np.abs(logits - expected[index])))
        same = int(np.argmax(logits)) == int(np.argmax(expected[index]))
        worst, agree = max(worst, difference), agree + same
        print(f"image {index} (label {labels[index]}): max logit diff {difference:.2e}, class {int(np.argmax(logits))} "
              f"{'=' if same else '!='} sturdy's {int(np.argmax(expected[index]))}, {seconds[-1]:.1f} s "
              f"(CPU {cpu[-1]:.1f} s), "
              f"levels {levels} (" + ", ".join(f"{op} {s:.1f} s" for op, s in runner.seconds.items()) + ")", flush=True)
    counted = dict(runner.counts) if args.simulate else dict(runner.counts, depth=measured_depth)
    stated = {key: manifest["he_cost"][key] for key in counted}
    print(f"counted per image: {counted}; the export states {stated}" + ("" if counted == stated else " (MISMATCH)"))
    n = len(inputs)
    print(f"CPU time: {sum(cpu) / n:.1f} s/image (the wall time below counts what other processes took)")
    print(f"{n} images{' (simulated, not encrypted)' if args.simulate else ''}: max logit diff {worst:.2e}, "
          f"agreement {agree}/{n}, {sum(seconds) / n:.1f} s/image, "
          f"ring 2^{runner.ring_log2()}, depth {runner.depth}")


if __name__ == "__main__":
    try:
        main()
    except Refusal as refusal:
        print(f"infer: {refusal}", file=sys.stderr)
        sys.exit(2)

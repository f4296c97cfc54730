#!/usr/bin/python3
"""Train kiln's bundled Fashion-MNIST demo models and export them to ONNX.

  resnet : ResNet-style, residual basic blocks (Conv-BN-ReLU, identity and 1x1 stride-2 shortcuts)
  mbv2   : MobileNetV2-style, inverted residuals (1x1 expand, 3x3 depthwise, 1x1 project, ReLU6)
  mbv3   : MobileNetV3-Small-style: hardswish, squeeze-excitation (hardsigmoid gates), 3x3 and 5x5
           depthwise; kiln's check on the ops real mobile models add to MobileNetV2

Data: Debian's dataset-fashion-mnist package (gzipped IDX in /usr/share/datasets/fashion-mnist),
read with gzip + numpy; nothing is downloaded.

Usage (Debian's python3-torch):
  /usr/bin/python3 examples/fashion-mnist/train.py --model all
  /usr/bin/python3 examples/fashion-mnist/train.py --model resnet --epochs 12 --threads 1
  /usr/bin/python3 examples/fashion-mnist/train.py --model mbv3 --threads 1   (about 9 minutes)

Writes, next to this script: resnet_fmnist.onnx, mbv2_fmnist.onnx, mbv3_fmnist.onnx, preprocess.json and
float_accuracy.json (test top-1 on the 10,000 test images, computed by this script in PyTorch).
The run is deterministic for a given seed, thread count and machine.
"""

import argparse
import fcntl
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = "/usr/share/datasets/fashion-mnist"
# Mean and std of the training images' pixels (pixel / 255), rounded.
MEAN = 0.2860
STD = 0.3530


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
def read_idx(path):
    """Reads an IDX file (gzipped or not) and checks its magic number and size."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: size {body.size} does not match dims {dims}")
    return body.reshape(dims)


def load_split(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(DATA_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(DATA_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    x = (x - MEAN) / STD
    return x, torch.from_numpy(y.astype(np.int64))


def augment(x, gen):
    """Random crop with padding 2 and random horizontal flip, per sample, deterministic via gen."""
    n = x.shape[0]
    pad = 2
    # Pad with the normalised value of a black pixel so the border looks like background.
    xp = F.pad(x, (pad, pad, pad, pad), value=(0.0 - MEAN) / STD)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    for oy in range(2 * pad + 1):
        for ox in range(2 * pad + 1):
            idx = ((dy == oy) & (dx == ox)).nonzero(as_tuple=True)[0]
            if idx.numel():
                out[idx] = xp[idx, :, oy:oy + 28, ox:ox + 28]
    out[flip] = out[flip].flip(3)
    return out


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """Conv3x3-BN-ReLU, Conv3x3-BN, + shortcut, ReLU. Shortcut: identity or 1x1 stride-2 conv + BN."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.shortcut is None else self.shortcut(x)
        return F.relu(y + s)


class ResNetFMNIST(nn.Module):
    # stem 3x3/16 @28x28; stages 16 @28, 32 @14, 64 @7 with 2, 2, 1 basic blocks; GAP; FC 10.
    # 13 conv layers (11 3x3, two 1x1 stride-2 shortcuts) + FC, about 100k parameters.
    def __init__(self, widths=(16, 32, 64), blocks=(2, 2, 1)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        layers = []
        cin = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(cin, w, stride))
                cin = w
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class InvertedResidual(nn.Module):
    """1x1 expand (BN, ReLU6) -> 3x3 depthwise (BN, ReLU6) -> 1x1 project (BN); residual when
    stride 1 and cin == cout. With expand ratio 1 the expand conv is omitted (as in MobileNetV2)."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   nn.ReLU6(inplace=True),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2FMNIST(nn.Module):
    # (expand t, out channels c, repeats n, first stride s), as in the MobileNetV2 paper's table.
    # The first block already downsamples (28 -> 14) so that no expanded tensor lives at 28x28: this
    # keeps CPU training affordable. stem + 1 + 5 * 3 + 2 ... = 19 convs (6 depthwise) + FC.
    CONFIG = ((1, 16, 1, 2), (4, 24, 2, 1), (4, 32, 2, 2), (4, 64, 1, 1))

    def __init__(self, stem=16, head=128):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem),
                                  nn.ReLU6(inplace=True))
        layers = []
        cin = stem
        for t, c, n, s in self.CONFIG:
            for j in range(n):
                layers.append(InvertedResidual(cin, c, s if j == 0 else 1, t))
                cin = c
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(cin, head, 1, bias=False), nn.BatchNorm2d(head), nn.ReLU6(inplace=True))
        self.fc = nn.Linear(head, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Conv2d(c, max(8, c // 4), 1)
        self.fc2 = nn.Conv2d(max(8, c // 4), c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(s))))
        return x * s


class MBV3Block(nn.Module):
    def __init__(self, cin, k, exp, cout, se, hs, stride):
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        layers = []
        if exp != cin:
            layers += [nn.Conv2d(cin, exp, 1, bias=False), nn.BatchNorm2d(exp), act()]
        layers += [nn.Conv2d(exp, exp, k, stride, k // 2, groups=exp, bias=False), nn.BatchNorm2d(exp), act()]
        if se:
            layers += [SqueezeExcite(exp)]
        layers += [nn.Conv2d(exp, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV3FMNIST(nn.Module):
    # (kernel, expanded, out, SE, hardswish, stride), MobileNetV3-Small's pattern, scaled down.
    CONFIG = ((3, 16, 16, True, False, 2), (3, 72, 24, False, False, 1), (3, 88, 24, False, False, 1),
              (5, 96, 40, True, True, 2), (5, 240, 40, True, True, 1), (5, 120, 48, True, True, 1))

    def __init__(self, stem=16, head=192):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.Hardswish())
        layers = []
        cin = stem
        for k, e, c, se, hs, s in self.CONFIG:
            layers.append(MBV3Block(cin, k, e, c, se, hs, s))
            cin = c
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(cin, head, 1, bias=False), nn.BatchNorm2d(head), nn.Hardswish())
        self.fc = nn.Linear(head, 10)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


MODELS = {"resnet": ResNetFMNIST, "mbv2": MobileNetV2FMNIST, "mbv3": MobileNetV3FMNIST}
ONNX_NAMES = {"resnet": "resnet_fmnist.onnx", "mbv2": "mbv2_fmnist.onnx", "mbv3": "mbv3_fmnist.onnx"}
DEFAULT_EPOCHS = {"resnet": 12, "mbv2": 10, "mbv3": 10}


# ----------------------------------------------------------------------------------------------
# Training, evaluation, export
# ----------------------------------------------------------------------------------------------
def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            xb = x[i:i + batch].contiguous(memory_format=torch.channels_last)
            correct += (model(xb).argmax(1) == y[i:i + batch]).sum().item()
    return correct / x.shape[0]


def train(name, epochs, batch, lr, seed, log):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    xtr, ytr = load_split("train")
    xte, yte = load_split("test")
    # channels_last makes PyTorch's CPU depthwise convolutions about twice as fast.
    model = MODELS[name]().to(memory_format=torch.channels_last)
    params = sum(p.numel() for p in model.parameters())
    log(f"[{name}] {params} parameters, {epochs} epochs, batch {batch}, max lr {lr}")
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
                          lr=lr, momentum=0.9, nesterov=True)
    steps = (xtr.shape[0] + batch - 1) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps,
                                                pct_start=0.25)
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(xtr.shape[0], generator=gen)
        total_loss = 0.0
        for i in range(steps):
            idx = perm[i * batch:(i + 1) * batch]
            xb = augment(xtr[idx], gen).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item()
        acc = evaluate(model, xte, yte)
        log(f"[{name}] epoch {epoch + 1}/{epochs} loss {total_loss / steps:.4f} test top-1 {acc * 100:.2f}% "
            f"({time.time() - t0:.0f} s)")
    return model, acc, time.time() - t0, params


def export(model, name):
    model = model.to(memory_format=torch.contiguous_format).eval()
    path = os.path.join(HERE, ONNX_NAMES[name])
    tmp = path + ".tmp"
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(model, dummy, tmp, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}}, do_constant_folding=True)
    tidy(tmp, tmp)
    os.replace(tmp, path)
    return path


def tidy(src, dst):
    """Makes the exported graph plain for importers: Constant nodes become initializers, and the
    Identity nodes PyTorch inserts when it de-duplicates equal constants become their own copies."""
    import onnx
    m = onnx.load(src)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    keep = []
    for n in g.node:
        if n.op_type == "Constant" and len(n.attribute) == 1 and n.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(n.attribute[0].t)
            t.name = n.output[0]
            g.initializer.append(t)
            inits[t.name] = t
        elif n.op_type == "Identity" and n.input[0] in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[n.input[0]])
            t.name = n.output[0]
            g.initializer.append(t)
            inits[t.name] = t
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    unused = [t for t in g.initializer if t.name not in used]
    for t in unused:
        g.initializer.remove(t)
    onnx.checker.check_model(m)
    onnx.save(m, dst)


def update_json(path, key, value):
    """Read-modify-write under a lock, so two trainings running at once both land in the file."""
    lock = os.open(HERE, os.O_RDONLY)  # lock the folder itself: no lock file left behind
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = {}
        if os.path.exists(path):
            with open(path) as f:
                data = json.load(f)
        data[key] = value
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        os.close(lock)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["resnet", "mbv2", "mbv3", "all"], default="all")
    ap.add_argument("--epochs", type=int, default=0, help="0: the per-model default")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tidy", nargs="+", metavar="ONNX", help="only tidy these exported files in place")
    args = ap.parse_args()
    if args.tidy:
        for path in args.tidy:
            tidy(path, path)
        return 0

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)

    def log(msg):
        print(msg, flush=True)

    with open(os.path.join(HERE, "preprocess.json"), "w") as f:
        json.dump({"input": "input", "shape": [None, 1, 28, 28], "layout": "nchw", "gray": True,
                   "scale": "pixel / 255", "mean": [MEAN], "std": [STD],
                   "labels": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                              "Sneaker", "Bag", "Ankle boot"]}, f, indent=2)
        f.write("\n")

    names = ["resnet", "mbv2", "mbv3"] if args.model == "all" else [args.model]
    for name in names:
        epochs = args.epochs or DEFAULT_EPOCHS[name]
        model, acc, seconds, params = train(name, epochs, args.batch, args.lr, args.seed, log)
        path = export(model, name)
        log(f"[{name}] exported {path} ({os.path.getsize(path)} bytes)")
        update_json(os.path.join(HERE, "float_accuracy.json"), name,
                    {"onnx": ONNX_NAMES[name], "test_top1": round(acc * 100, 2), "epochs": epochs,
                     "batch": args.batch, "max_lr": args.lr, "seed": args.seed, "threads": args.threads,
                     "parameters": params, "train_seconds": round(seconds), "torch": torch.__version__})
    return 0


if __name__ == "__main__":
    sys.exit(main())

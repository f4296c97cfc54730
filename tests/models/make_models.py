#!/usr/bin/python3
"""Builds the small test models with torch.onnx.export and stores, per model, in this folder:

    <name>.onnx         the exported model
    <name>.input.npy    a fixed float32 input (seeded)
    <name>.output.npy   PyTorch's float32 output for that input

Run with Debian's Python (python3-torch, python3-onnx):  /usr/bin/python3 tests/models/make_models.py
Options:  --out DIR (default: this folder)   --only NAME[,NAME]   --resnet18-full FILE.onnx and
--mobilenetv2-full FILE.onnx (the full-size 224x224 networks, random weights, for benchmarks; not
committed).

The architectures are reduced-width versions of the real ones, with random weights and random
BatchNorm statistics (so BN folding is exercised), in eval mode. CI does not run this script: it uses
the committed files.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)


def conv_bn(cin, cout, k, s=1, groups=1, act=nn.ReLU):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


# ---------------------------------------------------------------- ResNet-18 (basic blocks)
class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    def __init__(self, width=64, classes=1000):
        super().__init__()
        w = [width, width * 2, width * 4, width * 8]
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 7, 2, 3, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        blocks, cin = [], w[0]
        for i, c in enumerate(w):
            blocks += [BasicBlock(cin, c, 1 if i == 0 else 2), BasicBlock(c, c, 1)]
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


# ---------------------------------------------------------------- MobileNetV2
class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hid = cin * expand
        layers = []
        if expand != 1:
            layers.append(conv_bn(cin, hid, 1, act=nn.ReLU6))
        layers += [conv_bn(hid, hid, 3, stride, groups=hid, act=nn.ReLU6), conv_bn(hid, cout, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.res = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.res else self.body(x)


# The full-size network's stages (expansion, channels, blocks, stride), stem 32 and head 1280 wide.
MOBILENETV2_FULL = ([(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                     (6, 320, 1, 1)], 32, 1280)


class MobileNetV2(nn.Module):
    def __init__(self, classes=10, cfg=None, stem=8, head=128):
        super().__init__()
        cfg = cfg or [(1, 8, 1, 1), (6, 12, 2, 2), (6, 16, 2, 2), (6, 24, 2, 2), (6, 32, 1, 1), (6, 48, 1, 2)]
        layers, cin = [conv_bn(3, stem, 3, 2, act=nn.ReLU6)], stem
        for t, c, n, s in cfg:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(conv_bn(cin, head, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(head, classes))

    def forward(self, x):
        x = self.features(x)
        x = x.mean([2, 3])
        return self.classifier(x)


# ---------------------------------------------------------------- MobileNetV3-small
class SqueezeExcite(nn.Module):
    def __init__(self, c, squeeze, gate=nn.Hardsigmoid, act=nn.ReLU):
        super().__init__()
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.act = act()
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.gate = gate()

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


class V3Block(nn.Module):
    def __init__(self, cin, k, hid, cout, se, act, stride):
        super().__init__()
        layers = []
        if hid != cin:
            layers.append(conv_bn(cin, hid, 1, act=act))
        layers.append(conv_bn(hid, hid, k, stride, groups=hid, act=act))
        if se:
            layers.append(SqueezeExcite(hid, max(8, hid // 4)))
        layers.append(conv_bn(hid, cout, 1, act=None))
        self.body = nn.Sequential(*layers)
        self.res = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.res else self.body(x)


class MobileNetV3Small(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        HS, RE = nn.Hardswish, nn.ReLU
        cfg = [(8, 3, 8, 8, True, RE, 2), (8, 3, 36, 12, False, RE, 2), (12, 3, 44, 12, False, RE, 1),
               (12, 5, 48, 20, True, HS, 2), (20, 5, 120, 20, True, HS, 1), (20, 5, 60, 24, True, HS, 1),
               (24, 5, 144, 48, True, HS, 2)]
        layers = [conv_bn(3, 8, 3, 2, act=HS)]
        for c in cfg:
            layers.append(V3Block(*c))
        layers.append(conv_bn(48, 144, 1, act=HS))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(144, 256), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(256, classes))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


# ---------------------------------------------------------------- ShuffleNetV2
def channel_shuffle(x, groups):
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, -1, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        b = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(conv_bn(cin, cin, 3, stride, groups=cin, act=None), conv_bn(cin, b, 1))
        else:
            self.branch1 = nn.Sequential()
        c2 = cin if stride > 1 else b
        self.branch2 = nn.Sequential(conv_bn(c2, b, 1), conv_bn(b, b, 3, stride, groups=b, act=None), conv_bn(b, b, 1))

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 12, 3, 2), nn.MaxPool2d(3, 2, 1))
        stages, cin = [], 12
        for cout, n in [(24, 2), (48, 3), (96, 2)]:
            for i in range(n):
                stages.append(ShuffleUnit(cin, cout, 2 if i == 0 else 1))
                cin = cout
        self.stages = nn.Sequential(*stages)
        self.last = conv_bn(cin, 128, 1)
        self.fc = nn.Linear(128, classes)

    def forward(self, x):
        x = self.last(self.stages(self.stem(x)))
        return self.fc(x.mean([2, 3]))


# ---------------------------------------------------------------- EfficientNet-like (MBConv, SiLU, SE)
class MBConv(nn.Module):
    def __init__(self, cin, cout, k, stride, expand):
        super().__init__()
        hid = cin * expand
        layers = []
        if expand != 1:
            layers.append(conv_bn(cin, hid, 1, act=nn.SiLU))
        layers += [conv_bn(hid, hid, k, stride, groups=hid, act=nn.SiLU),
                   SqueezeExcite(hid, max(4, cin // 4), gate=nn.Sigmoid, act=nn.SiLU),
                   conv_bn(hid, cout, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.res = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.res else self.body(x)


class EfficientNetLike(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        cfg = [(8, 8, 3, 1, 1), (8, 12, 3, 2, 4), (12, 12, 3, 1, 4), (12, 20, 5, 2, 4), (20, 32, 3, 2, 4),
               (32, 32, 5, 1, 4)]
        layers = [conv_bn(3, 8, 3, 2, act=nn.SiLU)]
        layers += [MBConv(*c) for c in cfg]
        layers.append(conv_bn(32, 96, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(96, classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.fc(torch.flatten(x, 1))


# ---------------------------------------------------------------- UNet-like
class UNetLike(nn.Module):
    def __init__(self, classes=3):
        super().__init__()
        self.enc1 = nn.Sequential(conv_bn(3, 8, 3), conv_bn(8, 8, 3))
        self.enc2 = nn.Sequential(nn.MaxPool2d(2), conv_bn(8, 16, 3), conv_bn(16, 16, 3))
        self.enc3 = nn.Sequential(nn.AvgPool2d(2), conv_bn(16, 32, 3))
        self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec2 = conv_bn(32, 16, 3)
        self.dec1 = conv_bn(24, 8, 3)
        self.head = nn.Conv2d(8, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        up2 = self.up2(e3) + F.interpolate(e3[:, :16], scale_factor=2, mode="nearest")
        d2 = self.dec2(torch.cat([up2, e2], 1))
        up1 = F.interpolate(d2, scale_factor=2, mode="bilinear", align_corners=False)
        d1 = self.dec1(torch.cat([up1, e1], 1))
        return torch.sigmoid(self.head(d1))


# ---------------------------------------------------------------- two heads (a detector's shape)
class TwoHeads(nn.Module):
    """A small backbone with a classification head and a dense box head: two graph outputs."""

    def __init__(self, classes=5):
        super().__init__()
        self.backbone = nn.Sequential(conv_bn(3, 16, 3, 2), conv_bn(16, 32, 3, 2), conv_bn(32, 32, 3, 1))
        self.cls = nn.Conv2d(32, classes, 1)
        self.box = nn.Conv2d(32, 4, 3, padding=1)

    def forward(self, x):
        f = self.backbone(x)
        return self.cls(f).mean((2, 3)), self.box(f)


# ---------------------------------------------------------------- transformer encoder
class Encoder(nn.Module):
    def __init__(self, d=32, heads=4, ff=64, layers=2, classes=10):
        super().__init__()
        self.heads = heads
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict(dict(ln1=nn.LayerNorm(d), qkv=nn.Linear(d, 3 * d), proj=nn.Linear(d, d),
                                                  ln2=nn.LayerNorm(d), fc1=nn.Linear(d, ff), fc2=nn.Linear(ff, d))))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, x):  # x: [B, T, d]
        b, t, d = x.shape
        h = self.heads
        for blk in self.blocks:
            q, k, v = blk["qkv"](blk["ln1"](x)).split(d, dim=-1)
            q = q.reshape(b, t, h, d // h).transpose(1, 2)
            k = k.reshape(b, t, h, d // h).transpose(1, 2)
            v = v.reshape(b, t, h, d // h).transpose(1, 2)
            a = torch.softmax(q @ k.transpose(-1, -2) / (d // h) ** 0.5, dim=-1)
            o = (a @ v).transpose(1, 2).reshape(b, t, d)
            x = x + blk["proj"](o)
            x = x + blk["fc2"](F.gelu(blk["fc1"](blk["ln2"](x))))
        return self.head(self.ln(x).mean(1))


# name: (constructor, input shape, opset, dynamic axes: False, True (batch) or "hw" (batch, height, width))
MODELS = {
    "resnet18": (lambda: ResNet18(width=8, classes=10), (1, 3, 64, 64), 13, True),
    "mobilenetv2": (lambda: MobileNetV2(), (1, 3, 64, 64), 11, False),
    "mobilenetv3_small": (lambda: MobileNetV3Small(), (1, 3, 64, 64), 13, True),
    "shufflenetv2": (lambda: ShuffleNetV2(), (1, 3, 64, 64), 11, True),
    "efficientnet_like": (lambda: EfficientNetLike(), (1, 3, 64, 64), 17, False),
    "unet_like": (lambda: UNetLike(), (1, 3, 32, 32), 17, False),
    "unet_dynamic_hw": (lambda: UNetLike(), (1, 3, 32, 32), 17, "hw"),
    "two_heads": (lambda: TwoHeads(), (1, 3, 32, 32), 13, True),
    "transformer": (lambda: Encoder(), (1, 16, 32), 17, True),
    "transformer_op13": (lambda: Encoder(layers=1), (2, 8, 32), 13, False),
}


def export(name, out_dir):
    ctor, shape, opset, dynamic = MODELS[name]
    seed = sum(ord(ch) for ch in name)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ctor()
    randomize_bn(model, gen)
    model.eval()
    x = torch.randn(*shape, generator=gen)
    with torch.no_grad():
        y = model(x)
    outputs = ["output"]
    if isinstance(y, tuple):  # further outputs are output1, output2, ...; the .output.npy holds the first
        outputs += ["output%d" % i for i in range(1, len(y))]
        y = y[0]
    path = os.path.join(out_dir, name + ".onnx")
    kwargs = {}
    if dynamic == "hw":
        axes = {0: "batch", 2: "height", 3: "width"}
        kwargs["dynamic_axes"] = {"input": axes, "output": axes}
    elif dynamic:
        kwargs["dynamic_axes"] = {"input": {0: "batch"}, **{o: {0: "batch"} for o in outputs}}
    torch.onnx.export(model, (x,), path, opset_version=opset, input_names=["input"], output_names=outputs,
                      do_constant_folding=True, **kwargs)
    np.save(os.path.join(out_dir, name + ".input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out_dir, name + ".output.npy"), y.numpy().astype(np.float32))
    print(f"{name}: opset {opset}, {os.path.getsize(path)} bytes, output {tuple(y.shape)}")


def export_full(name, model, path):
    torch.manual_seed(18)
    randomize_bn(model, torch.Generator().manual_seed(18))
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, (x,), path, opset_version=13, input_names=["input"], output_names=["output"])
    print(f"{name} (full size, 224x224): {path}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=HERE)
    p.add_argument("--only", default="")
    p.add_argument("--resnet18-full", default="")
    p.add_argument("--mobilenetv2-full", default="")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.resnet18_full or a.mobilenetv2_full:
        if a.resnet18_full:
            export_full("resnet18", ResNet18(width=64, classes=1000), a.resnet18_full)
        if a.mobilenetv2_full:
            cfg, stem, head = MOBILENETV2_FULL
            export_full("mobilenetv2", MobileNetV2(classes=1000, cfg=cfg, stem=stem, head=head), a.mobilenetv2_full)
        return 0
    names = a.only.split(",") if a.only else list(MODELS)
    os.makedirs(a.out, exist_ok=True)
    for n in names:
        export(n, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""PyTorch reference for bench/run.sh table 2: times a YOLOv8 detect model with random weights.

Usage: /usr/bin/python3 bench/ref_torch_arch.py [--model yolov8s.yaml] [--imgsz 640]
       [--imgsz-h H] [--runs 10] [--warmup 2] [--threads 2] [--nc 1] [--fuse | --no-fuse]
       /usr/bin/python3 bench/ref_torch_arch.py --check-params

ultralytics is not installed here, so the network is built in plain torch modules from the
layer tables of ultralytics' cfg/models/v8/yolov8.yaml (P5) and yolov8-p6.yaml (P6), at any
scale n/s/m/l/x (depth, width, max_channels as in those files), resolved the way ultralytics'
parse_model does: repeats max(round(n * depth), 1), channels make_divisible(min(c, max) * width, 8).
Modules: Conv = Conv2d(bias=False) + BatchNorm2d(eps 1e-3, momentum 0.03) + SiLU; C2f; C2 (the
P6 head); Bottleneck; SPPF; nearest Upsample; Concat; Detect (reg_max 16, DFL, anchors, xywh
boxes * stride, sigmoid scores: the inference path that predict runs). The model name is read like
ultralytics reads it: yolov8s.yaml, yolov8x-p6.yaml, and the old spelling yolov8x6.yaml.
Weights are torch's default init (seed 0), as in an ultralytics model built from a .yaml.

--fuse (the default) folds each BatchNorm into its conv's weights and bias before timing, which is
what ultralytics predict does (model.fuse()); --no-fuse times Conv + BN + SiLU as built.
The parameter count (counted before fusing) is asserted against ultralytics' / animeface's for
the counts in EXPECT (nc=1 and nc=80, every scale, P5 and P6); --check-params checks them all.

Forward pass only, eval mode, torch.inference_mode, fixed random 1x3xHxW input (H = --imgsz-h or
--imgsz, W = --imgsz). Warm-up runs are excluded. Prints a '#' comment line (model, parameters)
and one line: RESULT<TAB>torch <version> (eager, fused, N threads)<TAB>median_ms<TAB>min_ms
<TAB>peak_rss_mib (peak RSS = getrusage(RUSAGE_SELF).ru_maxrss of this process, including the
interpreter, the torch import and building the model).
"""
import argparse
import math
import re
import resource
import statistics
import sys
import time

import torch
from torch import nn

# scale: (depth, width, max_channels); the same for P5 and P6
SCALES = {
    "n": (0.33, 0.25, 1024),
    "s": (0.33, 0.50, 1024),
    "m": (0.67, 0.75, 768),
    "l": (1.00, 1.00, 512),
    "x": (1.00, 1.25, 512),
}

# Layer tables: (from, repeats, module, args) with args before width scaling, as in the .yaml
# files. "nc" in Detect's args is the number of classes.
P5 = [
    (-1, 1, "Conv", (64, 3, 2)),  # 0 P1/2
    (-1, 1, "Conv", (128, 3, 2)),  # 1 P2/4
    (-1, 3, "C2f", (128, True)),
    (-1, 1, "Conv", (256, 3, 2)),  # 3 P3/8
    (-1, 6, "C2f", (256, True)),
    (-1, 1, "Conv", (512, 3, 2)),  # 5 P4/16
    (-1, 6, "C2f", (512, True)),
    (-1, 1, "Conv", (1024, 3, 2)),  # 7 P5/32
    (-1, 3, "C2f", (1024, True)),
    (-1, 1, "SPPF", (1024, 5)),  # 9
    (-1, 1, "Upsample", ()),
    ((-1, 6), 1, "Concat", ()),
    (-1, 3, "C2f", (512, False)),  # 12
    (-1, 1, "Upsample", ()),
    ((-1, 4), 1, "Concat", ()),
    (-1, 3, "C2f", (256, False)),  # 15 P3/8
    (-1, 1, "Conv", (256, 3, 2)),
    ((-1, 12), 1, "Concat", ()),
    (-1, 3, "C2f", (512, False)),  # 18 P4/16
    (-1, 1, "Conv", (512, 3, 2)),
    ((-1, 9), 1, "Concat", ()),
    (-1, 3, "C2f", (1024, False)),  # 21 P5/32
    ((15, 18, 21), 1, "Detect", ()),
]
P6 = [
    (-1, 1, "Conv", (64, 3, 2)),  # 0 P1/2
    (-1, 1, "Conv", (128, 3, 2)),  # 1 P2/4
    (-1, 3, "C2f", (128, True)),
    (-1, 1, "Conv", (256, 3, 2)),  # 3 P3/8
    (-1, 6, "C2f", (256, True)),
    (-1, 1, "Conv", (512, 3, 2)),  # 5 P4/16
    (-1, 6, "C2f", (512, True)),
    (-1, 1, "Conv", (768, 3, 2)),  # 7 P5/32
    (-1, 3, "C2f", (768, True)),
    (-1, 1, "Conv", (1024, 3, 2)),  # 9 P6/64
    (-1, 3, "C2f", (1024, True)),
    (-1, 1, "SPPF", (1024, 5)),  # 11
    (-1, 1, "Upsample", ()),
    ((-1, 8), 1, "Concat", ()),
    (-1, 3, "C2", (768, False)),  # 14
    (-1, 1, "Upsample", ()),
    ((-1, 6), 1, "Concat", ()),
    (-1, 3, "C2", (512, False)),  # 17
    (-1, 1, "Upsample", ()),
    ((-1, 4), 1, "Concat", ()),
    (-1, 3, "C2", (256, False)),  # 20 P3/8
    (-1, 1, "Conv", (256, 3, 2)),
    ((-1, 17), 1, "Concat", ()),
    (-1, 3, "C2", (512, False)),  # 23 P4/16
    (-1, 1, "Conv", (512, 3, 2)),
    ((-1, 14), 1, "Concat", ()),
    (-1, 3, "C2", (768, False)),  # 26 P5/32
    (-1, 1, "Conv", (768, 3, 2)),
    ((-1, 11), 1, "Concat", ()),
    (-1, 3, "C2", (1024, False)),  # 29 P6/64
    ((20, 23, 26, 29), 1, "Detect", ()),
]

# Parameter counts (before fusing) of ultralytics 8.1.9's models; nc=80 for n/s/m/l/x (P5) are
# the figures in yolov8.yaml's comments; the others are animeface's af_model_desc_param_count,
# which agrees with ultralytics wherever ultralytics documents a count (tests/test_desc.c;
# yolov8n-p6 nc=1: 4,783,332, the fixtures README).
EXPECT = {
    ("p5", "n", 1): 3011043, ("p5", "n", 80): 3157200,
    ("p5", "s", 1): 11135987, ("p5", "s", 80): 11166560,
    ("p5", "m", 1): 25856899, ("p5", "m", 80): 25902640,
    ("p5", "l", 1): 43630611, ("p5", "l", 80): 43691520,
    ("p5", "x", 1): 68153571, ("p5", "x", 80): 68229648,
    ("p6", "n", 1): 4783332, ("p6", "n", 80): 4984352,
    ("p6", "s", 1): 17871028, ("p6", "s", 80): 17911792,
    ("p6", "m", 1): 44826500, ("p6", "m", 80): 44887488,
    ("p6", "l", 1): 62302804, ("p6", "l", 80): 62384016,
    ("p6", "x", 1): 97321636, ("p6", "x", 80): 97423072,
}


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + SiLU; after fuse(): Conv2d with bias + SiLU."""

    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=0.001, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)

    @torch.no_grad()
    def fuse(self):
        if self.bn is None:
            return
        bn, w = self.bn, self.conv.weight
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(self.conv.in_channels, self.conv.out_channels, self.conv.kernel_size,
                          self.conv.stride, self.conv.padding, bias=True)
        fused.weight.copy_(w * scale.view(-1, 1, 1, 1))
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        self.conv, self.bn = fused.requires_grad_(False), None


class Bottleneck(nn.Module):
    """Two 3x3 Convs, c -> c (expansion 1.0), plus the input when shortcut."""

    def __init__(self, c, shortcut):
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1, c2, n, shortcut):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class C2(nn.Module):
    """The P6 head's block: bottlenecks on one half only, then cat with the other half."""

    def __init__(self, c1, c2, n, shortcut):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv(2 * self.c, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(self.c, shortcut) for _ in range(n)))

    def forward(self, x):
        a, b = self.cv1(x).chunk(2, 1)
        return self.cv2(torch.cat((self.m(a), b), 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c = c1 // 2
        self.cv1 = Conv(c1, c, 1)
        self.cv2 = Conv(4 * c, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Detect(nn.Module):
    """Two branches per level (box: 4 x reg_max DFL bins, cls: nc logits); at inference the DFL
    expectation, anchor decode to xywh in pixels and sigmoid scores -> (B, 4 + nc, anchors)."""

    def __init__(self, nc, ch, strides, reg_max=16):
        super().__init__()
        self.nc, self.reg_max, self.strides_per_level = nc, reg_max, strides
        c2, c3 = max(16, ch[0] // 4, 4 * reg_max), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
            for x in ch)
        self.cv3 = nn.ModuleList(
            nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.dfl.weight.copy_(torch.arange(reg_max, dtype=torch.float).view(1, reg_max, 1, 1))
            for a, b, s in zip(self.cv2, self.cv3, strides):  # ultralytics' bias_init
                a[-1].bias.fill_(1.0)
                b[-1].bias.fill_(math.log(5 / nc / (640 / s) ** 2))
        self.grid_key, self.anchors, self.stride_t = None, None, None

    def make_anchors(self, xs):
        pts, st = [], []
        for x, s in zip(xs, self.strides_per_level):
            h, w = x.shape[2:]
            sy, sx = torch.meshgrid(torch.arange(h, dtype=x.dtype) + 0.5,
                                    torch.arange(w, dtype=x.dtype) + 0.5, indexing="ij")
            pts.append(torch.stack((sx, sy), -1).view(-1, 2))
            st.append(torch.full((h * w, 1), float(s), dtype=x.dtype))
        self.anchors = torch.cat(pts).transpose(0, 1).unsqueeze(0)  # (1, 2, A)
        self.stride_t = torch.cat(st).transpose(0, 1)  # (1, A)

    def forward(self, xs):
        xs = [torch.cat((a(x), b(x)), 1) for x, a, b in zip(xs, self.cv2, self.cv3)]
        if self.training:
            return xs
        bsz, no = xs[0].shape[0], self.nc + 4 * self.reg_max
        cat = torch.cat([x.view(bsz, no, -1) for x in xs], 2)
        key = tuple(x.shape for x in xs)
        if key != self.grid_key:  # cached per input shape, as ultralytics does
            self.make_anchors(xs)
            self.grid_key = key
        box, cls = cat.split((4 * self.reg_max, self.nc), 1)
        a = box.shape[2]
        prob = box.view(bsz, 4, self.reg_max, a).transpose(2, 1).softmax(1)
        dist = self.dfl(prob).view(bsz, 4, a)
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = self.anchors - lt, self.anchors + rb
        dbox = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * self.stride_t
        return torch.cat((dbox, cls.sigmoid()), 1)


def time_forward(model, x, warmup, runs):
    """Forward passes under inference_mode -> (last output, ms of each run after the warm-up)."""
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            y = model(x)
            dt = (time.perf_counter() - t0) * 1e3
            if i >= warmup:
                times.append(dt)
    return y, times


def make_divisible(x, d):
    return math.ceil(x / d) * d


def parse_name(name):
    """'yolov8s.yaml' -> ('p5', 's'); 'yolov8x-p6.yaml' and 'yolov8x6.yaml' -> ('p6', 'x')."""
    stem = name.rsplit("/", 1)[-1]
    stem = stem[:-5] if stem.endswith(".yaml") else stem
    m = re.fullmatch(r"yolov8([nsmlx])(6|-p6)?", stem)
    if not m:
        raise SystemExit("ref_torch_arch.py: unknown model '%s' (want yolov8{n,s,m,l,x}.yaml or "
                         "yolov8{n,s,m,l,x}-p6.yaml / yolov8{n,s,m,l,x}6.yaml)" % name)
    return ("p6" if m.group(2) else "p5"), m.group(1)


class YOLOv8(nn.Module):
    """Layers resolved from a table like parse_model: each layer reads its 'from' outputs."""

    def __init__(self, table, scale, nc):
        super().__init__()
        depth, width, max_ch = SCALES[scale]
        ch, layers, self.froms = [3], [], []
        for i, (f, n, kind, args) in enumerate(table):
            n = max(round(n * depth), 1) if n > 1 else n
            if kind in ("Conv", "C2f", "C2", "SPPF"):
                c1 = ch[f]
                c2 = make_divisible(min(args[0], max_ch) * width, 8)
                if kind == "Conv":
                    layer = Conv(c1, c2, args[1], args[2])
                elif kind == "SPPF":
                    layer = SPPF(c1, c2, args[1])
                else:
                    layer = (C2f if kind == "C2f" else C2)(c1, c2, n, args[1])
            elif kind == "Upsample":
                layer, c2 = nn.Upsample(scale_factor=2.0, mode="nearest"), ch[f]
            elif kind == "Concat":
                layer, c2 = None, sum(ch[j] for j in f)
            elif kind == "Detect":
                strides = [8 * 2 ** k for k in range(len(f))]  # P3/8 .. P5/32 or P6/64
                layer, c2 = Detect(nc, [ch[j] for j in f], strides), None
            else:
                raise AssertionError(kind)
            layers.append(layer if layer is not None else nn.Identity())
            self.froms.append(f)
            if i == 0:
                ch = []
            ch.append(c2)
        self.layers = nn.ModuleList(layers)
        self.kinds = [t[2] for t in table]
        self.max_stride = 8 * 2 ** (len(table[-1][0]) - 1)

    def forward(self, x):
        outs = []
        for layer, kind, f in zip(self.layers, self.kinds, self.froms):
            if kind == "Concat":
                x = torch.cat([outs[j] if j >= 0 else x for j in f], 1)
            elif kind == "Detect":
                x = layer([outs[j] for j in f])
            else:
                x = layer(x)
            outs.append(x)
        return x

    def fuse(self):
        for m in self.modules():
            if isinstance(m, Conv):
                m.fuse()
        return self


def build(name, nc):
    layout, scale = parse_name(name)
    model = YOLOv8(P5 if layout == "p5" else P6, scale, nc)
    nparam = sum(p.numel() for p in model.parameters())
    expect = EXPECT.get((layout, scale, nc))
    if expect is not None and nparam != expect:
        raise SystemExit("ref_torch_arch.py: %s nc=%d has %d parameters, ultralytics has %d"
                         % (name, nc, nparam, expect))
    return model, layout, scale, nparam, expect


def check_params():
    for layout in ("p5", "p6"):
        for scale in SCALES:
            for nc in (1, 80):
                name = "yolov8%s%s.yaml" % (scale, "-p6" if layout == "p6" else "")
                _, _, _, nparam, _ = build(name, nc)
                print("%-16s nc=%-2d %11d parameters: ok" % (name, nc, nparam))
    _, _, _, a, _ = build("yolov8x6.yaml", 1)
    print("yolov8x6.yaml    nc=1  %11d parameters: ok (old spelling of yolov8x-p6)" % a)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="yolov8s.yaml")
    ap.add_argument("--imgsz", type=int, default=640, help="input width (and height)")
    ap.add_argument("--imgsz-h", type=int, default=None, help="input height (default --imgsz)")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--nc", type=int, default=1)
    ap.add_argument("--fuse", action=argparse.BooleanOptionalAction, default=True,
                    help="fold BatchNorm into the convs first, as ultralytics predict does "
                         "(default: on)")
    ap.add_argument("--check-params", action="store_true",
                    help="build every scale, P5 and P6, nc 1 and 80; check the parameter counts")
    a = ap.parse_args()
    if a.check_params:
        check_params()
        return
    if a.runs < 1 or a.warmup < 0 or a.nc < 1 or a.threads < 1:
        ap.error("need --runs >= 1, --warmup >= 0, --nc >= 1, --threads >= 1")

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    model, layout, scale, nparam, expect = build(a.model, a.nc)
    h, w = a.imgsz_h or a.imgsz, a.imgsz
    if h % model.max_stride or w % model.max_stride or h <= 0 or w <= 0:
        ap.error("input %dx%d: both sides must be positive multiples of the stride %d"
                 % (h, w, model.max_stride))
    model.eval()
    if a.fuse:
        model.fuse()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, h, w, generator=g)
    y, times = time_forward(model, x, a.warmup, a.runs)
    anchors = sum((h // s) * (w // s) for s in model.layers[-1].strides_per_level)
    assert tuple(y.shape) == (1, 4 + a.nc, anchors), tuple(y.shape)
    assert torch.isfinite(y).all()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    print("# %s (%s, scale %s, nc=%d): %d parameters%s; input 1x3x%dx%d; output %s"
          % (a.model, layout.upper(), scale, a.nc, nparam,
             " (= ultralytics)" if expect is not None else " (no reference count)", h, w,
             "x".join(map(str, y.shape))))
    print("RESULT\ttorch %s (eager, %s, %d threads)\t%.2f\t%.2f\t%.1f"
          % (torch.__version__, "fused" if a.fuse else "unfused", torch.get_num_threads(),
             statistics.median(times), min(times), rss_mib))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

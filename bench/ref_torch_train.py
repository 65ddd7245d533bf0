#!/usr/bin/python3
"""PyTorch reference for `animeface bench --train`: one YOLOv8n training step on the CPU.

Usage: /usr/bin/python3 bench/ref_torch_train.py [--imgsz 640] [--batch 16] [--runs 3]
       [--warmup 1] [--threads 2] [--nc 1]

The network is YOLOv8n written out in plain torch modules (ultralytics is not installed here):
Conv = Conv2d(bias=False) + BatchNorm2d(eps 1e-3, momentum 0.03) + SiLU, C2f, Bottleneck, SPPF,
nearest Upsample, Concat, and the Detect head's two branches per level, in training mode. Its
parameter count is checked against ultralytics' (3,011,043 for nc=1, 3,157,200 for nc=80), so
the work per step is the same as animeface's. The loss is a stand-in (mean of squares of the
head outputs): ultralytics' v8DetectionLoss costs a few ms per batch on the CPU (animeface's
loss + assigner phase in `bench --train` shows the same), the network's forward and backward are
what is timed. One step = forward, loss, backward, SGD (momentum 0.937, nesterov) step, zero_grad.

Prints a markdown row and one line: RESULT<TAB>torch <version><TAB>s_per_batch<TAB>img_per_s
<TAB>peak_rss_mib.
"""
import argparse
import math
import resource
import statistics
import time

import torch
from torch import nn


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=0.001, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
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
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2):
        super().__init__()
        c = c1 // 2
        self.cv1 = Conv(c1, c, 1)
        self.cv2 = Conv(c * 4, c2, 1)
        self.m = nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class Detect(nn.Module):
    def __init__(self, nc, ch, reg_max=16):
        super().__init__()
        c2, c3 = max(16, ch[0] // 4, reg_max * 4), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
            for x in ch)
        self.cv3 = nn.ModuleList(
            nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)

    def forward(self, xs):
        return [torch.cat((a(x), b(x)), 1) for x, a, b in zip(xs, self.cv2, self.cv3)]


class YOLOv8n(nn.Module):
    def __init__(self, nc):
        super().__init__()
        self.b0, self.b1, self.b2 = Conv(3, 16, 3, 2), Conv(16, 32, 3, 2), C2f(32, 32, 1, True)
        self.b3, self.b4 = Conv(32, 64, 3, 2), C2f(64, 64, 2, True)
        self.b5, self.b6 = Conv(64, 128, 3, 2), C2f(128, 128, 2, True)
        self.b7, self.b8, self.b9 = Conv(128, 256, 3, 2), C2f(256, 256, 1, True), SPPF(256, 256)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.h12, self.h15 = C2f(384, 128, 1, False), C2f(192, 64, 1, False)
        self.h16, self.h18 = Conv(64, 64, 3, 2), C2f(192, 128, 1, False)
        self.h19, self.h21 = Conv(128, 128, 3, 2), C2f(384, 256, 1, False)
        self.detect = Detect(nc, (64, 128, 256))

    def forward(self, x):
        x = self.b2(self.b1(self.b0(x)))
        p4 = self.b4(self.b3(x))
        p6 = self.b6(self.b5(p4))
        p9 = self.b9(self.b8(self.b7(p6)))
        h12 = self.h12(torch.cat((self.up(p9), p6), 1))
        h15 = self.h15(torch.cat((self.up(h12), p4), 1))
        h18 = self.h18(torch.cat((self.h16(h15), h12), 1))
        h21 = self.h21(torch.cat((self.h19(h18), p9), 1))
        return self.detect([h15, h18, h21])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--nc", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    model = YOLOv8n(a.nc).train()
    nparam = sum(p.numel() for p in model.parameters())
    expect = {1: 3011043, 80: 3157200}.get(a.nc)
    assert expect is None or nparam == expect, (nparam, expect)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01,
                          momentum=0.937, nesterov=True, weight_decay=5e-4)
    x = torch.rand(a.batch, 3, a.imgsz, a.imgsz)
    times = []
    for i in range(a.warmup + a.runs):
        t0 = time.perf_counter()
        outs = model(x)
        loss = sum((o * o).mean() for o in outs)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
        opt.step()
        opt.zero_grad()
        dt = time.perf_counter() - t0
        if i >= a.warmup:
            times.append(dt)
    assert math.isfinite(loss.item())
    per = statistics.median(times)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("| torch %s yolov8n (%d params) | %d | %d | %d | %.2f | %.2f | %.0f |"
          % (torch.__version__, nparam, a.imgsz, a.batch, torch.get_num_threads(), per,
             a.batch / per, rss_mib))
    print("RESULT\ttorch %s\t%.3f\t%.3f\t%.1f" % (torch.__version__, per, a.batch / per, rss_mib))


if __name__ == "__main__":
    main()

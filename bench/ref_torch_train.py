#!/usr/bin/python3
"""PyTorch reference for `animeface bench --train`: one YOLOv8n training step on the CPU.

Usage: /usr/bin/python3 bench/ref_torch_train.py [--imgsz 640] [--batch 16] [--runs 3]
       [--warmup 1] [--threads 2] [--nc 1]

The network is YOLOv8n in plain torch modules (ultralytics is not installed here), built by
bench/ref_torch_arch.py from ultralytics' layer table, in training mode (Detect returns the raw
head outputs). Its parameter count is checked against ultralytics' (3,011,043 for nc=1,
3,157,200 for nc=80), so the work per step is the same as animeface's. The loss is a stand-in (mean of squares of the
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

from ref_torch_arch import build


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
    model, _, _, nparam, _ = build("yolov8n.yaml", a.nc)  # checks ultralytics' parameter count
    model.train()  # Detect returns the raw head outputs
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

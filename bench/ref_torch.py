#!/usr/bin/python3
"""PyTorch reference for bench/run.sh: times a TorchScript export's forward pass.

Usage: /usr/bin/python3 bench/ref_torch.py MODEL.torchscript [--imgsz 640] [--runs 10]
       [--warmup 3] [--threads 2]
Prints one line: RESULT<TAB>torch <version><TAB>median_ms<TAB>min_ms<TAB>peak_rss_mib
(peak RSS = resource.getrusage(RUSAGE_SELF).ru_maxrss of this process, including the
interpreter and the torch import). Warm-up runs are excluded from the figures.
"""
import argparse
import resource
import statistics

import torch

from ref_torch_arch import time_forward


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model = torch.jit.load(a.model, map_location="cpu").eval()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, a.imgsz, a.imgsz, generator=g)
    y, times = time_forward(model, x, a.warmup, a.runs)
    out = y[0] if isinstance(y, (tuple, list)) else y
    assert out.shape[0] == 1, out.shape
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    print("RESULT\ttorch %s (TorchScript, %d threads)\t%.2f\t%.2f\t%.1f"
          % (torch.__version__, torch.get_num_threads(), statistics.median(times), min(times),
             rss_mib))


if __name__ == "__main__":
    main()

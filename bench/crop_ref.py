#!/usr/bin/python3
"""Python reference for bench/crop_bench.sh: the face-dataset loop people write today around
ultralytics + OpenCV, doing the job of

    animeface crop LIST --out DIR --model M --imgsz 640 --conf C --square --margin 0.5 \
        --pad edge --size 512

For each image of LIST: YOLO.predict (ultralytics 8.1.9: cv2.imread, letterbox, forward, NMS),
then per face box: the square of the box grown by half its size on each side (sizes and edges
rounded half up, as animeface does), cv2.copyMakeBorder(BORDER_REPLICATE) where it runs past the
image, cv2.resize to 512x512 (INTER_AREA shrinking, INTER_CUBIC enlarging), cv2.imwrite JPEG 95,
and one JSON line per crop into DIR/manifest.jsonl.

Run with PYTHONPATH=/path/to/ultralytics-8.1.9 (its source; bench only). The optional py-cpuinfo
module ultralytics imports for its device banner is not installed here: a stub stands in for it.

Usage: /usr/bin/python3 bench/crop_ref.py MODEL.pt LIST OUTDIR [--conf C] [--threads 2]
Prints: RESULT<TAB>images<TAB>crops<TAB>loop_seconds<TAB>images_per_s<TAB>crops_per_s
(the loop starts after the model is loaded and one warm-up prediction).
"""
import argparse
import json
import math
import os
import sys
import time
import types

sys.modules.setdefault("cpuinfo", types.SimpleNamespace(get_cpu_info=lambda: {"brand_raw": "cpu"}))

import cv2  # noqa: E402
import torch  # noqa: E402
from ultralytics import YOLO  # noqa: E402


def rhu(v):
    return int(math.floor(v + 0.5))


def crop_rect(x1, y1, x2, y2, margin=0.5):
    w, h = (x2 - x1) * (1 + 2 * margin), (y2 - y1) * (1 + 2 * margin)
    side = max(1, rhu(max(w, h)))
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    x0, y0 = math.floor(cx - side / 2 + 0.5), math.floor(cy - side / 2 + 0.5)
    return x0, y0, x0 + side, y0 + side


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("list")
    ap.add_argument("out")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    paths = [p.strip() for p in open(a.list) if p.strip()]
    os.makedirs(a.out, exist_ok=True)
    model = YOLO(a.model)
    model.predict(paths[0], imgsz=a.imgsz, conf=a.conf, verbose=False)  # warm-up
    man = open(os.path.join(a.out, "manifest.jsonl"), "w")
    ncrops = 0
    t0 = time.perf_counter()
    for p in paths:
        r = model.predict(p, imgsz=a.imgsz, conf=a.conf, verbose=False)[0]
        img = r.orig_img
        H, W = img.shape[:2]
        stem = os.path.splitext(os.path.basename(p))[0]
        for i, (b, c) in enumerate(zip(r.boxes.xyxy.tolist(), r.boxes.conf.tolist())):
            x0, y0, x1, y1 = crop_rect(*b)
            pad = [max(0, -y0), max(0, y1 - H), max(0, -x0), max(0, x1 - W)]
            src = img
            if any(pad):
                src = cv2.copyMakeBorder(img, *pad, cv2.BORDER_REPLICATE)
            crop = src[y0 + pad[0]:y1 + pad[0], x0 + pad[2]:x1 + pad[2]]
            side = x1 - x0
            interp = cv2.INTER_AREA if side >= a.size else cv2.INTER_CUBIC
            crop = cv2.resize(crop, (a.size, a.size), interpolation=interp)
            name = "%s_%d.jpg" % (stem, i)
            cv2.imwrite(os.path.join(a.out, name), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
            man.write(json.dumps({"source": p, "crop": name, "rect": [x0, y0, x1, y1], "box": b,
                                  "conf": c}) + "\n")
            ncrops += 1
        man.flush()
    dt = time.perf_counter() - t0
    n = len(paths)
    print("RESULT\t%d\t%d\t%.2f\t%.2f\t%.2f" % (n, ncrops, dt, n / dt, ncrops / dt))


if __name__ == "__main__":
    main()

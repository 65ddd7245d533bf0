#!/usr/bin/python3
"""Python reference for bench/run.sh's folder throughput: the loop a user would write
around PyTorch + OpenCV to annotate a folder of images, without ultralytics.

For each image of LIST (a .txt file of image paths, one a line):
  cv2.imread -> letterbox (ultralytics-style: 640, stride 32, auto=True i.e. minimal
  rectangular padding, grey 114) -> BGR->RGB, CHW, /255 -> TorchScript forward ->
  conf 0.25 filter + NMS (IoU 0.7, max_det 300; torchvision.ops.nms where torchvision
  imports, else the plain-torch NMS below) -> boxes scaled back to the image ->
  cv2.rectangle + cv2.putText label -> cv2.imwrite into OUTDIR.

Usage: /usr/bin/python3 bench/ref_folder.py MODEL.torchscript LIST OUTDIR [--imgsz 640] [--threads 2]
Prints: RESULT<TAB>description<TAB>images<TAB>loop_seconds<TAB>images_per_s<TAB>peak_rss_mib<TAB>boxes
        <TAB>mean network input area / imgsz^2
The loop time starts after the model is loaded (and one warm-up forward on the first image,
not written); the process's start-up and torch import are timed by run.sh from outside.

If the TorchScript export refuses a rectangular input (ultralytics' TorchScript export is a
trace at 1x3x640x640: its anchor grid is a constant, so other shapes fail), the loop uses
auto=False, i.e. every image padded to the full 640x640 square, and says so in its RESULT line.
"""
import argparse
import os
import resource
import time

import cv2
import numpy as np
import torch

try:
    import torchvision

    def nms(boxes, scores, iou):
        return torchvision.ops.nms(boxes, scores, iou)

    NMS_NAME = "torchvision.ops.nms %s" % torchvision.__version__
except Exception:  # torchvision missing or broken: a simple greedy NMS in torch
    def nms(boxes, scores, iou):
        order = scores.argsort(descending=True)
        x1, y1, x2, y2 = boxes.unbind(1)
        areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
        keep = []
        while order.numel() > 0:
            i = order[0]
            keep.append(i)
            if order.numel() == 1:
                break
            rest = order[1:]
            w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
            h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
            inter = w * h
            ious = inter / (areas[i] + areas[rest] - inter)
            order = rest[ious <= iou]
        return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)

    NMS_NAME = "plain-torch greedy NMS (no torchvision)"


def letterbox(img, size, stride, auto):
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = size - nw, size - nh
    if auto:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    if (w, h) != (nw, nh):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT,
                             value=(114, 114, 114))
    return img, r, (left, top)


def to_tensor(img):
    x = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))
    return torch.from_numpy(x).float().div_(255.0).unsqueeze_(0)


def postprocess(pred, conf_thres=0.25, iou_thres=0.7, max_det=300, max_wh=7680.0):
    p = pred[0].transpose(0, 1)  # [anchors, 4 + nc]
    scores, cls = p[:, 4:].max(1)
    keep = scores > conf_thres
    p, scores, cls = p[keep], scores[keep], cls[keep]
    if p.shape[0] == 0:
        return torch.zeros(0, 6)
    xy, wh = p[:, :2], p[:, 2:4]
    boxes = torch.cat((xy - wh / 2, xy + wh / 2), 1)
    order = scores.argsort(descending=True)[:30000]
    boxes, scores, cls = boxes[order], scores[order], cls[order]
    i = nms(boxes + cls[:, None].float() * max_wh, scores, iou_thres)[:max_det]
    return torch.cat((boxes[i], scores[i, None], cls[i, None].float()), 1)


def draw(img, det, names):
    lw = max(round(sum(img.shape) / 2 * 0.003), 2)
    tf = max(lw - 1, 1)
    color = (56, 56, 255)
    for x1, y1, x2, y2, conf, c in det.tolist():
        p1, p2 = (int(x1), int(y1)), (int(x2), int(y2))
        cv2.rectangle(img, p1, p2, color, thickness=lw, lineType=cv2.LINE_AA)
        label = "%s %.2f" % (names.get(int(c), str(int(c))), conf)
        tw, th = cv2.getTextSize(label, 0, fontScale=lw / 3, thickness=tf)[0]
        outside = p1[1] - th >= 3
        q2 = p1[0] + tw, p1[1] - th - 3 if outside else p1[1] + th + 3
        cv2.rectangle(img, p1, q2, color, -1, cv2.LINE_AA)
        cv2.putText(img, label, (p1[0], p1[1] - 2 if outside else p1[1] + th + 2), 0, lw / 3,
                    (255, 255, 255), thickness=tf, lineType=cv2.LINE_AA)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("list")
    ap.add_argument("outdir")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    os.makedirs(a.outdir, exist_ok=True)
    with open(a.list) as f:
        paths = [ln.strip() for ln in f if ln.strip()]
    model = torch.jit.load(a.model, map_location="cpu").eval()
    names = {0: "face"}

    with torch.inference_mode():
        # Does the export take rectangular inputs? (traced exports bake in the 640x640 anchors)
        try:
            model(torch.zeros(1, 3, a.imgsz, a.imgsz - 4 * 32))
            auto = True
        except Exception:
            auto = False
        # one warm-up forward on the first image, not timed, not written
        lb, _, _ = letterbox(cv2.imread(paths[0]), a.imgsz, 32, auto)
        model(to_tensor(lb))

        nboxes, area = 0, 0
        t0 = time.perf_counter()
        for p in paths:
            img = cv2.imread(p)
            if img is None:
                raise SystemExit("ref_folder.py: cannot read %s" % p)
            lb, r, (px, py) = letterbox(img, a.imgsz, 32, auto)
            area += lb.shape[0] * lb.shape[1]
            det = postprocess(model(to_tensor(lb)))
            if det.shape[0]:
                det[:, [0, 2]] = ((det[:, [0, 2]] - px) / r).clamp(0, img.shape[1])
                det[:, [1, 3]] = ((det[:, [1, 3]] - py) / r).clamp(0, img.shape[0])
            nboxes += det.shape[0]
            draw(img, det, names)
            cv2.imwrite(os.path.join(a.outdir, os.path.basename(p)), img)
        dt = time.perf_counter() - t0

    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    desc = "python loop: cv2 + torch %s TorchScript (%d threads), %s, letterbox auto=%s" % (
        torch.__version__, torch.get_num_threads(), NMS_NAME, auto)
    print("RESULT\t%s\t%d\t%.3f\t%.2f\t%.1f\t%d\t%.3f"
          % (desc, len(paths), dt, len(paths) / dt, rss_mib, nboxes,
             area / len(paths) / (a.imgsz * a.imgsz)))


if __name__ == "__main__":
    main()

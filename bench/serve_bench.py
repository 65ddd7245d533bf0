#!/usr/bin/python3
"""Requests/s and latency of `animeface serve` over loopback, with 1, 2 and 8
concurrent clients (each sends its next request when the last one is
answered), POST /v1/detect with the sample images as raw bodies, the bundled
model at its imgsz 640. Prints a markdown table.

Usage: bench/serve_bench.py [--bin build/release/animeface] [--requests N]
                            [--clients 1,2,8] [--serve-args "--workers 2"]
Python standard library only (Debian's /usr/bin/python3); the clients share
the machine with the server, which they cost little next to a detection."""
import argparse
import glob
import http.client
import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(binary, extra):
    log = open(os.path.join("/tmp", f"af_serve_bench_{os.getpid()}.log"), "w+")
    p = subprocess.Popen([binary, "serve", "--port", "0"] + extra.split(), stderr=log,
                         stdout=subprocess.DEVNULL, cwd=ROOT)
    for _ in range(600):
        log.seek(0)
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read())
        if m:
            return p, int(m.group(1)), log
        if p.poll() is not None:
            break
        time.sleep(0.05)
    log.seek(0)
    sys.exit("animeface serve did not start: " + log.read())


def client(port, bodies, n, start_at, lat, errors):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    for k in range(n):
        body = bodies[(start_at + k) % len(bodies)]
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/v1/detect", body=body,
                         headers={"Content-Type": "image/jpeg"})
            r = conn.getresponse()
            r.read()
            ok = r.status == 200
        except OSError:
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        dt = time.perf_counter() - t0
        (lat.append(dt) if ok else errors.append(dt))
    conn.close()


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build/release/animeface"))
    ap.add_argument("--requests", type=int, default=64, help="per client count (total per row)")
    ap.add_argument("--clients", default="1,2,8")
    ap.add_argument("--serve-args", default="")
    a = ap.parse_args()
    bodies = [open(f, "rb").read() for f in sorted(glob.glob(os.path.join(ROOT, "samples/*.jpg")))]
    p, port, log = start(a.bin, a.serve_args)
    try:
        # warm-up: every worker sees the image shapes once
        lat, err = [], []
        threads = [threading.Thread(target=client, args=(port, bodies, 8, i, lat, err))
                   for i in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        log.seek(0)
        print("server: " + log.readline().strip())
        print()
        print("| clients | requests | requests/s | p50 ms | p99 ms | max ms | errors |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for c in [int(x) for x in a.clients.split(",")]:
            lat, err = [], []
            per = max(1, a.requests // c)
            threads = [threading.Thread(target=client, args=(port, bodies, per, i, lat, err))
                       for i in range(c)]
            t0 = time.perf_counter()
            [t.start() for t in threads]
            [t.join() for t in threads]
            wall = time.perf_counter() - t0
            print(f"| {c} | {len(lat) + len(err)} | {len(lat) / wall:.1f} | "
                  f"{pct(lat, 0.5) * 1e3:.1f} | {pct(lat, 0.99) * 1e3:.1f} | "
                  f"{max(lat) * 1e3:.1f} | {len(err)} |", flush=True)
    finally:
        p.terminate()
        p.wait(timeout=60)
        log.close()
        os.unlink(log.name)


if __name__ == "__main__":
    main()

#!/bin/sh
# Face-dataset throughput: `animeface crop` over N images of iCartoonFace beside the same job as
# a Python loop with ultralytics 8.1.9 + OpenCV (bench/crop_ref.py), same model (the
# ultralytics-trained ../shared/fixtures/yolov8n_face.pt, which both read), imgsz 640, the same
# confidence, square crops with margin 0.5, edge padding, 512 px JPEG 95. Prints a Markdown table
# of images/s and crops/s (never asserted).
#
# Usage: sh bench/crop_bench.sh [N=2000] [THREADS=2]
#   env: AF_CLI (default build/release/animeface), UL (ultralytics 8.1.9 source,
#        default /tmp/ul-8.1.9), AF_SHARED (default ../shared)
set -e
N=${1:-2000}
THREADS=${2:-2}
AF_CLI=${AF_CLI:-build/release/animeface}
UL=${UL:-/tmp/ul-8.1.9}
SHARED=${AF_SHARED:-../shared}
MODEL=$SHARED/fixtures/yolov8n_face.pt
DATA=$SHARED/data/icartoonface/images
CONF=0.25
TMP=$(mktemp -d /tmp/af_crop_bench_XXXXXX)
trap 'rm -rf "$TMP"' EXIT
find "$DATA/train" "$DATA/val" -maxdepth 1 -type f -name '*.jpg' | sort | head -n "$N" >"$TMP/list.txt"
n=$(wc -l <"$TMP/list.txt")
load0=$(cut -d' ' -f1-3 /proc/loadavg)

t0=$(date +%s.%N)
"$AF_CLI" crop "$TMP/list.txt" --out "$TMP/af" --model "$MODEL" --imgsz 640 --conf $CONF \
    --square --margin 0.5 --pad edge --size 512 --threads "$THREADS" --quiet --progress-every 0 \
    2>"$TMP/af.log"
t1=$(date +%s.%N)
af_crops=$(wc -l <"$TMP/af/manifest.jsonl")
load1=$(cut -d' ' -f1-3 /proc/loadavg)

PYTHONPATH="$UL" /usr/bin/python3 bench/crop_ref.py "$MODEL" "$TMP/list.txt" "$TMP/py" \
    --conf $CONF --threads "$THREADS" >"$TMP/py.log"
load2=$(cut -d' ' -f1-3 /proc/loadavg)

echo "| run | images | crops | seconds | images/s | crops/s |"
echo "|---|---|---|---|---|---|"
awk -v n="$n" -v c="$af_crops" -v a="$t0" -v b="$t1" 'BEGIN { s = b - a;
    printf "| animeface crop (whole command, %s) | %d | %d | %.1f | %.2f | %.2f |\n", "'"$THREADS"' threads", n, c, s, n / s, c / s }'
awk -F'\t' '/^RESULT/ { printf "| python loop: ultralytics 8.1.9 + cv2 (loop only, torch %s threads) | %d | %d | %.1f | %.2f | %.2f |\n", "'"$THREADS"'", $2, $3, $4, $5, $6 }' "$TMP/py.log"
echo
echo "load average (1/5/15 min): before $load0; after animeface $load1; after python $load2"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"

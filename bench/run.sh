#!/bin/sh
# animeface vs reference runtimes, on this machine, in one run. Prints markdown tables:
#   0. the ISA oneDNN reports and the convolution kernels of one pass (fp32, bf16, int8)
#   1. yolov8n_face @640: animeface (fp32; bf16 where the CPU has it; int8 calibrated on 50 val
#      images) vs PyTorch (TorchScript) vs ONNX Runtime fp32, same model,
#      2 threads each -> median/min ms, ratio to animeface, peak RSS
#   2. bigger models, random weights (yolov8s@640, yolov8x6@1280): animeface (fp32, --conv fast,
#      bf16, int8 timed on self-calibrated ranges) vs PyTorch eager
#      (bench/ref_torch_arch.py) -> ms, ratio, GFLOP/s, % of the measured fp32 FMA peak, RSS
#   3. end-to-end folder throughput: `animeface predict --save` vs a Python cv2+torch loop
#   4. training step, yolov8n@640 batch 16: `animeface bench --train` vs bench/ref_torch_train.py
#
# Usage: bench/run.sh [--quick] [--runs N] [--runs-x6 N] [--images N] [--threads T]
#                     [--rounds R] [--skip-refs] [--skip-big] [--skip-folder] [--skip-train]
#   --quick      5 timed runs (1 for x6@1280, 1 training step), 30 images, 1 round: a smoke test
#   defaults     15 timed runs (3 for x6@1280, 3 training steps), 100 images, 2 threads,
#                table 1 in 3 rounds (the three runtimes in turn, 3 times)
# Environment: AF_SHARED (default ../shared, relative to the repository root), AF_BIN (a
# prebuilt animeface binary instead of `make`ing build/release/animeface).
# The reference runtimes come from bench/setup.sh (run automatically when they are missing).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=/usr/bin/python3
SHARED=${AF_SHARED:-../shared}
RUNS=15 RUNS_X6=3 IMAGES=100 THREADS=2 WARMUP=3 ROUNDS=3
SKIP_REFS=0 SKIP_BIG=0 SKIP_FOLDER=0 SKIP_TRAIN=0 RUNS_TRAIN=3 MODE=full
while [ $# -gt 0 ]; do
    case $1 in
    --quick) RUNS=5 RUNS_X6=1 IMAGES=30 RUNS_TRAIN=1 ROUNDS=1 MODE=quick ;;
    --rounds) ROUNDS=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --runs-x6) RUNS_X6=$2; shift ;;
    --images) IMAGES=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --skip-refs) SKIP_REFS=1 ;;
    --skip-big) SKIP_BIG=1 ;;
    --skip-folder) SKIP_FOLDER=1 ;;
    --skip-train) SKIP_TRAIN=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

FACE_PT=$SHARED/fixtures/yolov8n_face.pt
FACE_TS=$SHARED/fixtures/exports/yolov8n_face.torchscript
FACE_ONNX=$SHARED/fixtures/exports/yolov8n_face.onnx
VAL_DIR=$SHARED/data/icartoonface/images/val
for f in "$FACE_PT" "$FACE_TS" "$FACE_ONNX"; do
    [ -f "$f" ] || { echo "run.sh: missing $f (set AF_SHARED to the shared folder)" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/afbench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM

load1() { cut -d' ' -f1 /proc/loadavg; }
say() { echo "$*" >&2; }   # progress goes to stderr, tables to stdout

# ---- build -------------------------------------------------------------------------------
if [ -n "${AF_BIN:-}" ]; then
    AF=$AF_BIN
else
    AF=build/release/animeface
    if ! make -q "$AF" >/dev/null 2>&1; then
        say "run.sh: make (release)"
        if ! make -j2 >"$TMP/make.log" 2>&1; then
            tail -20 "$TMP/make.log" >&2
            [ -x "$AF" ] || { echo "run.sh: make failed and there is no $AF" >&2; exit 1; }
            say "run.sh: WARNING: make failed; timing the existing (possibly stale) $AF"
            STALE=1
        fi
    fi
fi
[ -x "$AF" ] || { echo "run.sh: no animeface binary at $AF" >&2; exit 1; }
mkdir -p build
gcc -O2 -o build/fma_peak bench/fma_peak.c -lpthread

# ---- reference runtimes ------------------------------------------------------------------
if [ $SKIP_REFS = 0 ]; then
    if ! "$PY" -c 'import torch, cv2' 2>/dev/null ||
        [ ! -f bench/node_modules/onnxruntime-node/package.json ]; then
        say "run.sh: reference runtimes missing: running bench/setup.sh"
        sh bench/setup.sh >&2
    fi
fi

# ---- header ------------------------------------------------------------------------------
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
NCPU=$(nproc)
UP_BEFORE=$(uptime)
echo "# animeface benchmark ($MODE mode)"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' (+ uncommitted changes in src/include)')${STALE:+ (STALE BINARY: make failed)}"
echo "- CPU: $CPU, $NCPU cores online; $(uname -sr)"
echo "- threads: $THREADS per runtime; timed runs: $RUNS (x6@1280: $RUNS_X6) after warm-up"
echo "- load before: $UP_BEFORE"
echo

say "run.sh: measuring fp32 FMA peak"
"./build/fma_peak" >"$TMP/fma.md"
PEAKT=$(awk -F'|' -v t="$THREADS" '$2+0==t {p=$3+0} END {print p+0}' "$TMP/fma.md")
PEAK1=$(awk -F'|' '$2+0==1 {print $3+0}' "$TMP/fma.md")
# FMA peak scales with cores; on a shared machine the T-thread burn is the one that other
# processes disturb, so the yardstick is the larger of it and T x the 1-thread figure.
PEAK=$(awk -v a="$PEAKT" -v b="$PEAK1" -v t="$THREADS" 'BEGIN {p = b * t; if (a > p) p = a; printf "%.1f", p}')
echo "Measured fp32 FMA peak (bench/fma_peak.c, AVX2 FMA chains): $PEAK1 GFLOP/s on 1 thread,"
echo "$PEAKT GFLOP/s on $THREADS threads; the % of peak below is against $PEAK GFLOP/s"
echo "(the larger of the $THREADS-thread figure and $THREADS x the 1-thread figure)."
echo

# animeface bench row -> "median<TAB>min<TAB>gflop<TAB>gflops<TAB>rss"
AF_NAME="animeface (fp32, default --conv auto)"
AF_FAST="animeface --conv fast (Winograd F(4x4))"
AF_BF16="animeface --precision bf16 (convs bf16, fp32 accumulation)"
AF_INT8_RAND="animeface --precision int8 (ranges from the bench input itself: timing only)"
AF_INT8="animeface --precision int8 (convs s8, calibrated on 50 val images)"
af_bench() { # model imgsz runs warmup [conv] [precision]
    "$AF" bench --model "$1" --imgsz "$2" --runs "$3" --warmup "$4" --threads "$THREADS" \
        --conv "${5:-auto}" --precision "${6:-fp32}" 2>/dev/null | grep '^|' >"$TMP/afb.md"
    awk -F'|' 'NR==3 {for (i=2;i<=9;i++) gsub(/ /,"",$i); print $5"\t"$6"\t"$7"\t"$8"\t"$9}' "$TMP/afb.md"
}

# ---- what oneDNN runs here ------------------------------------------------------------------
# the ISA oneDNN reports (ONEDNN_VERBOSE's info line) and the convolution kernels of one
# yolov8n_face@640 pass (`animeface bench --layers`), fp32 and (where the CPU has it) bf16
say "run.sh: asking oneDNN what it runs here"
ISA=$(ONEDNN_VERBOSE=1 "$AF" bench --model "$FACE_PT" --imgsz 64 --runs 1 --warmup 0 --threads 1 2>&1 |
    sed -n 's/^onednn_verbose,info,cpu,isa://p' | head -1)
HAS_BF16=1
"$AF" bench --model "$FACE_PT" --imgsz 64 --runs 1 --warmup 0 --threads 1 --precision bf16 2>&1 |
    grep -q 'notice' && HAS_BF16=0
kernels() { # model precision -> "impl xN, impl xN" over the convolutions of one pass
    "$AF" bench --model "$1" --imgsz 640 --runs 1 --warmup 0 --threads "$THREADS" \
        --precision "$2" --layers 2>/dev/null |
        awk -F'|' '/^\| conv \|/ {c = 1; next} c && NF > 6 && $6 !~ /---/ {gsub(/ /, "", $6); n[$6]++}
            END {s = ""; for (k in n) s = s (s == "" ? "" : ", ") k " x" n[k]; print s}'
}
# int8 needs a calibrated model: the face model's, from the first 50 sorted val images
FACE_INT8=$TMP/yolov8n_face_int8.safetensors
"$AF" calibrate "$FACE_PT" --source "$VAL_DIR" --images 50 --threads "$THREADS" -o "$FACE_INT8" \
    >/dev/null 2>"$TMP/calib.err" || { cat "$TMP/calib.err" >&2; rm -f "$FACE_INT8"; }
K_FP32=$(kernels "$FACE_PT" fp32)
K_BF16=-
[ $HAS_BF16 = 1 ] && K_BF16=$(kernels "$FACE_PT" bf16)
WINO=0
case $K_FP32 in *winograd*) WINO=1 ;; esac
echo "oneDNN's ISA here: ${ISA:-?}"
echo
echo "Convolution kernels of one yolov8n_face@640 pass (\`animeface bench --layers\`):"
echo
echo "- fp32: $K_FP32"
if [ $HAS_BF16 = 1 ]; then
    echo "- bf16: $K_BF16"
else
    echo "- bf16: none (no avx512_bf16/AMX here: --precision bf16 runs fp32, so no bf16 rows below)"
fi
if [ -f "$FACE_INT8" ]; then
    echo "- int8: $(kernels "$FACE_INT8" int8)"
fi
[ $WINO = 1 ] || echo "- no Winograd here (AF_WINOGRAD=0, or a CPU without AVX2), so no --conv fast rows below"
echo

# ref_row NAME CMD... : runs a reference, prints "name<TAB>median<TAB>min<TAB>rss<TAB>load1"
# (a failed reference gets a row saying so, with its last error line on stderr)
ref_row() {
    name=$1; shift
    L=$(load1)
    if "$@" >"$TMP/ref.out" 2>"$TMP/ref.err" && grep -q '^RESULT' "$TMP/ref.out"; then
        awk -F'\t' -v l="$L" '$1=="RESULT" {print $2"\t"$3"\t"$4"\t"$5"\t"l}' "$TMP/ref.out"
    else
        cat "$TMP/ref.err" >&2
        printf '%s: FAILED (%s)\t-\t-\t-\t%s\n' "$name" "$(tail -1 "$TMP/ref.err" | tr '\t|' '  ' | cut -c1-120)" "$L"
    fi
}

# table 2 rows: reads "model<TAB>imgsz<TAB>runs<TAB>runtime<TAB>median<TAB>min<TAB>gflop<TAB>gflops
# <TAB>rss<TAB>load1" lines, the animeface row of each model first; a reference row has gflops "-"
# (computed here from the animeface row's GFLOP: same network) and median "-" when it failed.
t2_rows() { # peak_gflops
    awk -F'\t' -v p="$1" -v n="$AF_NAME" '$4 == n {a = $5; g = $7}
        $5 == "-" {printf "| %s | %s | %s | %s | - | - | - | - | - | - | - | %s |\n", $1, $2, $4, $3, $10; next}
        {gs = ($8 == "-") ? g * 1000 / $5 : $8
         printf "| %s | %s | %s | %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.0f%% | %.0f | %s |\n",
             $1, $2, $4, $3, $5, $6, $5 / a, g, gs, 100 * gs / p, $9, $10}'
}

# ---- table 1 -----------------------------------------------------------------------------
say "run.sh: table 1 (yolov8n_face@640)"
# ROUNDS rounds of the three runtimes in turn (animeface, torch, onnxruntime, animeface, ...):
# this shared VM's speed drifts by +-20% over minutes, so each round's ratios compare runs
# taken a few seconds apart; the table gives the median over rounds of each runtime's median.
: >"$TMP/t1raw.tsv"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    L=$(load1)
    R=$(af_bench "$FACE_PT" 640 "$RUNS" "$WARMUP")
    {
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$AF_NAME" "$(echo "$R" | cut -f1)" "$(echo "$R" | cut -f2)" "$(echo "$R" | cut -f5)" "$L"
        if [ $WINO = 1 ]; then
            RF=$(af_bench "$FACE_PT" 640 "$RUNS" "$WARMUP" fast)
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$AF_FAST" "$(echo "$RF" | cut -f1)" "$(echo "$RF" | cut -f2)" "$(echo "$RF" | cut -f5)" "$L"
        fi
        if [ -f "$FACE_INT8" ]; then
            RI=$(af_bench "$FACE_INT8" 640 "$RUNS" "$WARMUP" auto int8)
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$AF_INT8" "$(echo "$RI" | cut -f1)" "$(echo "$RI" | cut -f2)" "$(echo "$RI" | cut -f5)" "$L"
        fi
        if [ $HAS_BF16 = 1 ]; then
            RB=$(af_bench "$FACE_PT" 640 "$RUNS" "$WARMUP" auto bf16)
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$AF_BF16" "$(echo "$RB" | cut -f1)" "$(echo "$RB" | cut -f2)" "$(echo "$RB" | cut -f5)" "$L"
        fi
        if [ $SKIP_REFS = 0 ]; then
            printf '%s\t' "$r"; ref_row torch "$PY" bench/ref_torch.py "$FACE_TS" --imgsz 640 --runs "$RUNS" --warmup "$WARMUP" --threads "$THREADS"
            printf '%s\t' "$r"; ref_row onnxruntime node bench/ref_ort.js "$FACE_ONNX" --imgsz 640 --runs "$RUNS" --warmup "$WARMUP" --threads "$THREADS"
        fi
    } >>"$TMP/t1raw.tsv"
    r=$((r + 1))
done
# per runtime (in first-seen order): median of the round medians, min of mins, max RSS, first load
awk -F'\t' '{k = $2; if (!(k in n)) {order[++no] = k; ld[k] = $6}
        if ($3 == "-") {failed[k] = 1; next}
        n[k]++; med[k, n[k]] = $3; if (!(k in mn) || $4 < mn[k]) mn[k] = $4; if ($5 > rss[k]) rss[k] = $5}
    END {for (i = 1; i <= no; i++) {k = order[i]
            if (!n[k]) {printf "%s\t-\t-\t-\t%s\n", k, ld[k]; continue}
            m = n[k]; for (a = 1; a <= m; a++) v[a] = med[k, a]
            for (a = 2; a <= m; a++) for (b = a; b > 1 && v[b] < v[b-1]; b--) {t = v[b]; v[b] = v[b-1]; v[b-1] = t}
            md = (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
            printf "%s\t%.3f\t%.3f\t%.1f\t%s\n", k, md, mn[k], rss[k], ld[k]}}' "$TMP/t1raw.tsv" >"$TMP/t1.tsv"
AF_MED=$(awk -F'\t' 'NR==1 {print $2}' "$TMP/t1.tsv")
echo "## 1. Same model, three runtimes: yolov8n_face @ 640x640 (batch 1, fp32 unless the row says bf16 or int8, $THREADS threads)"
echo
echo "| runtime | median ms | min ms | median / animeface | peak RSS MiB | load1 before |"
echo "|---|---|---|---|---|---|"
awk -F'\t' -v a="$AF_MED" '$2 == "-" {printf "| %s | - | - | - | - | %s |\n", $1, $5; next}
    {printf "| %s | %.1f | %.1f | %.2fx | %.0f | %s |\n", $1, $2, $3, $2/a, $4, $5}' "$TMP/t1.tsv"
echo
if [ "$ROUNDS" -gt 1 ]; then
    echo "Per round (median ms; ratio to animeface in the same round):"
    echo
    awk -F'\t' -v n="$AF_NAME" '$2 == n {a[$1] = $3}
        {rows[NR] = $0}
        END {for (i = 1; i <= NR; i++) {split(rows[i], f, "\t"); if (f[3] == "-") continue
                 printf "- round %s, %s: %.1f ms (%.2fx)\n", f[1], f[2], f[3], f[3] / a[f[1]]}}' "$TMP/t1raw.tsv"
    echo
fi
echo "Inputs: animeface reads yolov8n_face.pt; PyTorch the TorchScript export, ONNX Runtime the ONNX"
echo "export of the same checkpoint (fixed 1x3x640x640). Forward pass only (no pre/post-processing);"
echo "peak RSS is the whole process (for the references: interpreter + runtime + model)."
echo

# ---- table 2 -----------------------------------------------------------------------------
if [ $SKIP_BIG = 0 ]; then
    say "run.sh: table 2 (yolov8s@640, yolov8x6@1280, random weights)"
    : >"$TMP/t2.tsv"
    for spec in "yolov8s.yaml 640 $RUNS 2" "yolov8x6.yaml 1280 $RUNS_X6 1"; do
        # shellcheck disable=SC2086 # split "model imgsz runs warmup" on purpose
        set -- $spec
        L=$(load1)
        variants=auto
        [ $WINO = 1 ] && variants="$variants fast"
        [ $HAS_BF16 = 1 ] && variants="$variants bf16"
        variants="$variants int8"
        for conv in $variants; do
            case $conv in
            bf16) R=$(af_bench "$1" "$2" "$3" "$4" auto bf16); name=$AF_BF16 ;;
            int8) R=$(af_bench "$1" "$2" "$3" "$4" auto int8); name=$AF_INT8_RAND ;;
            fast) R=$(af_bench "$1" "$2" "$3" "$4" fast); name=$AF_FAST ;;
            *) R=$(af_bench "$1" "$2" "$3" "$4" auto); name=$AF_NAME ;;
            esac
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$name" \
                "$(echo "$R" | cut -f1)" "$(echo "$R" | cut -f2)" "$(echo "$R" | cut -f3)" \
                "$(echo "$R" | cut -f4)" "$(echo "$R" | cut -f5)" "$L" >>"$TMP/t2.tsv"
        done
        if [ $SKIP_REFS = 0 ]; then
            ref_row torch "$PY" bench/ref_torch_arch.py --model "$1" --imgsz "$2" --runs "$3" \
                --warmup "$4" --threads "$THREADS" --nc 1 |
                awk -F'\t' -v m="$1" -v s="$2" -v r="$3" \
                    '{print m"\t"s"\t"r"\t"$1"\t"$2"\t"$3"\t-\t-\t"$4"\t"$5}' >>"$TMP/t2.tsv"
        fi
    done
    echo "## 2. Bigger models: animeface vs PyTorch (random weights, nc=1, batch 1, fp32 unless the row says bf16 or int8, $THREADS threads)"
    echo
    echo "| model | imgsz | runtime | runs | median ms | min ms | median / animeface | GFLOP | GFLOP/s | % of FMA peak ($PEAK GFLOP/s) | peak RSS MiB | load1 before |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    t2_rows "$PEAK" <"$TMP/t2.tsv"
    echo
    echo "PyTorch: bench/ref_torch_arch.py, the same network built in plain torch modules from"
    echo "ultralytics' layer tables (parameter count checked against ultralytics'), BatchNorm folded"
    echo "into the convs as ultralytics predict does, eager mode, inference_mode, Detect decode included."
    echo "GFLOP is animeface's count for the network (the same for both); forward pass only."
    echo "GFLOP/s and % of peak count the direct method's FLOPs: animeface's 3x3 stride-1 convs run"
    echo "by Winograd (F(2x2,3x3) by default, F(4x4,3x3) with --conv fast), which does 2.25x (4x)"
    echo "fewer multiplies, so these are effective rates and can pass 100%."
    echo "For context, ultralytics itself was measured earlier on this machine at about 110 ms for"
    echo "yolov8s@640 and 3.4-4.1 s for yolov8x6@1280."
    echo
fi

# ---- table 3 -----------------------------------------------------------------------------
if [ $SKIP_FOLDER = 0 ]; then
    [ -d "$VAL_DIR" ] || { echo "run.sh: missing $VAL_DIR" >&2; exit 1; }
    say "run.sh: table 3 (folder of $IMAGES images)"
    find "$VAL_DIR" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.png' -o -name '*.jpeg' \) |
        LC_ALL=C sort | head -n "$IMAGES" >"$TMP/list.txt"
    N=$(wc -l <"$TMP/list.txt")
    now() { date +%s.%N; }
    L_AF=$(load1)
    t0=$(now)
    /usr/bin/time -f '%M' -o "$TMP/af.rss" "$AF" predict "$TMP/list.txt" --save --imgsz 640 \
        --model "$FACE_PT" --threads "$THREADS" --project "$TMP/af" --name predict \
        >"$TMP/af.log" 2>&1 || { cat "$TMP/af.log" >&2; exit 1; }
    t1=$(now)
    AF_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
    AF_N=$(find "$TMP/af/predict" -maxdepth 1 -type f | wc -l)
    echo "## 3. End to end: annotate a folder ($N images of icartoonface val, the first $N sorted, imgsz 640)"
    echo
    # per-image log lines: "image i/N PATH: HxW 2 faces, 12.3ms" -> boxes, mean input area
    AF_STATS=$(awk -v s=640 '/^image [0-9]+\/[0-9]+ / {
            if (match($0, /: [0-9]+x[0-9]+ /)) { split(substr($0, RSTART + 2, RLENGTH - 3), d, "x"); a += d[1] * d[2]; k++ }
            if (match($0, /[0-9]+ faces?,/)) b += substr($0, RSTART, RLENGTH) + 0 }
            END { printf "%d %.3f", b, k ? a / k / (s * s) : 0 }' "$TMP/af.log")
    echo "| pipeline | images written | boxes | mean input area / 640² | wall s (whole process) | images/s | vs animeface | loop only images/s | peak RSS MiB | load1 before |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    AF_IPS=$(awk -v n="$N" -v s="$AF_S" 'BEGIN {print n / s}')
    printf '| animeface predict --save (fp32, %s threads) | %s | %s | %.2f | %.2f | %.2f | 1.00x | - | %.0f | %s |\n' \
        "$THREADS" "$AF_N" "${AF_STATS% *}" "${AF_STATS#* }" "$AF_S" "$AF_IPS" \
        "$(awk '{print $1 / 1024}' "$TMP/af.rss")" "$L_AF"
    if [ $SKIP_REFS = 0 ]; then
        L_PY=$(load1)
        t0=$(now)
        "$PY" bench/ref_folder.py "$FACE_TS" "$TMP/list.txt" "$TMP/py" --imgsz 640 \
            --threads "$THREADS" >"$TMP/py.log" || echo "| python loop: FAILED (see stderr) | - | - | - | - | - | - | - | - | $L_PY |"
        t1=$(now)
        PY_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')
        PY_N=$(find "$TMP/py" -maxdepth 1 -type f | wc -l)
        awk -F'\t' -v s="$PY_S" -v n="$N" -v a="$AF_IPS" -v w="$PY_N" -v l="$L_PY" '$1=="RESULT" {
            printf "| %s | %s | %s | %.2f | %.2f | %.2f | %.2fx | %.2f | %.0f | %s |\n", $2, w, $7, $8, s, n/s, (n/s)/a, $5, $6, l }' "$TMP/py.log"
    fi
    echo
    echo "Whole process = start-up, model load, then for each image: decode, letterbox, forward, NMS,"
    echo "draw, encode + write; 'vs animeface' is images/s relative to animeface (higher is faster)."
    echo "'loop only' is the Python loop timed inside the script (after torch import, model load and"
    echo "one warm-up forward). ultralytics' TorchScript export is traced at 1x3x640x640 (its anchor"
    echo "grid is a constant), so the Python loop must pad every image to the full 640x640 square"
    echo "(letterbox auto=False; ref_folder.py checks and says so), while animeface uses ultralytics'"
    echo "minimal rectangular padding: the 'mean input area' column shows the difference in work."
    echo
fi

# ---- table 4 -----------------------------------------------------------------------------
if [ $SKIP_TRAIN = 0 ]; then
    say "run.sh: table 4 (training step, yolov8n@640, batch 16)"
    L=$(load1)
    "$AF" bench --train --runs "$RUNS_TRAIN" --warmup 1 --threads "$THREADS" >"$TMP/aft.md"
    echo "## 4. Training: one step of yolov8n @ 640, batch 16 (fp32, $THREADS threads, random init)"
    echo
    echo "| runtime | s/batch | img/s | vs animeface (img/s) | peak RSS MiB | load1 before |"
    echo "|---|---|---|---|---|---|"
    AF_T=$(awk -F'|' 'NR==3 {gsub(/ /,"",$6); print $6}' "$TMP/aft.md")
    awk -F'|' -v l="$L" 'NR==3 {printf "| animeface (`bench --train`) | %.2f | %.2f | 1.00x | %.0f | %s |\n", $6, $7, $8, l}' "$TMP/aft.md"
    if [ $SKIP_REFS = 0 ]; then
        L=$(load1)
        if "$PY" bench/ref_torch_train.py --runs "$RUNS_TRAIN" --warmup 1 --threads "$THREADS" \
            >"$TMP/tt.out" 2>"$TMP/tt.err"; then
            awk -F'\t' -v a="$AF_T" -v l="$L" '$1=="RESULT" {
                printf "| %s (eager, training mode) | %.2f | %.2f | %.2fx | %.0f | %s |\n", $2, $3, $4, a / $3, $5, l}' "$TMP/tt.out"
        else
            cat "$TMP/tt.err" >&2
            echo "| torch: FAILED (see stderr) | - | - | - | - | $L |"
        fi
    fi
    echo
    echo "animeface: forward, v8DetectionLoss (assigner, CIoU, DFL, BCE) on fixed targets, backward,"
    echo "gradient clipping, SGD step. Where the time goes (animeface):"
    echo
    awk 'f {print} /^$/ && NR > 3 {f = 1}' "$TMP/aft.md"
    echo
    echo "PyTorch: bench/ref_torch_train.py, YOLOv8n in plain torch modules (ultralytics' 3,011,043"
    echo "parameters), training mode, a stand-in loss on the head outputs (the real loss is a few ms),"
    echo "backward, clipping, SGD-nesterov step. 'vs animeface' > 1 means faster than animeface."
    echo
fi

echo "- load after: $(uptime)"

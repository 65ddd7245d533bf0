#!/bin/sh
# Installs the reference runtimes used only by the benchmark (bench/run.sh).
# animeface itself never needs any of this. Idempotent: re-running skips what is there.
#   - PyTorch 1.13 + OpenCV for Debian's /usr/bin/python3 (apt: python3-torch, python3-opencv;
#     python3-torchvision too where the archive has it, for torchvision.ops.nms)
#   - ONNX Runtime for node (npm onnxruntime-node into bench/node_modules; its CPU
#     binaries are bundled, --ignore-scripts skips the install script that fetches GPU parts)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

if ! "$PY" -c 'import torch, cv2' 2>/dev/null; then
    echo "setup: installing python3-torch python3-opencv (apt)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch python3-opencv
fi
if ! "$PY" -c 'import torchvision' 2>/dev/null; then
    if apt-cache show python3-torchvision >/dev/null 2>&1; then
        echo "setup: installing python3-torchvision (apt, optional: torchvision.ops.nms)"
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torchvision ||
            echo "setup: python3-torchvision not installed; ref_folder.py will use its own torch NMS"
    fi
fi
"$PY" -c 'import torch, cv2; print("setup: torch", torch.__version__, "| cv2", cv2.__version__)'

if [ ! -f "$HERE/node_modules/onnxruntime-node/package.json" ]; then
    echo "setup: installing onnxruntime-node (npm, --ignore-scripts)"
    cd "$HERE"
    # versions pinned in bench/package.json
    npm install --ignore-scripts --no-audit --no-fund --no-package-lock
fi
cd "$HERE" && node -e 'const o=require("onnxruntime-node"); console.log("setup: onnxruntime-node", require("onnxruntime-node/package.json").version)'

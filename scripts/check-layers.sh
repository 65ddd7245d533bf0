#!/bin/sh
# Fails on any #include "X/..." in src/ that goes up the layer order (HACKING.md, "Layers").
# Usage: scripts/check-layers.sh LAYER...   lowest first; a layer is one folder or several
# joined by commas (folders of one layer may include each other), e.g.
#   scripts/check-layers.sh core io,ops model detect draw,data,eval train cli
# (the Makefile's LAYERS). A folder under src/ that is in no layer is an error too.
set -eu
[ $# -gt 0 ] || { echo "usage: $0 LAYER... (lowest first)" >&2; exit 2; }
rank_of() { # folder -> its layer's index, or nothing
    i=0
    for layer in $LAYERS; do
        case ",$layer," in *",$1,"*) echo $i; return;; esac
        i=$((i + 1))
    done
}
LAYERS="$*"
bad=0
for d in src/*/; do
    d=${d#src/}; d=${d%/}
    if [ -z "$(rank_of "$d")" ]; then
        echo "src/$d: in no layer (add it to LAYERS in the Makefile and to HACKING.md)"; bad=1
    fi
done
# every quoted include of a folder/header: file:line:folder
out=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[a-z0-9_]+/' src --include='*.c' --include='*.h' |
    sed -E 's|^(src/([^/]+)/[^:]*):([0-9]+):.*#[[:space:]]*include[[:space:]]+"([a-z0-9_]+)/.*|\1:\3 \2 \4|')
echo "$out" | { bad=0
    while read -r where from to; do
        [ -n "$where" ] || continue
        rf=$(rank_of "$from"); rt=$(rank_of "$to")
        [ -n "$rf" ] || continue # reported above
        if [ -z "$rt" ]; then
            echo "$where: includes $to/, a folder in no layer"; bad=1
        elif [ "$rt" -gt "$rf" ]; then
            echo "$where: $from/ includes $to/, a higher layer (order: $LAYERS)"; bad=1
        fi
    done
    exit $bad; } || bad=1
if [ $bad -ne 0 ]; then
    echo "layers: includes go up the order (see HACKING.md, Layers)"; exit 1
fi
echo "layers: every include in src/ goes down or sideways ($LAYERS)"

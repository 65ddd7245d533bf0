#!/bin/sh
# The embedder's view of the libraries (issue 21), run by `make test` after `make install` into
# a scratch root ($AF_EMBED_ROOT, prefix already applied):
#   exports        libanimeface.so / libanimeface-train.so export exactly the functions their
#                  public headers declare (nm -D --defined-only vs scripts/public-symbols.sh)
#   shared, static tests/embed/detect_only.c built with `pkg-config animeface` (shared) and
#                  `pkg-config --static animeface`: no cairo_/FT_/yaml_ symbol needed (nm -u),
#                  no libcairo/libfreetype/libyaml loaded (readelf NEEDED, ldd), pkg-config's
#                  flags name none of them
#   detect         both programs on a sample give the CLI's boxes (models/default.safetensors)
# Env: AF_EMBED_ROOT, AF_CLI, CC, AF_EMBED_CFLAGS (the build mode's flags, e.g. -fsanitize=...).
# Output in the tests' format (ok/FAIL/skip NAME, then "N passed, N failed, N skipped").
set -u
root=${AF_EMBED_ROOT:?set AF_EMBED_ROOT}
cli=${AF_CLI:?set AF_CLI}
cc=${CC:-cc}
out=$root/../embed-bin
mkdir -p "$out"
passed=0 failed=0 skipped=0
result() { # NAME STATUS(0 ok, 1 fail, 2 skip) [why]
    case $2 in
        0) echo "ok $1"; passed=$((passed + 1));;
        1) echo "FAIL $1${3:+: $3}"; failed=$((failed + 1));;
        *) echo "skip $1: $3" >&2; echo "skip $1"; skipped=$((skipped + 1));;
    esac
}
forbidden='^(cairo_|FT_|yaml_)'
pc() { PKG_CONFIG_PATH=$root/lib/pkgconfig pkg-config --define-variable=prefix="$root" "$@"; }

# ---- exports ----
st=0
for l in animeface animeface-train; do
    got=$(nm -D --defined-only "$root/lib/lib$l.so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u)
    want=$(sh scripts/public-symbols.sh "$root/include/$l.h")
    extra=$(printf '%s\n' "$got" | grep -vxF "$want")
    missing=$(printf '%s\n' "$want" | grep -vxF "$got")
    [ -z "$extra" ] || { echo "lib$l.so exports symbols outside $l.h:" $extra >&2; st=1; }
    [ -z "$missing" ] || { echo "lib$l.so does not export:" $missing >&2; st=1; }
    [ -n "$want" ] || { echo "$l.h: no function found" >&2; st=1; }
    soname=$(readelf -d "$root/lib/lib$l.so" | sed -nE 's/.*SONAME.*\[(.*)\]/\1/p')
    [ "$soname" = "lib$l.so.0" ] || { echo "lib$l.so: SONAME '$soname', want lib$l.so.0" >&2; st=1; }
done
result test_embed_exports $st

# ---- shared and static builds ----
flags_shared="$(pc --cflags --libs animeface)"
flags_static="$(pc --static --cflags --libs animeface)"
for kind in shared static; do
    st=0
    eval "flags=\$flags_$kind"
    bin=$out/detect_only_$kind
    if printf '%s\n' "$flags" | grep -qE 'cairo|freetype|yaml'; then
        echo "pkg-config animeface ($kind) names a train-side library: $flags" >&2; st=1
    fi
    if [ $kind = static ]; then
        # the archive, not the .so: name it so the linker cannot pick the shared one
        flags=$(printf '%s\n' "$flags" | sed "s|-lanimeface\\b|$root/lib/libanimeface.a|")
    fi
    # shellcheck disable=SC2086
    if ! $cc -std=c11 -Wall -Wextra -Werror ${AF_EMBED_CFLAGS:-} -o "$bin" tests/embed/detect_only.c $flags -ljpeg; then
        result test_embed_$kind 1 "does not build"; continue
    fi
    syms=$(nm -u "$bin" | awk '{print $NF}' | sed 's/@.*//' | grep -E "$forbidden")
    [ -z "$syms" ] || { echo "detect_only_$kind needs:" $syms >&2; st=1; }
    if [ $kind = shared ]; then
        readelf -d "$bin" | grep -q 'NEEDED.*\[libanimeface\.so\.0\]' || { echo "detect_only_shared: libanimeface.so.0 not NEEDED" >&2; st=1; }
        libs=$(LD_LIBRARY_PATH=$root/lib ldd "$bin" | grep -E 'libcairo|libfreetype|libyaml')
        [ -z "$libs" ] || { echo "detect_only_shared loads:" $libs >&2; st=1; }
    else
        readelf -d "$bin" | grep -q 'NEEDED.*libanimeface' && { echo "detect_only_static: linked to the .so" >&2; st=1; }
        syms=$(nm "$bin" | awk '{print $NF}' | grep -E "$forbidden" | head -3)
        [ -z "$syms" ] || { echo "detect_only_static contains:" $syms >&2; st=1; }
    fi
    result test_embed_$kind $st
done

# ---- detect ----
img=$(ls samples/*.jpg 2>/dev/null | head -n 1)
if [ -z "$img" ] || [ ! -x "$out/detect_only_shared" ] || [ ! -x "$out/detect_only_static" ]; then
    result test_embed_detect 2 "no sample image or a program did not build"
else
    st=0
    # the CLI's boxes for the same image and model (its JSON Lines), as "x1 y1 x2 y2 conf cls"
    want=$("$cli" predict "$img" --model models/default.safetensors --json - --quiet 2>/dev/null |
        grep -oE '"box": \[[^]]*\], "conf": [^,]*, "cls": [0-9]+' | tr -d '"a-z:[],' | tr -s ' ' | sed 's/^ //')
    nwant=$(printf '%s\n' "$want" | grep -c .)
    for kind in shared static; do
        got=$(LD_LIBRARY_PATH=$root/lib "$out/detect_only_$kind" models/default.safetensors "$img") ||
            { echo "detect_only_$kind failed" >&2; st=1; continue; }
        ngot=$(printf '%s\n' "$got" | sed -n 's/ faces$//p')
        [ "$ngot" = "$nwant" ] && [ "$ngot" -gt 0 ] || { echo "detect_only_$kind: $ngot faces, the CLI $nwant" >&2; st=1; continue; }
        # every box within 0.5 px and conf within 1e-4 of the CLI's, in the same order
        printf '%s\n' "$got" | grep -v faces | paste -d ' ' - "$(printf '%s\n' "$want" > "$out/want.txt"; echo "$out/want.txt")" |
            awk '{ for (i = 1; i <= 4; i++) if ($i - $(i + 6) > 0.5 || $(i + 6) - $i > 0.5) bad = 1;
                   if ($5 - $11 > 1e-4 || $11 - $5 > 1e-4 || $6 != $12) bad = 1 }
                 END { exit bad }' || { echo "detect_only_$kind: boxes differ from the CLI's" >&2; st=1; }
    done
    result test_embed_detect $st
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]

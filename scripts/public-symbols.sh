#!/bin/sh
# Prints the functions a public header declares (one name a line, sorted): the symbols its
# shared library exports. Usage: scripts/public-symbols.sh include/animeface.h [--map NAME]
# With --map, prints a linker version script instead (NAME_0 { global: ...; local: *; };).
# Comments are stripped by the preprocessor (-fpreprocessed: no macro expansion, no includes);
# a function is an af_ name followed by "(", not a function-pointer typedef "(*af_x)(".
set -eu
hdr=$1
names=$(${CC:-cc} -fpreprocessed -dD -E -P -x c "$hdr" | tr '\n' ' ' |
    sed -E 's/\([[:space:]]*\*[[:space:]]*af_[a-z0-9_]+[[:space:]]*\)//g' |
    grep -oE '(^|[^[:alnum:]_])af_[a-z0-9_]+[[:space:]]*\(' |
    sed -E 's/^[^a]*(af_[a-z0-9_]+).*/\1/' | sort -u)
if [ "${2:-}" = --map ]; then
    echo "$3 {"
    echo "  global:"
    for n in $names; do echo "    $n;"; done
    echo "  local: *;"
    echo "};"
else
    printf '%s\n' $names
fi

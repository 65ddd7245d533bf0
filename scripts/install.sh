#!/bin/sh
# `make install` into PREFIX (default /usr/local, on every user's PATH), with sudo when not
# root, as scripts/install-deps.sh does: the README's first command, so that `animeface ...`
# works right after it. Without sudo: make install PREFIX=$HOME/.local (then ~/.local/bin
# must be on PATH).
set -e
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO make --no-print-directory install PREFIX="${PREFIX:-/usr/local}"

#!/bin/sh
# Installs the Debian 12 packages animeface needs to build and test.
# Run as root (or with sudo). What each one is for is in README.md.
set -e
PKGS="build-essential pkg-config
libdnnl-dev
libjpeg62-turbo-dev libpng-dev libwebp-dev libexif-dev
libtiff-dev libgif-dev libavif-dev
libzip-dev libcjson-dev libyaml-dev
libcairo2-dev libfreetype-dev fonts-dejavu-core
libmicrohttpd-dev nettle-dev
valgrind curl chromium chromium-driver python3-selenium
slurm-wlm munge"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

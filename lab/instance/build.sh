#!/usr/bin/env bash
# Build the lab's cloud instance image into OUT (default .build/instance), the three files publish uploads:
#   vmlinuz            the kernel (glance disk_format aki), Debian's, as in the ramdisk
#   initramfs.cpio.gz  the ramdisk (ari): busybox, the NIC drivers and lab/instance/init
#   root.img           the machine image (ami) that names the two: 1 MiB of zeros, the guest never reads it
# The kernel and busybox .debs come from the ramdisk's cache (.build/ramdisk/cache): lab/ramdisk/build.sh does
# the work, with this folder's init. A second run changes nothing.
# Usage: lab/instance/build.sh [OUT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(realpath -m "${1:-$root/.build/instance}")
mkdir -p "$out"
RAMDISK_INIT="$here/init" RAMDISK_CACHE="${RAMDISK_CACHE:-$root/.build/ramdisk/cache}" \
  bash "$root/lab/ramdisk/build.sh" "$out"
[ -f "$out/root.img" ] || truncate -s 1M "$out/root.img"

#!/usr/bin/env bash
# Build the datacenter.iaas ramdisk: OUT/vmlinuz and OUT/initramfs.cpio.gz (default OUT: .build/ramdisk).
#
# The kernel is Debian's linux-image-6.1.0-*-amd64, extracted from its .deb with dpkg-deb (never installed);
# the initramfs holds busybox (from busybox-static's .deb), the kernel modules the lab machines and common
# servers need (with their dependencies, in load order), /init and its DHCP hook, and an LLDP listener:
# lldpad + lldptool (Debian's lldpad, which needs only glibc, libconfig and libnl-3; lldpd would pull in
# net-snmp, perl and ICU, ~40 MB) with exactly the shared libraries they load, taken from those packages'
# .debs. All .debs are fetched with `apt-get download` into OUT/cache once. The initramfs is reproducible: the same inputs give the same
# bytes, and an unchanged output file is left alone, so a second run changes nothing.
#
# Usage: lab/ramdisk/build.sh [OUT_DIR]
# Environment:
#   KERNEL_PACKAGE    kernel package to use (default: what linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64)
#   RAMDISK_MODULES   extra module names to include, space-separated (e.g. "igb ixgbe bnxt_en")
#   SOURCE_DATE_EPOCH timestamp of every file in the initramfs (default 1700000000)
#   RAMDISK_INIT      the /init to install (default: lab/ramdisk/init; lab/instance/build.sh gives its own)
#   RAMDISK_CACHE     where the .debs are kept (default: OUT/cache)
# Needs: apt-get, dpkg-deb, cpio, gzip, modinfo (kmod). `apt-get update` must have run once.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(realpath -m "${1:-$root/.build/ramdisk}")
cache=$(realpath -m "${RAMDISK_CACHE:-$out/cache}")
init=$(realpath "${RAMDISK_INIT:-$here/init}")
work=$out/work
epoch=${SOURCE_DATE_EPOCH:-1700000000}
started=$(date +%s.%N)

# Storage and network drivers: virtio (the lab), e1000/e1000e and AHCI/PIIX (QEMU's emulated hardware),
# NVMe and virtio-scsi; button and evdev so that an ACPI power button (a BMC's soft off) powers the ramdisk off;
# af_packet for the LLDP listener's raw sockets.
modules="virtio_pci virtio_net virtio_blk virtio_scsi sd_mod ahci ata_piix e1000 e1000e nvme button evdev af_packet
${RAMDISK_MODULES:-}"

say() { echo "ramdisk: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in apt-get apt-cache dpkg-deb cpio gzip modinfo realpath sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install cpio kmod dpkg apt coreutils)"
done

mkdir -p "$cache" "$work"

# --- inputs: two .debs, downloaded once ------------------------------------------------------------------------
kernel_package=${KERNEL_PACKAGE:-$(apt-cache depends linux-image-amd64 2>/dev/null \
  | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')}
[ -n "$kernel_package" ] || die "cannot tell which kernel linux-image-amd64 means: run apt-get update"
case $kernel_package in
  linux-image-[0-9]*-amd64) ;;
  *) die "KERNEL_PACKAGE=$kernel_package is not a linux-image-<version>-amd64 package" ;;
esac

apt_opts=()
[ "$(id -u)" -eq 0 ] && apt_opts=(-o APT::Sandbox::User=root)  # else apt warns that _apt cannot write here

fetch() {  # fetch PACKAGE: print the path of its .deb in the cache, downloading it when missing
  local package=$1 deb
  deb=$(find "$cache" -maxdepth 1 -name "${package}_*.deb" | sort | tail -n 1)
  if [ -z "$deb" ]; then
    say "downloading $package"
    (cd "$cache" && apt-get "${apt_opts[@]}" download -q "$package" >&2) || die "apt-get download $package failed"
    deb=$(find "$cache" -maxdepth 1 -name "${package}_*.deb" | sort | tail -n 1)
  fi
  [ -n "$deb" ] || die "no .deb for $package in $cache"
  echo "$deb"
}

kernel_deb=$(fetch "$kernel_package")
busybox_deb=$(fetch busybox-static)
# The LLDP listener and the shared libraries it loads (checked below: nothing may come from the host).
lldp_packages="lldpad libconfig9 libnl-3-200 libc6"
declare -A lldp_deb=()
for package in $lldp_packages; do
  lldp_deb[$package]=$(fetch "$package")
done
# Old kernels' .debs and trees are not needed any more.
find "$cache" -maxdepth 1 -name 'linux-image-*.deb' ! -name "$(basename "$kernel_deb")" -delete

extract() {  # extract DEB DIR: unpack once per .deb (a stamp names the .deb that DIR holds)
  local deb=$1 dir=$2
  if [ "$(cat "$dir.stamp" 2>/dev/null)" != "$(basename "$deb")" ]; then
    say "extracting $(basename "$deb")"
    rm -rf "$dir" "$dir.stamp"
    mkdir -p "$dir"
    dpkg-deb -x "$deb" "$dir"
    basename "$deb" >"$dir.stamp"
  fi
}
extract "$kernel_deb" "$work/kernel"
extract "$busybox_deb" "$work/busybox"
for package in $lldp_packages; do
  extract "${lldp_deb[$package]}" "$work/pkg/$package"
done

kver=$(find "$work/kernel/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tail -n 1)
[ -n "$kver" ] || die "no lib/modules/<version> in $kernel_deb"
moddir=$work/kernel/lib/modules/$kver
busybox=$work/busybox/bin/busybox
[ -x "$busybox" ] || die "no bin/busybox in $busybox_deb"

# --- modules: the closure of what was asked, dependencies first --------------------------------------------------
# The .deb carries no modules.dep (depmod runs at install time), so read each module's own "depends".
declare -A path_of=() loaded=()
while IFS= read -r ko; do
  name=${ko##*/}
  name=${name%.ko}
  path_of[${name//-/_}]=$ko
done < <(find "$moddir/kernel" -name '*.ko')
builtin=" $(sed -e 's|.*/||' -e 's|\.ko$||' -e 's|-|_|g' "$moddir/modules.builtin" | tr '\n' ' ') "

order=()
add_module() {
  local name=${1//-/_} dep
  [ -z "${loaded[$name]:-}" ] || return 0
  loaded[$name]=1
  case $builtin in *" $name "*) return 0 ;; esac
  [ -n "${path_of[$name]:-}" ] || die "module $name is neither built in nor in $kernel_package"
  for dep in $(modinfo -F depends "${path_of[$name]}" | tr ',' ' '); do
    add_module "$dep"
  done
  order+=("${path_of[$name]#"$moddir/"}")
}
for name in $modules; do
  add_module "$name"
done

# --- the initramfs tree ------------------------------------------------------------------------------------------
tree=$work/root
rm -rf "$tree"
mkdir -p "$tree"/{bin,sbin,dev,proc,sys,tmp,run,etc/iaas,etc/acpi/PWRF,"lib/modules/$kver"}
install -m 0755 "$busybox" "$tree/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$tree/bin/$applet"
done
for rel in "${order[@]}"; do
  install -D -m 0644 "$moddir/$rel" "$tree/lib/modules/$kver/$rel"
done
printf '%s\n' "${order[@]}" >"$tree/etc/iaas/modules"

# LLDP listener: the binaries, then every library the loader resolves for them, searched only in the
# extracted packages (a library resolved anywhere else is missing from the list above: fail).
loader=$work/pkg/libc6/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
libpath=$(find "$work/pkg" -type d -path '*/lib/x86_64-linux-gnu' | sort | tr '\n' ':')
mkdir -p "$tree/lib/x86_64-linux-gnu" "$tree/lib64" "$tree/var/lib/lldpad"
ln -s ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$tree/lib64/ld-linux-x86-64.so.2"
install -m 0755 "$loader" "$tree/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
for program in lldpad lldptool; do
  install -m 0755 "$work/pkg/lldpad/usr/sbin/$program" "$tree/sbin/$program"
  libs=$("$loader" --library-path "$libpath" --list "$tree/sbin/$program") || die "$program: $libs"
  while read -r soname arrow path _; do
    [ "$arrow" = "=>" ] || continue                      # linux-vdso: no file
    case $soname in /*) continue ;; esac                  # the loader itself, installed above
    case $path in "$work/pkg/"*) ;; *) die "$program needs $soname, found outside $lldp_packages: $path" ;; esac
    install -m 0755 "$(realpath "$path")" "$tree/lib/x86_64-linux-gnu/$soname"
  done <<<"$libs"
done
install -m 0755 "$init" "$tree/init"
install -m 0755 "$here/udhcpc.script" "$tree/etc/udhcpc.script"
# busybox acpid runs <confdir>/PWRF/00000080 when the power button is pressed.
printf '#!/bin/sh\necho "iaas: power button: powering off" >/dev/console\nsync\npoweroff -f\n' \
  >"$tree/etc/acpi/PWRF/00000080"
chmod 0755 "$tree/etc/acpi/PWRF/00000080"
{
  echo "kernel_package=$kernel_package"
  echo "kernel=$kver"
  echo "busybox=$(basename "$busybox_deb" .deb)"
  echo "lldpad=$(basename "${lldp_deb[lldpad]}" .deb)"
} >"$tree/etc/iaas/build-info"
# The kernel opens /dev/console before /init runs; without the node /init starts with no stdio.
if [ "$(id -u)" -eq 0 ]; then
  mknod -m 0600 "$tree/dev/console" c 5 1
fi
find "$tree" -exec touch -h -d "@$epoch" {} +

# --- outputs: written beside, renamed into place, untouched when the bytes are the same ---------------------------
place() {  # place TMP FINAL
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    rm -f "$1"
  else
    chmod 0644 "$1"
    mv -f "$1" "$2"
  fi
}
(cd "$tree" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort \
  | cpio --quiet --reproducible -o -H newc -R 0:0) | gzip -9 -n >"$out/initramfs.cpio.gz.tmp"
place "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
cp "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
place "$out/vmlinuz.tmp" "$out/vmlinuz"

elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
{
  echo "kernel_package: $kernel_package"
  echo "kernel: $kver"
  echo "busybox: $(basename "$busybox_deb" .deb)"
  echo "lldp: $(for package in $lldp_packages; do basename "${lldp_deb[$package]}" .deb; done | tr '\n' ' ')"
  echo "modules: $(printf '%s\n' "${order[@]}" | sed 's|.*/||; s|\.ko$||' | tr '\n' ' ')"
  (cd "$out" && sha256sum vmlinuz initramfs.cpio.gz | sed 's/^/sha256: /')
} >"$out/build-info.tmp"
place "$out/build-info.tmp" "$out/build-info"
say "$out/vmlinuz $(stat -c %s "$out/vmlinuz") bytes, $out/initramfs.cpio.gz $(stat -c %s "$out/initramfs.cpio.gz") bytes," \
  "${#order[@]} modules, ${elapsed} s"

#!/usr/bin/env bash
# Build the systemd base image the Molecule scenarios and the lab's service hosts run on,
# localhost/debian-systemd:bookworm, from Debian's archive with debootstrap (no container registry is
# reachable here). Skips the build when the image already exists in this script's recipe version (label
# iaas.recipe; bump RECIPE when the recipe changes, so older images are rebuilt); FORCE=1 rebuilds it.
# Run scripts/podman-setup.sh first. Heavy: callers wrap it in `flock /tmp/iaas-heavy.lock`.
# Usage: scripts/build-base-image.sh [IMAGE]
#   DEBIAN_MIRROR  the mirror debootstrap uses (default: the first one in /etc/apt, else deb.debian.org)
set -euo pipefail

image=${1:-localhost/debian-systemd:bookworm}
suite=bookworm
RECIPE=2  # 2: the apt lists folder dated back (see below)

old=''
if podman image exists "$image"; then
  built=$(podman image inspect --format '{{index .Config.Labels "iaas.recipe"}}' "$image" 2>/dev/null || true)
  if [ "${FORCE:-0}" != 1 ] && [ "$built" = "$RECIPE" ]; then
    echo "build-base-image: $image exists (FORCE=1 to rebuild)"
    exit 0
  fi
  old=$(podman image inspect --format '{{.Id}}' "$image")
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

mirror=${DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  # Use the mirror apt already uses (sources.list or deb822 .sources), so a local proxy carries over.
  mirror=$( { grep -hsE '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}';
              grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'; } \
            | grep -v security | head -n 1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
fi

work=$(mktemp -d /var/tmp/iaas-base-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

start=$(date +%s)
debootstrap --variant=minbase --include=systemd,systemd-sysv,python3,python3-apt,dbus,iproute2 \
  "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  echo "build-base-image: debootstrap failed" >&2
  exit 1
}

# The updates and security suites too (the archive layout of $mirror for updates; security as configured
# on this host, if any).
{
  echo "deb $mirror $suite main"
  echo "deb $mirror $suite-updates main"
} >"$rootfs/etc/apt/sources.list"
security=$( { grep -hsE '^deb[[:space:]].*security' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}';
              grep -hsE '^URIs:.*security' /etc/apt/sources.list.d/*.sources | awk '{print $2}'; } \
            | head -n 1 || true)
if [ -n "$security" ]; then
  echo "deb $security $suite-security main" >>"$rootfs/etc/apt/sources.list"
fi

# Container hygiene: no getty on a console that does not exist, no machine-id baked in (systemd makes
# one at boot), an empty apt cache, a hostname that containers override anyway.
rm -f "$rootfs"/etc/systemd/system/getty.target.wants/* \
      "$rootfs"/lib/systemd/system/multi-user.target.wants/getty.target
: >"$rootfs/etc/machine-id"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
# Emptying the lists made their folder new, and Ansible's apt module takes that folder's mtime for the time
# of the last `apt-get update`: `cache_valid_time` would then skip the update for an hour after the build
# and find no packages. Date it back, so the first apt task of a role updates.
touch -d @0 "$rootfs/var/lib/apt/lists"
echo localhost >"$rootfs/etc/hostname"

tar --numeric-owner -C "$rootfs" -c . | podman import --quiet \
  --change 'CMD ["/sbin/init"]' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  --change 'ENV container=podman' \
  --change "LABEL iaas.recipe=$RECIPE" \
  - "$image" >/dev/null

if [ -n "$old" ]; then
  podman rmi "$old" >/dev/null 2>&1 || true   # the previous build, unless a container still uses it
fi
echo "build-base-image: built $image in $(($(date +%s) - start)) s ($(podman image inspect --format '{{.Size}}' "$image") bytes)"

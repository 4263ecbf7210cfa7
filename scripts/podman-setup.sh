#!/usr/bin/env bash
# Make rootful podman usable on this kind of machine (Debian 12, a sandbox with a hybrid cgroup
# layout and a 20000 hard limit on open files). Safe to run twice.
#  - podman's default OCI runtime crun fails here ("cgroups in hybrid mode not supported"): use runc;
#  - podman's default ulimits exceed the sandbox's hard limits: lower them.
# One containers.conf carries both. It is written to /etc/containers/containers.conf unless
# CONTAINERS_CONF names another file (podman reads that variable too, so a caller can keep /etc clean).
# Usage: scripts/podman-setup.sh
set -euo pipefail

# netavark needs iptables for the NAT that lets containers reach the Debian archive.
packages=(podman runc netavark aardvark-dns iptables)
conf=${CONTAINERS_CONF:-/etc/containers/containers.conf}

if ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "podman-setup: root is needed to install ${packages[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# Keep the hard limits under the sandbox's own (`ulimit -Hn`), whatever that is.
hard_nofile=$(ulimit -Hn)
if [ "$hard_nofile" = unlimited ] || [ "$hard_nofile" -gt 20000 ]; then
  hard_nofile=20000
fi
hard_nproc=$(ulimit -Hu)
if [ "$hard_nproc" = unlimited ] || [ "$hard_nproc" -gt 4096 ]; then
  hard_nproc=4096
fi

wanted=$(cat <<EOF
# Written by datacenter.iaas scripts/podman-setup.sh: runc (crun fails on this cgroup layout)
# and ulimits within the machine's hard limits.
[engine]
runtime = "runc"

[network]
network_backend = "netavark"

[containers]
default_ulimits = ["nofile=${hard_nofile}:${hard_nofile}", "nproc=${hard_nproc}:${hard_nproc}"]
EOF
)

if [ -f "$conf" ] && [ "$(cat "$conf")" = "$wanted" ]; then
  echo "podman-setup: $conf is up to date"
else
  if [ -f "$conf" ] && ! grep -q 'datacenter.iaas scripts/podman-setup.sh' "$conf"; then
    cp -p "$conf" "$conf.orig"
    echo "podman-setup: kept the previous $conf as $conf.orig"
  fi
  mkdir -p "$(dirname "$conf")"
  tmp=$(mktemp "$conf.XXXXXX")
  printf '%s\n' "$wanted" >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$conf"
  echo "podman-setup: wrote $conf"
fi

# Package caches for the scenarios' containers (mounted at /var/cache/apt/archives), one per kind of
# node: the OpenStack packages are downloaded once per machine, not once per container and run. One per
# kind, not one for all, because apt fails at once when another container holds the cache's lock, and the
# nodes of one cloud install their packages at the same time. Every scenario mounts the cache of its
# node's kind (the hypervisor scenarios: compute), so the per-role scenarios reuse what the cloud fetched.
for kind in controller network compute storage; do
  mkdir -p "/var/cache/iaas-apt/$kind/partial"
done

podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.NetworkBackend}}' >/dev/null
echo "podman-setup: podman $(podman version --format '{{.Client.Version}}') ready (runtime runc)"

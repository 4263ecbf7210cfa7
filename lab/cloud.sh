#!/usr/bin/env bash
# The lab's service hosts for steps 4-7: systemd containers under podman on one podman network, standing in
# for provisioned nodes (as Kolla runs OpenStack in containers). inventory/lab-cloud reads them from the
# registry this script writes (.build/lab-cloud/registry.yml, from lab/cloud-registry.yml).
# Usage:
#   lab/cloud.sh up         podman set-up, base image, network, one container per registry node, registry copy,
#                           the lab's instance image for publish (idempotent: running containers are kept)
#   lab/cloud.sh scale-out  enroll lab-compute2 in the registry (node module, up to active) and start its container
#   lab/cloud.sh down       remove the containers, the network and the loop devices they attached
# Heavy: callers hold /tmp/iaas-heavy.lock.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.build/lab-cloud"
export IAAS_LAB_CLOUD_DIR="$dir"
network=iaas-lab-cloud
image=localhost/debian-systemd:bookworm
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections"
export PATH="$root/.venv/bin:$PATH"

start_node() {
  local name=$1 kind=$2
  if [ "$(podman container inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; then
    return
  fi
  podman rm -f -t 10 "$name" >/dev/null 2>&1 || true
  # A package cache per container: apt fails at once when another container holds a shared cache's lock
  # (two compute nodes installing at the same time). Seeded from the cache of its kind of node.
  if [ ! -d "/var/cache/iaas-apt/$name" ]; then
    mkdir -p "/var/cache/iaas-apt/$name/partial"
    cp -al "/var/cache/iaas-apt/$kind/." "/var/cache/iaas-apt/$name/" 2>/dev/null || true
  fi
  # privileged: Neutron's bridges, vxlan and iptables, libvirt, loop devices and LVM need it.
  podman run -d --name "$name" --hostname "$name" --network "$network" --privileged \
    --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 \
    -v "/var/cache/iaas-apt/$name:/var/cache/apt/archives:rw" \
    "$image" /sbin/init >/dev/null
  echo "cloud: started container $name"
}

# "name role" per registry node.
nodes() {
  python3 -c 'import sys, yaml
for name, node in sorted(yaml.safe_load(open(sys.argv[1]))["nodes"].items()): print(name, node["role"])' \
    "$dir/registry.yml"
}

case ${1:-} in
  up)
    bash "$root/scripts/podman-setup.sh" >/dev/null
    bash "$root/scripts/build-base-image.sh" "$image"
    mkdir -p "$dir"
    podman network exists "$network" || podman network create "$network" >/dev/null
    [ -f "$dir/registry.yml" ] || install -m 0600 "$root/lab/cloud-registry.yml" "$dir/registry.yml"
    bash "$root/lab/instance/build.sh" "$dir/instance"
    nodes | while read -r name role; do start_node "$name" "$role"; done
    ;;
  scale-out)
    # The node module runs on the control node itself: no inventory is needed, so do not warn about one.
    export ANSIBLE_INVENTORY_UNPARSED_WARNING=False ANSIBLE_LOCALHOST_WARNING=False
    ansible localhost -m datacenter.iaas.node -a "registry=$dir/registry.yml name=lab-compute2 role=compute" >/dev/null
    for action in manage provide deploy activate; do
      ansible localhost -m datacenter.iaas.node -a "registry=$dir/registry.yml name=lab-compute2 action=$action" >/dev/null
    done
    start_node lab-compute2 compute
    ;;
  down)
    for name in $(podman ps -a --filter "network=$network" --format '{{.Names}}'); do
      # The storage node's loop device is a host kernel object: stopping the role's loop unit detaches it
      # before the container goes (cinder-volume and tgt first, they hold it).
      podman exec "$name" systemctl stop cinder-volume.service tgt.service iaas-cinder-loop.service \
        >/dev/null 2>&1 || true
      podman rm -f -t 10 "$name" >/dev/null
      echo "cloud: removed container $name"
    done
    if podman network exists "$network"; then podman network rm "$network" >/dev/null; fi
    ;;
  *)
    echo "usage: $0 up|scale-out|down" >&2
    exit 2
    ;;
esac

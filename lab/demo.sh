#!/usr/bin/env bash
# The demo on the virtual lab: simulated BMCs on loopback -> discovery into an empty registry ->
# roles -> fleet power-on with one-shot PXE -> the inventory graph and a fleet table.
# Part two (lab/demo_qemu.sh): hardware discovery of QEMU VMs PXE-booting the ramdisk (playbooks/discover_hardware.yml).
# Part three (lab/demo_cloud.sh, skipped with DEMO_CLOUD=0): steps 4-7 (hypervisor, controller, services,
# publish) on systemd containers standing in for provisioned nodes, a re-run, a scale-out.
# Run through `make demo`, which installs what it needs first. Stops what it started on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/.build/demo"
count=${DEMO_NODES:-8}
mkdir -p "$work"
rm -f "$work/registry.yml" "$work/registry.yml.lock"
export IAAS_REGISTRY="$work/registry.yml"
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections"
export ANSIBLE_LOCALHOST_WARNING=False
export PYTHONPATH="$root"

step() { printf '\n==> %s\n' "$*"; }

step "Starting $count simulated IPMI BMCs on 127.77.0.0/24 (pyghmi BMC server, cipher fix)"
python -m lab.virtbmc --count "$count" --network 127.77.0.0/24 --port 623 --prefix lab \
  --spec-file "$work/farm.json" >"$work/farm.log" 2>&1 &
farm_pid=$!
trap 'kill "$farm_pid" 2>/dev/null || true; wait "$farm_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [ -s "$work/farm.json" ] && grep -q serving "$work/farm.log" && break
  kill -0 "$farm_pid" 2>/dev/null || { cat "$work/farm.log"; exit 1; }
  sleep 0.2
done
rm -f "$work/farm.json.stale"
cat "$work/farm.log"

step "Steps 1-3 of playbooks/site.yml: discover, assign, power on into PXE"
ansible-playbook -i "$root/inventory/lab/hosts.yml" "$root/playbooks/site.yml" --tags discover,assign,provision

step "Running the same steps again: nothing should change"
ansible-playbook -i "$root/inventory/lab/hosts.yml" "$root/playbooks/site.yml" --tags discover,assign,provision | tee "$work/rerun.log" | tail -n 4
grep -q 'changed=0' "$work/rerun.log" || { echo "the second run changed something"; exit 1; }

step "The inventory, from the hardware inventory plugin"
cat >"$work/demo.hardware.yml" <<CONF
plugin: datacenter.iaas.hardware
registry: $work/registry.yml
kolla_groups: true
CONF
ansible-inventory -i "$work/demo.hardware.yml" --graph

step "The fleet"
python "$root/lab/fleet_table.py" "$work/registry.yml" "$work/farm.json"

step "The simulated BMCs stop; part two runs on the QEMU lab"
kill "$farm_pid" 2>/dev/null || true
wait "$farm_pid" 2>/dev/null || true
if ! bash "$root/lab/demo_qemu.sh"; then
  printf '\n!! DEMO FAILED: the QEMU part (lab/demo_qemu.sh) did not complete; see its output above\n' >&2
  exit 1
fi
if [ "${DEMO_CLOUD:-1}" = 1 ]; then
  if ! bash "$root/lab/demo_cloud.sh"; then
    printf '\n!! DEMO FAILED: the cloud part (lab/demo_cloud.sh) did not complete; see its output above\n' >&2
    exit 1
  fi
fi
printf '\n==> Demo complete: simulated fleet, QEMU hardware discovery, and the cloud on the lab'"'"'s service hosts\n'

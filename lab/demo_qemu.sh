#!/usr/bin/env bash
# The demo's second part, on the QEMU lab (lab/qemu.py): QEMU VMs on br-prov in netns iaas-lab with IPMI BMCs
# on 127.88.0.0/24 and an LLDP-sending lab switch, a boot-server root rendered by the boot_server role
# (config-only mode) with the discovery ramdisk (lab/ramdisk/build.sh) in it, dnsmasq (the role's config) +
# HTTP + the report receiver inside the namespace, then playbooks/discover_hardware.yml:
# BMC sweep -> boot files (discover.ipxe for unknown MACs) -> one-shot PXE power-on -> reports -> ingestion.
# Ends with the fleet table compared with lab/machines.yml, then the inventory graph of that registry.
# Called by lab/demo.sh (`make demo`); brings the lab down on exit, also on failure, and fails loudly when
# anything does not match.
# The lab holds /tmp/iaas-heavy.lock while up (other heavy jobs wait on it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/.build/demo"
boot_root="$work/root"
registry="$work/qemu-registry.yml"
lab_run="$root/.build/lab"
vms=${DEMO_VMS:-3}
report_timeout=${DEMO_REPORT_TIMEOUT:-180}   # seconds from power-on until every VM reported
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections"
export ANSIBLE_LOCALHOST_WARNING=False
export PYTHONPATH="$root"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

lab_started=
cleanup() {
  rc=$?
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ] && [ -n "$lab_started" ]; then
    echo "!! the QEMU part failed (exit $rc): logs of $lab_run" >&2
    for log in "$lab_run"/lab-*/console.log "$lab_run"/daemons/*.log; do
      if [ -f "$log" ]; then printf -- '--- %s (tail)\n' "$log" >&2; tail -n 25 "$log" | tr -cd '\11\12\40-\176' >&2; fi
    done
  fi
  if [ -n "$lab_started" ]; then
    python -m lab.qemu down || echo "!! python -m lab.qemu down failed" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(now)
step "QEMU lab: building the discovery ramdisk (lab/ramdisk/build.sh .build/ramdisk)"
t=$(now)
bash "$root/lab/ramdisk/build.sh" "$root/.build/ramdisk" | tail -n 3
echo "ramdisk: $(since "$t") s"

rm -rf "$boot_root" "$registry" "$registry.lock"

step "QEMU lab up: $vms VMs of lab/machines.yml (waits for /tmp/iaas-heavy.lock if another heavy job holds it)"
python -m lab.qemu down >/dev/null 2>&1 || true   # leftovers of an interrupted run
lab_started=1
t=$(now)
python -m lab.qemu up --count "$vms"
echo "lab up: $(since "$t") s"

step "Boot-server root $boot_root: the boot_server role in config-only mode, with its rogue-DHCP pre-flight on br-prov"
t=$(now)
python -m lab.qemu boot-server-config --root "$boot_root" --preflight
for file in vmlinuz initramfs.cpio.gz; do
  ln -f "$root/.build/ramdisk/$file" "$boot_root/http/ramdisk/$file" 2>/dev/null ||
    cp "$root/.build/ramdisk/$file" "$boot_root/http/ramdisk/$file"
done
find "$boot_root" -type f -printf '  %P\n' | sort
echo "boot_server role: $(since "$t") s"

step "Boot-server daemons in the lab's namespace: dnsmasq with the role's config, HTTP on $boot_root/http, receiver on 198.18.0.1:8088"
python -m lab.qemu serve --dnsmasq "$boot_root/etc/dnsmasq.conf" --http "$boot_root/http" \
  --receiver "$root/roles/boot_server/files/iaas-report-receiver.py" --spool "$boot_root/reports" \
  --allow 198.18.0.0/24

step "playbooks/discover_hardware.yml: sweep 127.88.0.0/24, boot files, PXE power-on, reports, ingestion"
t=$(now)
ansible-playbook -i "$root/inventory/lab/hosts.yml" "$root/playbooks/discover_hardware.yml" \
  -e "iaas_registry=$registry" -e "iaas_boot_server_root=$boot_root" -e "iaas_expected_reports=$vms" \
  -e "iaas_report_timeout=$report_timeout" \
  -e '{"iaas_discovery_bmc_ranges": ["127.88.0.0/24"]}'
echo "playbook: $(since "$t") s"

step "The QEMU fleet: registry ($registry) against lab/machines.yml"
python "$root/lab/qemu_fleet_table.py" "$registry" --count "$vms" --reports "$boot_root/reports"

step "The inventory, from the hardware inventory plugin on $registry"
cat >"$work/qemu.hardware.yml" <<CONF
plugin: datacenter.iaas.hardware
registry: $registry
kolla_groups: true
CONF
ansible-inventory -i "$work/qemu.hardware.yml" --graph | tee "$work/qemu-graph.txt"
# Every lab machine must be in the graph, under its state group.
for n in $(seq 1 "$vms"); do
  grep -q "node-lab-$(printf '%04d' "$n")" "$work/qemu-graph.txt" ||
    { echo "!! node-lab-$(printf '%04d' "$n") is missing from the inventory graph" >&2; exit 1; }
done
grep -q '@state_manageable:' "$work/qemu-graph.txt" || { echo "!! no state_manageable group in the graph" >&2; exit 1; }

step "QEMU lab down"
python -m lab.qemu down
lab_started=
echo "QEMU part: $(since "$started") s"

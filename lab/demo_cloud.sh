#!/usr/bin/env bash
# The demo's third part: steps 4-7 of playbooks/site.yml (hypervisor, controller, services, publish) on the
# lab's service hosts, systemd containers under podman standing in for provisioned nodes (lab/cloud.sh),
# found through the hardware inventory plugin (inventory/lab-cloud). Then an unchanged re-run, a scale-out
# (a second compute node enrolled in the registry, the same steps again), what users see, and an instance
# reached through its floating IP.
# Called by lab/demo.sh; removes the containers on exit unless IAAS_KEEP_CLOUD=1. Holds the machine's heavy-work
# lock (IAAS_HEAVY_LOCK, default /tmp/iaas-heavy.lock) while it runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export IAAS_LAB_CLOUD_DIR="$root/.build/lab-cloud"
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections"
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_LOCALHOST_WARNING=False
export PYTHONPATH="$root"
cd "$root"
inventory="$root/inventory/lab-cloud"
log="$IAAS_LAB_CLOUD_DIR/logs"

step() { printf '\n==> %s\n' "$*"; }

exec 9>"${IAAS_HEAVY_LOCK:-/tmp/iaas-heavy.lock}"
flock 9

cleanup() {
  rc=$?
  trap - EXIT INT TERM
  if [ "${IAAS_KEEP_CLOUD:-0}" = 1 ]; then
    echo "cloud kept (IAAS_KEEP_CLOUD=1): lab/cloud.sh down removes it"
  else
    bash lab/cloud.sh down || echo "!! lab/cloud.sh down failed" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

# Runs one playbook, logs it, prints its recap and how long it took.
play() {
  local name=$1
  shift
  local started=$SECONDS
  if ! ansible-playbook -i "$inventory" "$@" >"$log/$name.log" 2>&1; then
    tail -n 40 "$log/$name.log"
    echo "!! $name failed: $log/$name.log" >&2
    return 1
  fi
  sed -n '/PLAY RECAP/,$p' "$log/$name.log" | grep -E '^[a-z0-9-]+ +:' | sed 's/^/   /'
  printf '   %s: %d s\n' "$name" $((SECONDS - started))
}

step "Part 3: the cloud layers on systemd containers standing in for provisioned nodes"
# Every demo starts from the seed registry (the last demo's scale-out enrolled lab-compute2).
rm -f "$IAAS_LAB_CLOUD_DIR/registry.yml"
bash lab/cloud.sh up
mkdir -p "$log"
ansible-inventory -i "$inventory" --graph

for part in hypervisor controller services publish; do
  step "Step: playbooks/$part.yml"
  play "$part" "datacenter.iaas.$part"
done

step "The same steps again on the unchanged cloud: nothing may change"
play rerun datacenter.iaas.site --tags hypervisor,controller,services,publish
if grep -E '^[a-z0-9-]+ +:' "$log/rerun.log" | grep -vq 'changed=0 '; then
  echo "!! the re-run changed something: $log/rerun.log" >&2
  exit 1
fi

step "Scale-out: enroll lab-compute2 in the registry, run the hypervisor and services steps again"
bash lab/cloud.sh scale-out
play scale-out datacenter.iaas.site --tags hypervisor,services
# Nothing may change on the other nodes. Mapping the new host into nova's cell is the controller's change:
# the play of compute nodes makes it once, delegated ("changed: [lab-compute1 -> lab-controller]"), so the
# recap counts it for that play's first host. Count the tasks that ran on each node itself.
for host in lab-compute1 lab-network lab-storage; do
  if grep -E "^changed: \[$host\]" "$log/scale-out.log"; then
    echo "!! the scale-out changed $host: $log/scale-out.log" >&2
    exit 1
  fi
done
grep -qE '^changed: \[[a-z0-9-]+ -> lab-controller\]' "$log/scale-out.log" || {
  echo "!! the scale-out mapped no new compute host on the controller: $log/scale-out.log" >&2
  exit 1
}

step "What users see (clouds.yaml by the publish role)"
python -m lab.cloud_summary "$IAAS_LAB_CLOUD_DIR/clouds.yaml" --expect-hypervisor lab-compute1 \
  --expect-hypervisor lab-compute2
step "A user's instance: booted from the published image, reached through its floating IP from the provider network"
python -m lab.cloud_instance "$IAAS_LAB_CLOUD_DIR/clouds.yaml" --via lab-network
step "Memory of the service hosts"
podman stats --no-stream --format '{{.Name}} {{.MemUsage}}' | grep '^lab-' | sort

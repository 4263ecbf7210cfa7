#!/usr/bin/env bash
# Build the tree ansible-test runs in: BUILD/ansible_collections/datacenter/iaas as a real copy of
# this checkout (tracked files plus untracked files that .gitignore does not exclude, so work that is
# not committed yet is tested too), with the dependency collections symlinked beside it.
# ansible-test resolves symlinks, so the collection itself must be copied, not linked.
# Usage: scripts/test-tree.sh BUILD_DIR SITE_PACKAGES NS.NAME...
set -euo pipefail

build=$1
site=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
collections="$build/ansible_collections"
dest="$collections/datacenter/iaas"

case "$dest" in
  /*/ansible_collections/datacenter/iaas) ;;
  *) echo "test-tree: refusing odd destination $dest" >&2; exit 2 ;;
esac

list=$(mktemp)
trap 'rm -f "$list"' EXIT

cd "$root"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # Files deleted from the work tree but still in the index are skipped.
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' path; do
    if [ -e "$path" ] || [ -L "$path" ]; then
      printf '%s\0' "$path"
    fi
  done >"$list"
else
  find . \( -path ./.git -o -path ./.venv -o -path ./.build -o -path ./.ansible -o -path ./tests/output \
    -o -name __pycache__ -o -name .pytest_cache \) -prune -o \( -type f -o -type l \) -printf '%P\0' >"$list"
fi

# Start from an empty copy (keeping ansible-test's tests/output), so deleted files do not linger.
mkdir -p "$dest"
find "$dest" -mindepth 1 -maxdepth 1 ! -name tests ! -name .git -exec rm -rf {} +
if [ -d "$dest/tests" ]; then
  find "$dest/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} +
fi
rsync -a --from0 --files-from="$list" ./ "$dest/"

# The copy lives inside this checkout's ignored .build/: ansible-test walks up to the nearest .git and
# lists files with `git ls-files --cached --others --exclude-standard`, which would then find nothing
# ("All targets skipped"). An empty repository of its own makes the copy its own content root: every
# file in it is "untracked, not ignored" and so listed (its copied .gitignore still applies).
if [ ! -d "$dest/.git" ]; then
  git -C "$dest" init -q
fi

# Dependency collections, from the PyPI `ansible` package in the venv: a symlink each is fine here.
for fqcn in "$@"; do
  ns=${fqcn%%.*}
  name=${fqcn#*.}
  src="$site/ansible_collections/$ns/$name"
  if [ ! -f "$src/MANIFEST.json" ] && [ ! -f "$src/galaxy.yml" ]; then
    echo "test-tree: dependency collection $fqcn not found at $src" >&2
    exit 1
  fi
  mkdir -p "$collections/$ns"
  ln -sfn "$src" "$collections/$ns/$name"
done

echo "test-tree: $(tr -cd '\0' <"$list" | wc -c) files copied to $dest; linked: $*"

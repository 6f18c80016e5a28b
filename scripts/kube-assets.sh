#!/usr/bin/env bash
# Unpacks the real Kubernetes control planes of ../shared/kube (xz-compressed static binaries)
# into an ignored folder, checks them against SHA256SUMS, and prints the folder to export as
# SHAREDLB_KUBE_ASSETS. One subfolder per version; etcd comes with v1.34.9 and is shared by both.
#
#   scripts/kube-assets.sh [SOURCE] [DESTINATION]
#   export SHAREDLB_KUBE_ASSETS=$(scripts/kube-assets.sh)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source="${1:-$root/../shared/kube}"
destination="${2:-$root/.build-kube}"
[[ -d $source ]] || { echo "kube-assets: no control planes at $source" >&2; exit 1; }
command -v xz >/dev/null || { echo "kube-assets: xz is missing (Debian: xz-utils)" >&2; exit 1; }

mkdir -p "$destination"
etcd=""
for folder in "$source"/v*/; do
    version="$(basename "$folder")"
    mkdir -p "$destination/$version"
    for packed in "$folder"*.xz; do
        name="$(basename "$packed" .xz)"
        target="$destination/$version/$name"
        expected="$(awk -v p="$version/$name" '$2 == p { print $1 }' "$source/SHA256SUMS")"
        if [[ -x $target && -n $expected ]] && echo "$expected  $target" | sha256sum --check --status; then
            : # already unpacked and intact
        else
            xz -dc "$packed" > "$target.partial"
            if [[ -n $expected ]] && ! echo "$expected  $target.partial" | sha256sum --check --status; then
                echo "kube-assets: $version/$name does not match SHA256SUMS" >&2
                rm -f "$target.partial"
                exit 1
            fi
            chmod +x "$target.partial"
            mv "$target.partial" "$target"
        fi
        [[ $name == etcd ]] && etcd="$target"
    done
done
# A version without its own etcd uses the one that came with another version.
if [[ -n $etcd ]]; then
    for folder in "$destination"/v*/; do
        [[ -e $folder/etcd ]] || ln -sf "$etcd" "$folder/etcd"
    done
fi
echo "$destination"

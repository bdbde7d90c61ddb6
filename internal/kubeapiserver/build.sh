#!/usr/bin/env bash
# build.sh builds kube-apiserver and etcd from the Go module proxy into a
# cache directory keyed by their versions, only when they are missing, and
# prints that directory on its last line of stdout. Progress goes to stderr.
#
#   dir=$(bash internal/kubeapiserver/build.sh | tail -n1)
#   SHOAL_KUBE_BIN_DIR=$dir go test ./discovery/
#
# On an empty cache with 2 cores this takes about 7 minutes for
# kube-apiserver and 1.5 for etcd; after that it is a no-op.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kube_version=v1.37.2
etcd_version=v3.7.3
dir=${SHOAL_KUBE_BIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/shoal/kube-${kube_version}-etcd-${etcd_version}}
mkdir -p "$dir"

build() { # name, module dir
	local name=$1 mod=$2
	if [[ -x "$dir/$name" ]]; then
		echo "build.sh: $name already in $dir" >&2
		return
	fi
	echo "build.sh: building $name (module $mod) ..." >&2
	local start=$SECONDS
	# Build to a temporary name and rename, so an interrupted build never
	# leaves a half-written binary that later runs would take as complete.
	(cd "$mod" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath -o "$dir/$name.tmp" .)
	mv "$dir/$name.tmp" "$dir/$name"
	echo "build.sh: built $name in $((SECONDS - start))s" >&2
}

build etcd "$here/etcd"
build kube-apiserver "$here"
echo "$dir"

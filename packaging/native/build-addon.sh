#!/usr/bin/env bash
# Build one native addon of the staged production tree for a target architecture and print the
# path of the stripped result. Cached in the work dir under a key of everything that decides the
# output (package version, these scripts, Node version, target), so a rebuild of the same commit
# compiles nothing.
# Usage: build-addon.sh <rocksdb|zstd-napi> <amd64|arm64> <staged node_modules> <work dir>
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"
mkdir -p "$4"
addon="$1" arch="$2" modules="$(cd "$3" && pwd)" work="$(cd "$4" && pwd)"

case "$addon" in
  rocksdb) pkg="@nxtedition/rocksdb" product=leveldown.node ;;
  zstd-napi) pkg="zstd-napi" product=binding.node ;;
  *) die "unknown addon $addon" ;;
esac
version="$(node -p "require('$modules/$pkg/package.json').version")"
key="$( (echo "$addon $version $arch $NODE_VERSION"; cat "$PKG_DIR/native/"*) | sha256sum | cut -c1-16)"
result="$work/addons/$addon-$version-$arch-$key.node"
if [ -f "$result" ]; then
  log "$addon $arch: cached ($(basename "$result"))"
  echo "$result"
  exit 0
fi

runtime="$(node_runtime "$arch" "$work")"
prefix="$(gnu_prefix "$arch")"
src="$work/src/$addon-$arch"
rm -rf "$src" && mkdir -p "$src" "$work/addons"
cp -a "$modules/$pkg/." "$src/"
rm -rf "$src/build" "$src/prebuilds"

if [ "$addon" = rocksdb ]; then
  log "rocksdb $arch: static zstd"
  "$PKG_DIR/native/zstd-static.sh" "$modules/zstd-napi/deps/zstd/lib" "$work/zstd-$arch" "$prefix"
  "$PKG_DIR/native/patch-rocksdb-gyp.py" "$src" "$work/zstd-$arch"
fi

log "$addon $arch: compiling (node-gyp, Node $NODE_VERSION headers)"
started=$SECONDS
(
  cd "$src"
  # The .gyp files call `node -e "require('napi-macros')"` etc.: resolve from the staged tree.
  export NODE_PATH="$modules" JOBS=2
  if [ -n "$prefix" ]; then
    export CC="${prefix}gcc" CXX="${prefix}g++" LINK="${prefix}g++" AR="${prefix}ar"
  fi
  nice -n 15 bash -c "$(declare -f node_gyp); node_gyp rebuild --release --arch=$(node_arch "$arch") \
    --nodedir='$runtime' --jobs=2" >"$work/$addon-$arch.log" 2>&1 ||
    { tail -40 "$work/$addon-$arch.log" >&2; exit 1; }
)
log "$addon $arch: compiled in $((SECONDS - started)) s"
"${prefix}strip" --strip-unneeded -o "$result.tmp" "$src/build/Release/$product"
mv "$result.tmp" "$result"
echo "$result"

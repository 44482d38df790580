#!/usr/bin/env bash
# Stage the application tree of one target: the compiled JavaScript, production dependencies
# only (from the lockfile, the target's optional packages such as snappy's), and the native
# addons built for the target in place of the registry's. Everything the three programs run.
# Usage: stage.sh <amd64|arm64> <app dir to create> <work dir>
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
mkdir -p "$3"
arch="$1" app="$2" work="$(cd "$3" && pwd)"
[ -f "$work/dist/relay/cli.js" ] || die "no $work/dist: build.sh compiles it"

rm -rf "$app" && mkdir -p "$app"
cp "$PKG_ROOT/package.json" "$PKG_ROOT/package-lock.json" "$app/"
log "$arch: npm ci --omit=dev"
# --ignore-scripts: no install script may compile or download for the build machine; the addons
# are built below for the target. --cpu/--os/--libc pick the target's optional packages.
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
  --os=linux --cpu="$(node_arch "$arch")" --libc=glibc >&2)
cp -r "$work/dist" "$app/dist"

rocksdb="$("$PKG_DIR/native/build-addon.sh" rocksdb "$arch" "$app/node_modules" "$work")"
zstd="$("$PKG_DIR/native/build-addon.sh" zstd-napi "$arch" "$app/node_modules" "$work")"

# rocksdb: node-gyp-build loads build/Release before prebuilds/, so no build/ at all.
r="$app/node_modules/@nxtedition/rocksdb"
rm -rf "$r/prebuilds" "$r/prebuilds.zip" "$r/build" "$r/deps" "$r"/*.cc "$r"/*.h "$r/build.sh"
mkdir -p "$r/prebuilds/linux-$(node_arch "$arch")"
cp "$rocksdb" "$r/prebuilds/linux-$(node_arch "$arch")/@nxtedition+rocksdb.node"
# zstd-napi: binding.js requires build/Release/binding.node.
z="$app/node_modules/zstd-napi"
rm -rf "$z/build" "$z/deps" "$z/src"
mkdir -p "$z/build/Release"
cp "$zstd" "$z/build/Release/binding.node"

# Prebuilt addons from the registry (snappy's napi-rs package) ship with symbols.
find "$app/node_modules" -name '*.node' -exec "$(gnu_prefix "$arch")strip" --strip-unneeded {} +
"$PKG_DIR/prune.sh" "$app"

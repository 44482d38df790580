# Shared by the packaging scripts (sourced, not run): paths, target names, tools.
# shellcheck shell=bash

PKG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG_DIR="$PKG_ROOT/packaging"
# Pinned so two builds of one commit bundle the same runtime (the npm registry's Node packages).
NODE_VERSION="$(cat "$PKG_DIR/node-version")"

log() { printf '[package %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Debian architecture -> Node's name for it, and the GNU toolchain prefix (empty: this machine's).
node_arch() {
  case "$1" in
    amd64) echo x64 ;;
    arm64) echo arm64 ;;
    *) die "unsupported architecture $1" ;;
  esac
}
gnu_prefix() {
  case "$1" in
    amd64) [ "$(uname -m)" = x86_64 ] && echo "" || echo x86_64-linux-gnu- ;;
    arm64) [ "$(uname -m)" = aarch64 ] && echo "" || echo aarch64-linux-gnu- ;;
  esac
}

# node-gyp as npm ships it, run by the build machine's Node 24.
node_gyp() {
  local npm_dir
  npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
  node "$npm_dir/node_modules/node-gyp/bin/node-gyp.js" "$@"
}

# The Node runtime package of a target (npm pack: no platform check, unpacked once into the work
# dir); prints its directory (bin/node, include/node).
node_runtime() {
  local arch="$1" work="$2" name dir
  name="node-linux-$(node_arch "$arch")"
  dir="$work/$name-$NODE_VERSION"
  if ! [ -x "$dir/package/bin/node" ]; then
    log "$name@$NODE_VERSION from the npm registry"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$name@$NODE_VERSION" >/dev/null && tar xzf "$name-$NODE_VERSION.tgz")
  fi
  echo "$dir/package"
}

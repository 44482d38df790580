#!/usr/bin/env bash
# npm run package: owl-relay, owl-upstream and owl-agent .deb packages (and a .tar.gz of each
# /opt/owl/<program> tree) for amd64 and arm64, each with its own Node 24 and native addons
# built for the target. Needs: npm ci done in the repo, g++, python3, make, dpkg-deb, and for
# arm64 g++-aarch64-linux-gnu (docs/packaging.md).
# Usage: packaging/build.sh [out dir]   (default: $OWL_PACKAGE_OUT, else .tmp/packages)
# Env: OWL_PACKAGE_ARCHES ("amd64 arm64"), OWL_PACKAGE_WORK (work dir and addon cache,
#      default .tmp/packaging-work), OWL_PACKAGE_MAINTAINER, SOURCE_DATE_EPOCH (default: the
#      commit time of HEAD).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
out="${1:-${OWL_PACKAGE_OUT:-$PKG_ROOT/.tmp/packages}}"
work="${OWL_PACKAGE_WORK:-$PKG_ROOT/.tmp/packaging-work}"
arches="${OWL_PACKAGE_ARCHES:-amd64 arm64}"
mkdir -p "$out" "$work"
out="$(cd "$out" && pwd)" work="$(cd "$work" && pwd)"
started=$SECONDS

cd "$PKG_ROOT"
for tool in dpkg-deb python3 make g++ objdump; do
  command -v "$tool" >/dev/null || die "$tool not found (docs/packaging.md lists the build's needs)"
done
for arch in $arches; do
  p="$(gnu_prefix "$arch")"
  [ -z "$p" ] || command -v "${p}g++" >/dev/null || die "${p}g++ not found (apt-get install g++-${p%-})"
done

commit="$(git rev-parse --short=10 HEAD)"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}"
export MAINTAINER="${OWL_PACKAGE_MAINTAINER:-OWL maintainers <owl@example.net>}"
# 0.1.0+git20261206.1334.4957303a1b-1: sorts by commit time, names the commit.
version="$(node -p "require('./package.json').version")+git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d.%H%M).$commit-1"
[ -z "$(git status --porcelain -- . ':!.tmp' 2>/dev/null)" ] || log "note: the tree has uncommitted changes; $commit names the last commit only"

log "JavaScript: tsc into $work/dist"
rm -rf "$work/dist"
npx tsc -p tsconfig.build.json --outDir "$work/dist"
cp -r upstream/dashboard/assets "$work/dist/upstream/dashboard/assets"

for arch in $arches; do
  rm -f "$out"/owl-*_"$arch".deb "$out"/owl-*_"$arch".tar.gz
  "$PKG_DIR/stage.sh" "$arch" "$work/app-$arch" "$work"
  if [ "$arch" = amd64 ]; then
    "$PKG_DIR/check-isa.sh" "$work/app-$arch"/node_modules/@nxtedition/rocksdb/prebuilds/linux-x64/*.node
  fi
  for prog in relay upstream agent; do
    "$PKG_DIR/deb.sh" "$prog" "$arch" "$work/app-$arch" "$out" "$work" "$version"
  done
done
log "done in $((SECONDS - started)) s: $out"
ls -l "$out" >&2

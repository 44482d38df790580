#!/usr/bin/env bash
# One program's package for one architecture from a staged app tree: the program's tree
# (self-contained: its Node, its JavaScript, its node_modules), the units, the config, then the
# .deb and a plain .tar.gz of the same /opt/owl/<program> directory. owl-relay and owl-agent are
# updated over the uplink, so their tree is slot `a` of /opt/owl/<program> (`current -> a`, the
# supervisor beside it; docs/packaging.md, "Slots"); owl-upstream's tree is /opt/owl/upstream.
# Usage: deb.sh <relay|upstream|agent> <amd64|arm64> <app dir> <out dir> <work dir> <version>
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
prog="$1" arch="$2" app="$3" out="$4" work="$5" version="$6"
: "${SOURCE_DATE_EPOCH:?}"
name="owl-$prog"
prefix="$(gnu_prefix "$arch")"
runtime="$(node_runtime "$arch" "$work")"
root="$work/root/$name-$arch"
dir="$root/opt/owl/$prog"
case "$prog" in
  relay | agent) slots=yes tree="$dir/a" ;;
  *) slots=no tree="$dir" ;;
esac

rm -rf "$root"
mkdir -p "$tree/bin" "$tree/node/bin" "$tree/share" "$root/usr/bin" "$root/lib/systemd/system" \
  "$root/usr/share/doc/$name" "$root/usr/share/lintian/overrides" "$root/DEBIAN"
cp -a "$app" "$tree/lib"
"${prefix}strip" --strip-all -o "$tree/node/bin/node" "$runtime/bin/node"
cp "$runtime/LICENSE" "$tree/node/LICENSE"
cat >"$tree/bin/$name" <<SH
#!/bin/sh
# $name from the tree this script is in (a slot, reached through /opt/owl/$prog/current).
here="\$(dirname "\$(readlink -f "\$0")")/.."
exec "\$here/node/bin/node" "\$here/lib/dist/$prog/cli.js" "\$@"
SH
chmod 0755 "$tree/bin/$name"
launcher="/opt/owl/$prog/bin/$name"
if [ "$slots" = yes ]; then
  # The slot's version: the package's, as `owl-firmware sign --version` would name this tree.
  printf '{"version":"%s","installedAt":%d}\n' "$version" "$((SOURCE_DATE_EPOCH * 1000))" >"$tree/.owl-slot.json"
  ln -s a "$dir/current"
  "$PKG_DIR/supervisor.sh" "$work/dist" "$dir/supervisor"
  launcher="/opt/owl/$prog/current/bin/$name"
  # The trial restarter and the watchdog around the unit (packaging/systemd/slots/).
  for unit in trial.service firmware-check.service firmware-check.timer; do
    sed "s/@PROG@/$prog/g" "$PKG_DIR/systemd/slots/$unit" >"$root/lib/systemd/system/$name-$unit"
  done
fi
ln -s "$launcher" "$root/usr/bin/$name"

cp "$PKG_DIR/systemd/$name.service" "$root/lib/systemd/system/"
conffiles=""
case "$prog" in
  relay) cp "$PKG_DIR/debian/relay.json.template" "$tree/share/" ;;
  *)
    mkdir -p "$root/etc/owl"
    cp "$PKG_DIR/debian/$prog.json" "$root/etc/owl/$prog.json"
    conffiles="/etc/owl/$prog.json"
    ;;
esac
[ "$prog" = agent ] && mkdir -p "$root/usr/lib/owl-agent/plugins"

doc="$root/usr/share/doc/$name"
sed "s/@PROG@/$prog/g" "$PKG_DIR/debian/copyright" >"$doc/copyright"
cp "$PKG_ROOT/docs/packaging.md" "$doc/"
printf '%s (%s) unstable; urgency=medium\n\n  * Built from the OWL repository.\n\n -- %s  %s\n' \
  "$name" "$version" "$MAINTAINER" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" |
  gzip -9n >"$doc/changelog.Debian.gz"
sed "s/@PROG@/$prog/g; s/@PACKAGE@/$name/g; s|@TREE@|${tree#"$root/"}|g" "$PKG_DIR/debian/lintian-overrides" \
  >"$root/usr/share/lintian/overrides/$name"

# Everything root's and read-only to others as shipped (its state is /var/lib/owl-<program>, made
# by systemd; the slots' directory is given to owl by postinst, docs/packaging.md). Configs hold
# tokens: 0640, group owl set by postinst. Executable: the runtime, the launcher, the supervisor's
# `run`, the maintainer scripts; the JavaScript and the addons are read by node, never run by
# their #! line.
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
chmod 0755 "$tree/node/bin/node" "$tree/bin/$name"
[ "$slots" = no ] || chmod 0755 "$dir/supervisor/run"
[ -z "$conffiles" ] || chmod 0640 "$root$conffiles"

for s in preinst postinst prerm postrm; do
  "$PKG_DIR/debian/maint-script.sh" "$s" "$prog" "$slots" >"$root/DEBIAN/$s"
  chmod 0755 "$root/DEBIAN/$s"
done
[ -z "$conffiles" ] || echo "$conffiles" >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
  xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/md5sums" "$root"/DEBIAN/conffiles 2>/dev/null || true

depends="$("$PKG_DIR/elf-depends.sh" "$tree" "$prefix"), adduser"
cat >"$root/DEBIAN/control" <<CTL
Package: $name
Version: $version
Architecture: $arch
Maintainer: $MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Section: net
Priority: optional
Description: $(sed -n 's/^Description=//p' "$PKG_DIR/systemd/$name.service")
$(sed 's/^/ /' "$PKG_DIR/debian/$prog.description")
CTL

# Fixed mtimes and sorted members: the same commit gives the same bytes.
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
deb="$out/${name}_${version}_$arch.deb"
dpkg-deb --root-owner-group -Z"${OWL_PACKAGE_COMPRESSION:-xz}" --build "$root" "$deb" >&2
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$root/opt/owl" -cf - "$prog" | gzip -n >"$out/${name}_${version}_$arch.tar.gz"
log "$(basename "$deb"): $(du -h "$deb" | cut -f1), installed $(($(du -sk --exclude=DEBIAN "$root" | cut -f1) / 1024)) MiB"

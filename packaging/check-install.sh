#!/usr/bin/env bash
# The maintainer scripts of a slotted package (owl-relay, owl-agent) against the updater, on THIS
# machine: run it as root in a disposable container or VM, or in a throwaway overlay of this one
# (`unshare -m packaging/in-overlay-root.sh <empty dir> bash packaging/check-install.sh <deb>`, as
# test/packaging/check-install.test.ts does); it installs the package, makes the owl user, and
# removes both again. Steps (docs/packaging.md, "Slots"):
#   install                      /opt/owl/<p> and slot a are owl's, prestart starts the package
#   two updates, as owl          b, committed; then a, recycling the package's slot, left on trial
#   upgrade under the lock       an install holding the slots' lock: preinst fails, nothing moved
#   upgrade (a newer Version)    a is the package's tree again, clean; the trial dropped; b kept
#   an update to b on trial, then a package install over it: in place, current -> a, committed
#   remove                       nothing left under /opt/owl
# Usage: check-install.sh <owl-relay or owl-agent .deb>
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
deb="$(readlink -f "$1")"
name="$(dpkg-deb -f "$deb" Package)" version="$(dpkg-deb -f "$deb" Version)"
prog="${name#owl-}" root="/opt/owl/${name#owl-}"
[ "$(id -u)" = 0 ] || die "run as root (it installs $name on this machine)"
! dpkg -s "$name" >/dev/null 2>&1 || die "$name is installed here already"
had_owl=no
getent passwd owl >/dev/null && had_owl=yes
tmp="$(mktemp -d)"
chmod 0755 "$tmp"
cleanup() {
  dpkg -P "$name" >/dev/null 2>&1 || true
  [ "$had_owl" = yes ] || { deluser --system --quiet owl 2>/dev/null || true; delgroup --system --quiet owl 2>/dev/null || true; }
  rm -rf "$tmp"
}
trap cleanup EXIT
expect() { [ "$2" = "$3" ] || die "$1: '$2', expected '$3'"; }
state() { sed -n 's/^  "state": "\(.*\)",$/\1/p' "$root/update.json"; }
marker() { sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$root/$1/.owl-slot.json"; }

# The same tree under a newer Version (and marker), as the next package would be.
newer="$version.1"
dpkg-deb -R "$deb" "$tmp/newer"
sed -i "s/^Version: .*/Version: $newer/" "$tmp/newer/DEBIAN/control"
printf '{"version":"%s","installedAt":1}\n' "$newer" >"$tmp/newer/opt/owl/$prog/a/.owl-slot.json"
dpkg-deb --root-owner-group -Zgzip -z1 -b "$tmp/newer" "$tmp/newer.deb" >/dev/null
rm -rf "$tmp/newer"

# An update as the updater makes it, as owl: a tiny tree (its node: a copy outside the slots).
update() { # <version> <commit|trial>
  mkdir -p "$tmp/$1/node/bin"
  ln -sf "$tmp/node" "$tmp/$1/node/bin/node"
  touch "$tmp/$1/only-in-$1"
  runuser -u owl -- "$tmp/node" --input-type=module -e "
    const { SlotSet } = await import('$root/supervisor/slot-set.js');
    const s = new SlotSet({ root: '$root' });
    s.install('$tmp/$1', '$1');
    s.switch();
    if ('$2' === 'commit') s.commit();" || die "update to $1 failed"
}

log "install $version"
dpkg -i "$deb" >/dev/null
expect "owner of $root" "$(stat -c %U "$root")" owl
expect "owner of $root/a/node/bin/node" "$(stat -c %U "$root/a/node/bin/node")" owl
expect "owner of $root/supervisor/run" "$(stat -c %U "$root/supervisor/run")" root
cp "$root/a/node/bin/node" "$tmp/node"
out="$(runuser -u owl -- "$root/supervisor/run" prestart "$root")"
expect prestart "$out" "owl-slots: starting $version from slot a (start)"

log "updates as owl: 0.2.0 into b (committed), 0.3.0 into the package's slot a (on trial)"
update 0.2.0 commit
update 0.3.0 trial
expect current "$(readlink "$root/current")" a
expect "slot a" "$(marker a)" 0.3.0
expect state "$(state)" trial

log "upgrade while the updater holds the slots' lock: refused, nothing changed"
# The updater's lock, as owl (setpriv execs node itself: \$! is the holder).
setpriv --reuid owl --regid owl --init-groups "$tmp/node" --input-type=module -e "
  const { acquireSlotLock } = await import('$root/supervisor/slot-lock.js');
  acquireSlotLock('$root', 'install');
  console.log('held');
  setInterval(() => {}, 1 << 30);" >"$tmp/held" &
holder=$!
until grep -q held "$tmp/held"; do
  kill -0 "$holder" 2>/dev/null || die "the lock holder ended"
  sleep 0.1
done
! OWL_SLOT_LOCK_WAIT=1 dpkg -i "$tmp/newer.deb" >"$tmp/busy" 2>&1 || die "the upgrade went on under the updater's lock"
grep -q OWL_ERR_SLOTS_BUSY "$tmp/busy" || die "no BUSY from preinst: $(cat "$tmp/busy")"
expect "slot a" "$(marker a)" 0.3.0
expect state "$(state)" trial
kill "$holder"
wait "$holder" || true

log "upgrade to $newer"
dpkg -i "$tmp/newer.deb" >/dev/null
expect "slot a" "$(marker a)" "$newer"
[ ! -e "$root/a/only-in-0.3.0" ] || die "the updater's file stayed in the package's slot a"
[ ! -e "$root/.trash-a" ] || die ".trash-a left"
expect current "$(readlink "$root/current")" a
expect state "$(state)" committed
expect "slot b" "$(marker b)" 0.2.0
expect "owner of $root/a/node/bin/node" "$(stat -c %U "$root/a/node/bin/node")" owl

log "0.4.0 into b on trial, then $version installed over it"
update 0.4.0 trial
expect current "$(readlink "$root/current")" b
dpkg -i "$deb" >/dev/null
expect current "$(readlink "$root/current")" a
expect "slot a" "$(marker a)" "$version"
expect state "$(state)" committed
out="$(runuser -u owl -- "$root/supervisor/run" prestart "$root")"
expect prestart "$out" "owl-slots: starting $version from slot a (start)"

log "remove"
dpkg -r "$name" >/dev/null 2>&1
[ ! -e "$root" ] || die "$root left after remove: $(ls -A "$root")"
log "$name: install, updates, upgrade, reinstall, remove: all as expected"

#!/usr/bin/env bash
# Run a command as root in a throwaway copy of this machine: a private mount namespace where the
# root filesystem is an overlay (this machine's / read-only below, a tmpfs above) and the command
# runs chrooted into it. What it installs, the users it makes and the files it writes land in the
# tmpfs and are gone when it exits; this machine's files are never written.
#
#   unshare -m in-overlay-root.sh <empty dir> <command> [args...]
#       e.g. check-install.sh: a real dpkg -i, upgrade and remove (test/packaging/check-install.test.ts)
#   unshare -m -p -f -n in-overlay-root.sh --systemd <empty dir>
#       boots systemd as PID 1 of the new PID namespace, in a network namespace with only
#       loopback (nothing it starts can reach another machine), on owl-box.target (basic.target,
#       nothing else); enter it with `nsenter -t <pid> -m -p -n -r -w` (test/packaging/systemd-box.ts)
set -euo pipefail
boot=no
if [ "${1:-}" = --systemd ]; then
  boot=yes
  shift
fi
m="$1"
shift
die() {
  echo "in-overlay-root: $*" >&2
  exit 1
}
[ "$(id -u)" = 0 ] || die "run as root"
if [ "$boot" = yes ]; then
  [ "$$" = 1 ] || die "--systemd needs a new PID namespace (unshare -m -p -f -n)"
  [ "$(ip -o link show | wc -l)" = 1 ] || die "--systemd needs a network namespace with only loopback (unshare -n)"
  ip link set lo up
fi
# Nothing mounted below may propagate back to this machine's namespace.
mount --make-rprivate /
mount -t tmpfs -o mode=0755 owl-overlay "$m"
mkdir "$m/upper" "$m/work" "$m/root"
r="$m/root"
mount -t overlay owl-overlay -o "lowerdir=/,upperdir=$m/upper,workdir=$m/work" "$r"
mount --rbind /dev "$r/dev"
[ "$boot" = yes ] || {
  mount --rbind /proc "$r/proc"
  exec chroot "$r" "$@"
}
mount -t proc proc "$r/proc"
mount --rbind /sys "$r/sys"
mount -t tmpfs -o mode=0755 tmpfs "$r/run"
mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
cat >"$r/etc/systemd/system/owl-box.target" <<'UNIT'
[Unit]
Description=OWL test box: basic.target and what a test starts
Requires=basic.target
After=basic.target
AllowIsolate=yes
UNIT
exec chroot "$r" /lib/systemd/systemd --system --unit=owl-box.target

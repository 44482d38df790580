#!/usr/bin/env bash
# Run a command as root in a throwaway copy of this machine: a private mount namespace where the
# root filesystem is an overlay (this machine's / read-only below, a tmpfs above) and the command
# runs chrooted into it. What it installs, the users it makes and the files it writes land in the
# tmpfs and are gone when it exits; this machine's files are never written. Used to run
# check-install.sh (a real dpkg -i, upgrade and remove) in CI.
# Usage: unshare -m in-overlay-root.sh <empty dir for the mount> <command> [args...]
set -euo pipefail
m="$1"
shift
[ "$(id -u)" = 0 ] || { echo "in-overlay-root: run as root" >&2; exit 1; }
# Nothing mounted below may propagate back to this machine's namespace.
mount --make-rprivate /
mount -t tmpfs -o mode=0755 owl-overlay "$m"
mkdir "$m/upper" "$m/work" "$m/root"
mount -t overlay owl-overlay -o "lowerdir=/,upperdir=$m/upper,workdir=$m/work" "$m/root"
mount --rbind /proc "$m/root/proc"
mount --rbind /dev "$m/root/dev"
exec chroot "$m/root" "$@"

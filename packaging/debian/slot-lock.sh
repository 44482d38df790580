# The slots' lock in shell (firmware/slots/slot-lock.ts: the same file, JSON and rules), for the
# maintainer scripts of owl-relay and owl-agent; maint-script.sh puts it in place of a script's
# SLOT_LOCK marker line. POSIX sh (dash), root, no node: it works while the package is half
# installed.
#
# The holder is dpkg (this script's parent, $PPID; SLOT_LOCK_HOLDER overrides it), not the
# script: the lock preinst takes is held through dpkg's unpack of a/ and `current`, and postinst
# run by the same dpkg (`dpkg -i`) finds it its own. It ends with postinst, postrm, or dpkg
# itself: then it is stale and the next actor takes it over (apt runs `dpkg --unpack` and
# `dpkg --configure` as two processes: postinst then takes over the unpack's).

# This boot's id: 32 lower-case hex digits (empty if unreadable).
slot_lock_boot_id() {
  tr -d '\n-' </proc/sys/kernel/random/boot_id 2>/dev/null | tr 'A-F' 'a-f' || true
}

# The start time of pid $1 (field 22 of /proc/<pid>/stat; the name, field 2, may hold spaces).
slot_lock_start() {
  _s="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  _s="${_s##*) }"
  # shellcheck disable=SC2086 # split into fields on purpose
  set -- $_s
  [ $# -ge 20 ] || return 0
  shift 19
  echo "$1"
}

# A field of the lock's JSON in $1: slot_lock_field <json> bootId|pid|start|op (empty if null).
slot_lock_field() {
  printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p" | sed 's/^null$//'
}

# Whether the lock in $1 is held by our holder (same pid, start time and boot).
slot_lock_is_mine() {
  [ "$(slot_lock_field "$1" pid)" = "$SLOT_LOCK_HOLDER" ] &&
    [ "$(slot_lock_field "$1" start)" = "$(slot_lock_start "$SLOT_LOCK_HOLDER")" ] &&
    [ "$(slot_lock_field "$1" bootId)" = "$(slot_lock_boot_id)" ]
}

# Why the lock in $1 is stale; nothing if its holder lives (or cannot be judged).
slot_lock_stale() {
  _pid="$(slot_lock_field "$1" pid)" _boot="$(slot_lock_field "$1" bootId)"
  _start="$(slot_lock_field "$1" start)"
  case "$_pid" in '' | 0 | *[!0-9]*)
    echo unreadable
    return
    ;;
  esac
  _now="$(slot_lock_boot_id)"
  if [ -n "$_boot" ] && [ -n "$_now" ] && [ "$_boot" != "$_now" ]; then
    echo "taken in an earlier boot"
  elif [ ! -e "/proc/$_pid" ] && ! kill -0 "$_pid" 2>/dev/null; then
    echo "pid $_pid is gone"
  elif [ -n "$_start" ] && [ -n "$(slot_lock_start "$_pid")" ] && [ "$(slot_lock_start "$_pid")" != "$_start" ]; then
    echo "pid $_pid is another process now"
  fi
}

# slot_lock <root> <op> <wait seconds>: take <root>/.lock, or find it ours already; waits for a
# live holder up to the given time, then fails (status 1) naming it. No root: nothing to lock.
# The scripts wait OWL_SLOT_LOCK_WAIT seconds (default 120: an install copying a tree to slow
# flash); a failed preinst leaves the old version as it was, so apt can simply be run again.
slot_lock() {
  [ -d "$1" ] || return 0
  case "$3" in '' | *[!0-9]*) set -- "$1" "$2" 120 ;; esac
  SLOT_LOCK_HOLDER="${SLOT_LOCK_HOLDER:-$PPID}"
  _lock="$1/.lock" _tmp="$1/.lock.$$.new" _aside="$1/.lock.$$.stale"
  _boot="$(slot_lock_boot_id)" _start="$(slot_lock_start "$SLOT_LOCK_HOLDER")"
  printf '{"bootId":%s,"pid":%s,"start":%s,"op":"%s","at":%s}\n' \
    "$([ -n "$_boot" ] && echo "\"$_boot\"" || echo null)" "$SLOT_LOCK_HOLDER" "${_start:-null}" \
    "$2" "$(date +%s%3N)" >"$_tmp"
  _deadline=$(($(date +%s) + $3)) _rounds=0 _said=""
  while :; do
    # link(2): the name appears complete, and only if it did not exist (O_EXCL).
    if ln "$_tmp" "$_lock" 2>/dev/null; then
      rm -f "$_tmp"
      return 0
    fi
    _rounds=$((_rounds + 1))
    _ino="$(stat -c %i "$_lock" 2>/dev/null)" && _json="$(cat "$_lock" 2>/dev/null)" &&
      [ "$(stat -c %i "$_lock" 2>/dev/null)" = "$_ino" ] || {
      # Released or replaced while we looked: look again (a bounded number of times).
      [ "$_rounds" -lt 100 ] && continue
      _json=""
    }
    if [ -n "$_json" ] && slot_lock_is_mine "$_json"; then
      rm -f "$_tmp"
      return 0
    fi
    if [ -n "$_json" ] && [ -n "$(slot_lock_stale "$_json")" ] && [ "$_rounds" -lt 100 ]; then
      # Removed only if the file moved aside is the one judged stale; else it goes back.
      if mv -T "$_lock" "$_aside" 2>/dev/null; then
        [ "$(stat -c %i "$_aside")" = "$_ino" ] || ln "$_aside" "$_lock" 2>/dev/null || true
        rm -f "$_aside"
      fi
      continue
    fi
    if [ -z "$_said" ] && [ "$3" -gt 0 ]; then
      echo "owl-slots: waiting up to $3 s for $(slot_lock_field "$_json" op) by pid $(slot_lock_field "$_json" pid) to finish with $1" >&2
    fi
    _said=yes _rounds=0
    if [ "$(date +%s)" -ge "$_deadline" ]; then
      rm -f "$_tmp"
      echo "owl-slots: $1 is busy: $(slot_lock_field "$_json" op) by pid $(slot_lock_field "$_json" pid) (.lock); try again when it is done [OWL_ERR_SLOTS_BUSY]" >&2
      return 1
    fi
    sleep 1
  done
}

# slot_unlock <root>: remove the lock if it is ours.
slot_unlock() {
  _json="$(cat "$1/.lock" 2>/dev/null)" || return 0
  if slot_lock_is_mine "$_json"; then rm -f "$1/.lock"; fi
}

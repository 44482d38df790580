#!/usr/bin/env bash
# The slot supervisor of a program, outside its slots (docs/firmware-slots.md): the compiled
# firmware/slots/*.js but the operator's CLI (cli-commands.js, which needs commander) and the
# index that re-exports it, a package.json making them ES modules, and `run`, which starts
# supervise.js with the node of a slot. Refuses files that import anything outside the folder:
# an update must never be able to break the code that rolls it back.
# Usage: supervisor.sh <compiled dist dir> <supervisor dir to create>
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dist="$1" dest="$2"
src="$dist/firmware/slots"
[ -f "$src/supervise.js" ] || die "no $src/supervise.js: build.sh compiles it"

rm -rf "$dest" && mkdir -p "$dest"
for f in "$src"/*.js; do
  case "$(basename "$f")" in cli-commands.js | index.js) continue ;; esac
  cp "$f" "$dest/"
done
printf '{ "type": "module" }\n' >"$dest/package.json"

# Every import must be node:* or a sibling copied above (static, dynamic and side-effect forms).
bad=""
for f in "$dest"/*.js; do
  while IFS= read -r spec; do
    case "$spec" in
      node:*) ;;
      ./*.js) [ -f "$dest/${spec#./}" ] || bad+="$(basename "$f") imports $spec (not copied)"$'\n' ;;
      *) bad+="$(basename "$f") imports $spec"$'\n' ;;
    esac
  done < <(grep -oE "(from|import)[[:space:]]*\(?[[:space:]]*['\"][^'\"]+['\"]" "$f" | sed -E "s/.*['\"]([^'\"]+)['\"]$/\1/")
done
[ -z "$bad" ] || die "the supervisor must import nothing outside firmware/slots:"$'\n'"$bad"

cat >"$dest/run" <<'SH'
#!/bin/sh
# The slot supervisor: `run prestart|check|pending <root>` (docs/firmware-slots.md). It lives
# outside the slots and brings no Node of its own: it runs on the node of `current`, else of a,
# else of b. A node that cannot run (exit 126/127 from the shell, or killed by a signal) is
# skipped for the next one, so a new version with a broken runtime can still be rolled back;
# supervise.js survives being killed at any step, so running it again is safe.
root="$(dirname "$(dirname "$(readlink -f "$0")")")"
here="$root/supervisor"
tried=""
for slot in current a b; do
  node="$(readlink -f "$root/$slot/node/bin/node" 2>/dev/null)" || continue
  [ -x "$node" ] || continue
  case " $tried " in *" $node "*) continue ;; esac
  tried="$tried $node"
  status=0
  "$node" "$here/supervise.js" "$@" || status=$?
  [ "$status" -ge 126 ] || exit "$status"
  echo "owl-slots: $node did not run (status $status); trying the next slot's node" >&2
done
echo "owl-slots: no runnable node in $root/current, a or b" >&2
exit 1
SH
chmod 0755 "$dest/run"

#!/usr/bin/env bash
# Fail if an x86-64 object holds instructions a baseline x86-64 CPU lacks: AVX/AVX2/FMA (any
# VEX-encoded op on xmm/ymm/zmm), BMI1, BMI2, LZCNT. The registry's RocksDB prebuild is built with
# -march=znver1 and dies with SIGILL on Atom/Celeron-class appliances.
# Not checked: tzcnt (GCC's `rep bsf` for ctz decodes as tzcnt and runs everywhere).
# Usage: check-isa.sh <file>...
set -euo pipefail
status=0
for f in "$@"; do
  hits="$(objdump -d --no-show-raw-insn "$f" |
    grep -E $'^ +[0-9a-f]+:\t(v[a-z0-9]+ .*%[xyz]mm|(andn|bextr|blsi|blsmsk|blsr|bzhi|pdep|pext|mulx|rorx|sarx|shlx|shrx|lzcnt) )' |
    awk -F'\t' '{ split($2, a, " "); print a[1] }' | sort | uniq -c | sort -rn || true)"
  if [ -n "$hits" ]; then
    echo "$f: instructions beyond baseline x86-64:" >&2
    head -10 <<<"$hits" >&2
    status=1
  else
    echo "$f: baseline x86-64 only" >&2
  fi
done
exit "$status"

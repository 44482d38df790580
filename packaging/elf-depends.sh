#!/usr/bin/env bash
# The Depends a tree's ELF files need, from their dynamic symbol versions and NEEDED libraries
# (what dpkg-shlibdeps would find, without a debian/ source tree or the target's shlibs files).
# Usage: elf-depends.sh <root dir> <toolchain prefix, may be empty>
set -euo pipefail
root="$1" prefix="${2:-}"
elves=()
while IFS= read -r -d '' f; do
  [ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] && elves+=("$f")
done < <(find "$root" -type f -print0 | sort -z)
[ "${#elves[@]}" -gt 0 ] || { echo "no ELF file under $root" >&2; exit 1; }

versions="$("${prefix}objdump" -T "${elves[@]}" 2>/dev/null | grep -oE '\((GLIBC|GLIBCXX)_[0-9.]+\)' | tr -d '()' | sort -u)"
needed="$("${prefix}readelf" -d "${elves[@]}" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort -u)"

glibc="$(grep '^GLIBC_' <<<"$versions" | sed 's/GLIBC_//' | sort -V | tail -1)"
deps=("libc6 (>= $glibc)")
if grep -q '^libstdc++' <<<"$needed"; then
  cxx="$(grep '^GLIBCXX_' <<<"$versions" | sed 's/GLIBCXX_3.4.//' | sort -n | tail -1)"
  # GLIBCXX_3.4.N -> the GCC release whose libstdc++6 first has it.
  case "$cxx" in
    31) gcc=13 ;; 30) gcc=12 ;; 29) gcc=11 ;; 28) gcc=10 ;; 2[6-7]) gcc=9 ;; 25) gcc=8 ;;
    *) gcc=7 ;;
  esac
  deps+=("libstdc++6 (>= $gcc)")
fi
grep -q '^libgcc_s' <<<"$needed" && deps+=("libgcc-s1")
unknown="$(grep -vE '^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|ld-linux[-a-z0-9_]*)\.so' <<<"$needed" || true)"
[ -z "$unknown" ] || { echo "unexpected shared libraries: $unknown" >&2; exit 1; }
(IFS=,; echo "${deps[*]}" | sed 's/,/, /g')

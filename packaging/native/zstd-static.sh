#!/usr/bin/env bash
# A position-independent static zstd for RocksDB to link (Debian's arm64 libzstd.a is not PIC),
# compiled from the zstd sources that zstd-napi's npm package carries, so the repo's lockfile
# pins them. No assembly and no runtime-dispatched BMI2 code: the amd64 build must hold no
# instruction a baseline x86-64 lacks (check-isa.sh). Symbols hidden: RocksDB's copy never
# meets Node's or zstd-napi's.
# Usage: zstd-static.sh <zstd lib source dir> <out dir> <toolchain prefix, may be empty>
set -euo pipefail
src="$1" out="$2" prefix="${3:-}"
rm -rf "$out" && mkdir -p "$out/obj" "$out/include"
export CC="${prefix}gcc" OUT="$out"
ls "$src"/common/*.c "$src"/compress/*.c "$src"/decompress/*.c | sort |
  xargs -P 2 -I{} sh -c '"$CC" -O2 -fPIC -fvisibility=hidden -DZSTD_DISABLE_ASM -DDYNAMIC_BMI2=0 \
    -DZSTD_NO_TRACE -DXXH_NAMESPACE=ZSTD_ -DZSTDLIB_VISIBLE= -DZSTDERRORLIB_VISIBLE= \
    -DZDICTLIB_VISIBLE= -c "$1" -o "$OUT/obj/$(basename "$1" .c).o"' _ {}
"${prefix}ar" rcsD "$out/libzstd.a" "$out"/obj/*.o
cp "$src/zstd.h" "$src/zstd_errors.h" "$src/zdict.h" "$out/include/"

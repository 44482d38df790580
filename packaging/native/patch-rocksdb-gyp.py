#!/usr/bin/env python3
"""Rewrite @nxtedition/rocksdb's .gyp files for a portable Linux build.

Their Linux branch is written for the publisher's x86_64 build host: -march=znver1 (AVX2/BMI2,
will not load on baseline x86-64 or build for arm64), folly and coroutines, and static libraries
under /usr/lib/x86_64-linux-gnu. This keeps RocksDB itself and links only the zstd built by
zstd-static.sh. io_uring is dropped too: RocksDB uses it only for MultiGet/async reads, which
OWL does not call, and it would need one more static library per architecture.

Usage: patch-rocksdb-gyp.py <rocksdb package dir> <zstd dir (libzstd.a, include/)>
"""
import ast
import json
import sys
from pathlib import Path

DROP_DEFINES = {"USE_FOLLY=1", "USE_COROUTINES=1", "ROCKSDB_IOURING_PRESENT=1"}
DROP_FLAGS = {"-march=znver1", "-flto", "-fcoroutines", "-fuse-linker-plugin"}


def load(path):
    # gyp files are Python literals (comments, trailing commas), not JSON.
    return ast.literal_eval(path.read_text())


def linux_branch(target):
    for cond in target["conditions"]:
        if cond[0].replace(" ", "") == "OS=='linux'":
            return cond[1]
    raise SystemExit(f"no OS == 'linux' branch in target {target['target_name']}")


def strip_flags(settings):
    for key in ("cflags", "cflags_cc+", "ccflags", "ldflags"):
        if key in settings:
            settings[key] = [f for f in settings[key] if f not in DROP_FLAGS]


def patch_binding(path):
    gyp = load(path)
    linux = linux_branch(gyp["targets"][0])
    strip_flags(linux)
    linux["include_dirs"] = []
    path.write_text(json.dumps(gyp, indent=2) + "\n")


def patch_rocksdb(path, zstd):
    gyp = load(path)
    target = gyp["targets"][0]
    for cond in target["conditions"]:
        for branch in cond[1:]:
            strip_flags(branch)
    linux = linux_branch(target)
    linux["defines"] = [d for d in linux["defines"] if d not in DROP_DEFINES]
    linux["direct_dependent_settings"]["libraries"] = [str(zstd / "libzstd.a")]
    linux["include_dirs"] = [str(zstd / "include")]
    path.write_text(json.dumps(gyp, indent=2) + "\n")


def main():
    pkg, zstd = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
    patch_binding(pkg / "binding.gyp")
    patch_rocksdb(pkg / "deps" / "rocksdb" / "rocksdb.gyp", zstd)


main()

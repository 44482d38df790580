#!/usr/bin/env bash
# Drop what a running program never reads from a staged tree: type declarations, source maps,
# docs (licences stay), packages' tests, the lockfile. Usage: prune.sh <app dir>
set -euo pipefail
app="$1"
find "$app" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
  -o \( -iname '*.md' ! -iname 'licen[cs]e*' \) -o -name '*.tsbuildinfo' \) -delete
# HTML docs pages of packages (pino's loads scripts from CDNs).
find "$app/node_modules" -type f -name '*.html' -delete
# A package's own tests (node_modules/<pkg>/test, node_modules/@scope/<pkg>/test).
find "$app/node_modules" -mindepth 2 -maxdepth 3 -type d \( -name test -o -name tests -o -name __tests__ \) \
  -prune -exec rm -rf {} +
# Dot files of the packages' repositories (.npmignore, .eslintrc, .github/...).
find "$app/node_modules" -name '.*' -prune -exec rm -rf {} +
rm -f "$app/package-lock.json" "$app/node_modules/.package-lock.json"
find "$app" -depth -type d -empty -delete

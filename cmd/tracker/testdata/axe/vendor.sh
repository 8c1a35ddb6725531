#!/usr/bin/env bash
# Fetches axe-core, the accessibility checker the browser tests inject into
# every page (browser_pages_test.go), from the npm registry at the pinned
# version and keeps only what the tests need. It is test data, not part of
# the binary (static/ is embedded; this is not). Run by
# `go tool task vendor-axe`; the result is committed, so tests never need npm.
set -euo pipefail
cd "$(dirname "$0")"
version=4.14.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent --loglevel=error "axe-core@$version" >/dev/null && tar -xzf "axe-core-$version.tgz")
cp "$tmp/package/axe.min.js" axe.min.js
cp "$tmp/package/LICENSE" LICENSE
[ -f "$tmp/package/LICENSE-3RD-PARTY.txt" ] && cp "$tmp/package/LICENSE-3RD-PARTY.txt" LICENSE-3RD-PARTY.txt
printf 'axe-core %s (MPL-2.0; unmodified, from the npm registry)\n' "$version" > VERSION
cat VERSION

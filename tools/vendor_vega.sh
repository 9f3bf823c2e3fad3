#!/usr/bin/env bash
# Rebuild .dvc/plots/offline.html: DVC's plot page with vega, vega-lite and vega-embed inlined
# (the versions dvc-render's default page loads from a CDN), so `dvc plots show/diff` render
# offline. Needs npm (the npm registry); run from the repo root.
set -euo pipefail
versions=(vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "${versions[@]}" >/dev/null)
out=.dvc/plots/offline.html
{
  echo '<!DOCTYPE html>'
  echo '<html>'
  echo '<head>'
  echo '<meta charset="utf-8">'
  echo '{refresh_tag}'
  echo '<title>DVC plots</title>'
  echo "<!-- inlined: ${versions[*]} (BSD-3-Clause, University of Washington Interactive Data Lab) -->"
  for package in vega vega-lite vega-embed; do
    tar -xzf "$work/$package"-[0-9]*.tgz -C "$work" package/build/"$package".min.js
    echo '<script>'
    cat "$work/package/build/$package.min.js"
    echo '</script>'
  done
  echo '<style>table { border-spacing: 15px; } body { font-family: sans-serif; }</style>'
  echo '</head>'
  echo '<body>'
  echo '{plot_divs}'
  echo '</body>'
  echo '</html>'
} > "$out"
echo "wrote $out ($(wc -c < "$out") bytes)"

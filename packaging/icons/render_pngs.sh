#!/usr/bin/env bash
# Renders resources/icons/cisr-zoom.svg to the PNG sizes the freedesktop hicolor theme and
# Windows/macOS bundles use (resources/icons/cisr-zoom-<N>.png; PyInstaller turns the 512 px
# one into the .ico/.icns itself, with Pillow). Needs rsvg-convert (Debian: librsvg2-bin).
# The PNGs are committed, so users and the bundle build never need these tools.
# Usage: packaging/icons/render_pngs.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
svg=resources/icons/cisr-zoom.svg
for n in 16 32 48 64 128 256 512; do
    rsvg-convert --width "$n" --height "$n" --keep-aspect-ratio "$svg" -o "resources/icons/cisr-zoom-$n.png.tmp"
    mv -f "resources/icons/cisr-zoom-$n.png.tmp" "resources/icons/cisr-zoom-$n.png"
done
ls -l resources/icons/

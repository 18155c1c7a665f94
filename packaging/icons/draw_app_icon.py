"""Draws the application icon, resources/icons/cisr-zoom.svg (run: python packaging/icons/draw_app_icon.py).

The picture: a warm disc on a dark background, drawn as coarse square pixels (each cell
coloured by the smooth image at its centre, i.e. nearest-neighbour), with a magnifier whose
lens shows the same disc rendered smoothly - what the app does to a photograph. Units are
SVG user units on a 512 x 512 canvas, origin at the top-left, y down.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

SIZE = 512
CELL = 32  # pixel-grid cell edge
MARGIN = 16  # gap between the canvas edge and the rounded tile
CORNER = 104  # tile corner radius
DISC_C, DISC_R = (304.0, 304.0), 212.0  # the "image content": a disc
LENS_C, LENS_R = (200.0, 200.0), 128.0  # magnifier lens (inner radius of the rim)
RIM = 24.0
HANDLE = ((314.0, 314.0), (436.0, 436.0), 54.0)  # start (cap hidden under the rim), end, width

# Colour ramps (centre -> edge) of the smooth picture, shared by the pixel cells and the lens.
DISC_STOPS = [(0.0, (255, 214, 102)), (0.65, (247, 153, 38)), (1.0, (222, 94, 32))]
BG_STOPS = [(0.0, (47, 78, 140)), (1.0, (17, 29, 58))]
BG_C, BG_R = (150.0, 120.0), 520.0


def _ramp(stops, t: float) -> tuple[int, int, int]:
    t = min(max(t, 0.0), 1.0)
    for (t0, c0), (t1, c1) in zip(stops, stops[1:]):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            return tuple(round(a + (b - a) * f) for a, b in zip(c0, c1))
    return stops[-1][1]


def _hex(c) -> str:
    return "#%02x%02x%02x" % c


def _smooth_colour(x: float, y: float) -> tuple[int, int, int]:
    d = math.hypot(x - DISC_C[0], y - DISC_C[1])
    if d <= DISC_R:
        return _ramp(DISC_STOPS, d / DISC_R)
    return _ramp(BG_STOPS, math.hypot(x - BG_C[0], y - BG_C[1]) / BG_R)


def _gradient(gid: str, stops, centre, radius) -> str:
    s = "".join(f'<stop offset="{t:g}" stop-color="{_hex(c)}"/>' for t, c in stops)
    return (f'<radialGradient id="{gid}" gradientUnits="userSpaceOnUse" cx="{centre[0]:g}" cy="{centre[1]:g}" '
            f'r="{radius:g}">{s}</radialGradient>')


def draw() -> str:
    tile = f'x="{MARGIN}" y="{MARGIN}" width="{SIZE - 2 * MARGIN}" height="{SIZE - 2 * MARGIN}" rx="{CORNER}"'
    cells = []
    for j in range(0, SIZE, CELL):
        for i in range(0, SIZE, CELL):
            c = _smooth_colour(i + CELL / 2, j + CELL / 2)
            cells.append(f'<rect x="{i}" y="{j}" width="{CELL}" height="{CELL}" fill="{_hex(c)}"/>')
    grid = "".join(f"M{v} 0V{SIZE}M0 {v}H{SIZE}" for v in range(CELL, SIZE, CELL))
    (hx0, hy0), (hx1, hy1), hw = HANDLE
    lx, ly = LENS_C
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" viewBox="0 0 {SIZE} {SIZE}">',
        "<title>CiSR Zoom</title>",
        "<defs>",
        f"<clipPath id=\"tile\"><rect {tile}/></clipPath>",
        f'<clipPath id="lens"><circle cx="{lx:g}" cy="{ly:g}" r="{LENS_R:g}"/></clipPath>',
        _gradient("disc", DISC_STOPS, DISC_C, DISC_R),
        _gradient("bg", BG_STOPS, BG_C, BG_R),
        '<linearGradient id="glare" x1="0" y1="0" x2="0" y2="1">'
        '<stop offset="0" stop-color="#ffffff" stop-opacity="0.55"/>'
        '<stop offset="1" stop-color="#ffffff" stop-opacity="0"/></linearGradient>',
        "</defs>",
        # 1. The picture as coarse pixels, with a faint grid between them.
        '<g clip-path="url(#tile)" shape-rendering="crispEdges">',
        *cells,
        f'<path d="{grid}" stroke="#0b1326" stroke-opacity="0.35" stroke-width="2" fill="none"/>',
        "</g>",
        # 2. Through the lens: the same picture, smooth.
        '<g clip-path="url(#lens)">',
        f'<rect width="{SIZE}" height="{SIZE}" fill="url(#bg)"/>',
        f'<circle cx="{DISC_C[0]:g}" cy="{DISC_C[1]:g}" r="{DISC_R:g}" fill="url(#disc)"/>',
        f'<ellipse cx="{lx - 30:g}" cy="{ly - 62:g}" rx="{LENS_R * 0.62:g}" ry="{LENS_R * 0.36:g}" '
        'fill="url(#glare)" transform="rotate(-35 {0:g} {1:g})"/>'.format(lx - 30, ly - 62),
        "</g>",
        # 3. The magnifier: handle, then rim (dark outline under a light ring).
        f'<line x1="{hx0:g}" y1="{hy0:g}" x2="{hx1:g}" y2="{hy1:g}" stroke="#0b1326" '
        f'stroke-width="{hw + 12:g}" stroke-linecap="round"/>',
        f'<line x1="{hx0:g}" y1="{hy0:g}" x2="{hx1:g}" y2="{hy1:g}" stroke="#eef2f8" '
        f'stroke-width="{hw:g}" stroke-linecap="round"/>',
        f'<circle cx="{lx:g}" cy="{ly:g}" r="{LENS_R + RIM / 2:g}" fill="none" stroke="#0b1326" '
        f'stroke-width="{RIM + 12:g}"/>',
        f'<circle cx="{lx:g}" cy="{ly:g}" r="{LENS_R + RIM / 2:g}" fill="none" stroke="#eef2f8" '
        f'stroke-width="{RIM:g}"/>',
        "</svg>",
        "",
    ])


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[2] / "resources/icons/cisr-zoom.svg"
    out.write_text(draw(), encoding="utf-8")
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))

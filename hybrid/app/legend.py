"""What to draw: a legend of fingertip gestures, drawn by this project as strokes with a start dot and an arrow.

A model whose classes are gestures this module knows by name (EgoGestAR's: swipes, shapes, a tick...) gets a row
of small drawings in the Classify and Live tabs, so a person knows what to draw in the air in front of the webcam.
Strokes are in a unit square seen from the wearer's eye (x to the right, y down), as the camera sees the finger.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

Point = tuple[float, float]


def _circle_ccw(start_deg: float = 45.0, sweep_deg: float = 330.0, steps: int = 24) -> list[Point]:
    """Counter-clockwise as a person sees it (screen y points down), from the top right."""
    angles = (math.radians(start_deg + sweep_deg * k / steps) for k in range(steps + 1))
    return [(0.5 + 0.34 * math.cos(a), 0.5 - 0.34 * math.sin(a)) for a in angles]


# Read from the clips' frames: where the fingertip starts and which way it goes.
STROKES: dict[str, list[Point]] = {
    "left": [(0.85, 0.5), (0.15, 0.5)],
    "right": [(0.15, 0.5), (0.85, 0.5)],
    "up": [(0.5, 0.85), (0.5, 0.15)],
    "down": [(0.5, 0.15), (0.5, 0.85)],
    "carret": [(0.15, 0.8), (0.5, 0.2), (0.85, 0.8)],
    "tick": [(0.15, 0.5), (0.4, 0.8), (0.85, 0.18)],
    "square": [(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8), (0.2, 0.28)],
    "del": [(0.2, 0.2), (0.8, 0.8), (0.2, 0.8), (0.8, 0.2)],
    "star": [(0.22, 0.88), (0.5, 0.1), (0.78, 0.88), (0.1, 0.38), (0.9, 0.38), (0.28, 0.84)],
    "circlecc": _circle_ccw(),
}
NAMES = {"carret": "caret ^", "circlecc": "circle, anticlockwise", "del": "delete", "tick": "tick ✓"}
MIN_KNOWN = 3  # a model with fewer drawable classes is not a gesture model: no legend


def gesture_svg(points: Sequence[Point], size: int = 64, color: str = "#e8590c") -> str:
    """One stroke as an inline SVG: a dot where the finger starts, an arrowhead where it ends."""
    s = size
    xy = [(x * s, y * s) for x, y in points]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    (x0, y0), (x1, y1) = xy[-2], xy[-1]
    a = math.atan2(y1 - y0, x1 - x0)
    head = [(x1 - 0.16 * s * math.cos(a + d), y1 - 0.16 * s * math.sin(a + d)) for d in (0.45, -0.45)]
    arrow = f"{head[0][0]:.1f},{head[0][1]:.1f} {x1:.1f},{y1:.1f} {head[1][0]:.1f},{head[1][1]:.1f}"
    w = max(2.0, s / 16)
    return (
        f'<svg viewBox="0 0 {s} {s}" width="{s}" height="{s}" aria-hidden="true" fill="none" stroke="{color}" '
        f'stroke-width="{w:.1f}" stroke-linecap="round" stroke-linejoin="round">'
        f'<polyline points="{path}"/><polyline points="{arrow}"/>'
        f'<circle cx="{xy[0][0]:.1f}" cy="{xy[0][1]:.1f}" r="{w * 1.4:.1f}" fill="{color}" stroke="none"/></svg>'
    )


def legend_html(labels: Sequence[str]) -> str:
    """The legend for a model with these classes (in its order), or "" when fewer than MIN_KNOWN are gestures
    drawn here. Class names come from a model file: escaped."""
    known = [x for x in labels if x in STROKES]
    if len(known) < MIN_KNOWN:
        return ""
    cells = "".join(
        f'<figure class="gesture">{gesture_svg(STROKES[x])}<figcaption>{html.escape(NAMES.get(x, x))}</figcaption>'
        "</figure>"
        for x in known
    )
    rest = [x for x in labels if x not in STROKES]
    note = f" · also: {', '.join(html.escape(x) for x in rest)}" if rest else ""
    return (
        '<div id="legend" class="legend"><p class="legend-title">Draw one of these in the air with a fingertip, '
        f'starting at the dot{note}</p><div class="gestures">{cells}</div></div>'
    )

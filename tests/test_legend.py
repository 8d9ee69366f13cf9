"""The gesture legend: drawn for a model of fingertip gestures, nothing for any other."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from hybrid.app.legend import MIN_KNOWN, STROKES, gesture_svg, legend_html

EGOGESTAR = ["carret", "circlecc", "del", "down", "left", "right", "square", "star", "tick", "unclassified", "up"]


def test_a_gesture_model_gets_one_drawing_per_gesture_in_its_order():
    page = legend_html(EGOGESTAR)
    root = ET.fromstring(page)  # well-formed: every svg and figure closed
    captions = [f.findtext("figcaption") for f in root.iter("figure")]
    assert captions == ["caret ^", "circle, anticlockwise", "delete", "down", "left", "right", "square", "star",
                        "tick ✓", "up"]  # fmt: skip
    assert len(list(root.iter("svg"))) == 10 and "also: unclassified" in page


def test_other_models_get_no_legend_and_names_are_escaped():
    assert legend_html(["hand_shaking", "hugging", "kicking", "pointing", "punching", "pushing"]) == ""
    assert legend_html(["left", "right"]) == "" and MIN_KNOWN == 3
    page = legend_html(["left", "right", "up", "<script>x</script>"])
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_strokes_start_at_the_dot_and_end_at_the_arrow():
    for name, points in STROKES.items():
        assert len(points) >= 2 and all(0 <= v <= 1 for p in points for v in p), name
        svg = ET.fromstring(gesture_svg(points, size=100))
        dot = svg.find("circle")
        start = (float(dot.get("cx")), float(dot.get("cy")))
        assert math.dist(start, (points[0][0] * 100, points[0][1] * 100)) < 0.1, name
        arrow = svg.findall("polyline")[1].get("points").split()
        tip = tuple(map(float, arrow[1].split(",")))
        assert math.dist(tip, (points[-1][0] * 100, points[-1][1] * 100)) < 0.1, name
    # directions as the camera sees the fingertip: left moves left, up moves up (y grows downwards)
    assert STROKES["left"][-1][0] < STROKES["left"][0][0] and STROKES["up"][-1][1] < STROKES["up"][0][1]
    circle = STROKES["circlecc"]  # anticlockwise on screen: from the top right, over the top to the left
    assert circle[0][0] > 0.5 > circle[0][1] and circle[len(circle) // 4][1] < circle[0][1] < 0.5

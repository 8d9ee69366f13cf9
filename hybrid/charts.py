"""The Classify tab's two charts as inline SVG: how alike the frames look, and the RNN's belief after every step.

Drawn as text by the server and by the browser, not rasterised: a few ms a chart where matplotlib took 0.1-0.3 s
of CPU (layout, PNG) beside the page being drawn on the same cores, sharp at any width, and every square and
point says its numbers on hover (<title>). Sized as the matplotlib figures they replace: a 576-unit-wide view box
with large type, so a phone's ~340 px still shows the text at ~12 px.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps

from .viz import INK, MUTED, UNKNOWN_COLOR, class_color, decision_step

W = 576  # view box width
FONT = 20  # px in the view box (viz.FONT is 14 pt at 120 dpi, ~23 px)
GRID, BAR = "#f1f3f5", "#dee2e6"


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _text(
    x: float, y: float, text: str, size: float = FONT - 2, anchor: str = "start", fill: str = INK, **attrs: object
) -> str:
    """attrs: more SVG attributes, underscores for dashes (font_weight="bold")."""
    extra = "".join(f' {k.replace("_", "-")}="{_esc(v)}"' for k, v in attrs.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{extra}>'
        f"{_esc(text)}</text>"
    )


def _hex(rgb: Sequence[float]) -> str:
    """An (r, g, b[, a]) colour in 0..1 -> "#rrggbb"."""
    return "#" + "".join(f"{int(round(c * 255)):02x}" for c in rgb[:3])


def _svg(height: int, title: str, label: str, body: list[str]) -> str:
    """The chart: a bold title top left, `body` below; `label` is what a screen reader says."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="100%" role="img" '
        f'aria-label="{_esc(label)}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" '
        'style="display:block;max-width:100%;height:auto;background:#fff">'
    )
    return "".join([head, _text(6, 28, title, FONT + 3, font_weight="bold"), *body, "</svg>"])


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round values (1, 2, 2.5 or 5 times a power of ten apart) from lo to hi, at most `most` of them."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(1, most - 1)
    base = 10 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """The ticks written with as many decimals as their spacing needs (0.98, 0.985, 0.99, not 0.98, 0.99, 0.99)."""
    for decimals in range(7):
        labels = [f"{t:.{decimals}f}" for t in ticks]
        if all(abs(float(s) - t) < 1e-9 for s, t in zip(labels, ticks)):
            return labels
    return [f"{t:g}" for t in ticks]


def belief_svg(
    step_probs: np.ndarray, labels: Sequence[str], times_s: Sequence[float], attention: np.ndarray | None = None,
    max_lines: int = 6, threshold: float | None = None,
) -> str:  # fmt: skip
    """Each class's probability after every RNN step (the answer bold, others thin, one colour per class as on
    every tab), the moment the model settled on its answer, and (grey bars) how much each frame weighs in the
    final decision. `threshold`: the probability the answer must reach to be one of the model's classes."""
    T = step_probs.shape[0]
    x = np.asarray(times_s, dtype=float) if len(times_s) == T else np.arange(T, dtype=float)
    answer = int(step_probs[-1].argmax())
    order = [answer] + [int(k) for k in np.argsort(-step_probs.max(0)) if k != answer][: max_lines - 1]
    H = 468
    left, right, top, bottom = 74, W - 150, 52, H - 74  # the plot area
    span = max(float(x[-1] - x[0]), 1e-3)
    x_lo, x_hi = x[0] - 0.02 * span, x[-1] + 0.02 * span

    def px(t: float) -> float:
        return left + (t - x_lo) / (x_hi - x_lo) * (right - left)

    def py(p: float) -> float:
        return bottom - (p + 0.02) / 1.04 * (bottom - top)

    body = []
    if attention is not None and len(attention) == T and T > 1:  # under everything else
        gaps = np.diff(x)
        width = 0.8 * (float(gaps.min()) if np.all(gaps > 0) else 1.0) / (x_hi - x_lo) * (right - left)
        weights = attention / max(float(attention.max()), 1e-9)
        for i in range(T):
            x0, x1 = max(left, px(x[i]) - width / 2), min(right, px(x[i]) + width / 2)  # inside the plot
            y = py(weights[i] * 0.25)
            body.append(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x1 - x0:.1f}" height="{py(0) - y:.1f}" fill="{BAR}">'
                f"<title>{_esc(f'frame {i + 1} at {x[i]:.2f} s weighs {attention[i]:.0%}')}</title></rect>"
            )
    for p in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        body.append(f'<line x1="{left}" x2="{right}" y1="{py(p):.1f}" y2="{py(p):.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 8, py(p) + 6, f"{p:.1f}", anchor="end"))
    ticks = nice_ticks(float(x[0]), float(x[-1]))
    for t, name in zip(ticks, tick_labels(ticks)):
        body.append(_text(px(t), bottom + 24, name, anchor="middle"))
        body.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{bottom}" y2="{bottom + 5}" stroke="{MUTED}"/>')
    body.append(f'<path d="M{left} {top}V{bottom}H{right}" fill="none" stroke="{MUTED}"/>')
    mine = class_color(labels, labels[answer])
    if T > 1:
        d = decision_step(step_probs)
        body.append(
            f'<rect x="{px(x[d]):.1f}" y="{top}" width="{px(x[-1]) - px(x[d]):.1f}" height="{bottom - top}" '
            f'fill="{mine}" fill-opacity="0.07"/>'
            f'<line x1="{px(x[d]):.1f}" x2="{px(x[d]):.1f}" y1="{top}" y2="{bottom}" stroke="{mine}" '
            'stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
        body.append(_text(px(x[d]) + 4, top + 18, "settled here"))
    if threshold is not None:
        y = py(threshold)
        body.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{UNKNOWN_COLOR}" stroke-width="2" '
            f'stroke-dasharray="2 3" class="threshold" data-threshold="{threshold:.6g}"/>'
            f'<rect x="{left + 4}" y="{y + 2:.1f}" width="262" height="22" fill="#fff" fill-opacity="0.85" rx="3"/>'
        )
        body.append(_text(left + 8, y + 19, "below this: not one I know", FONT - 4, fill=MUTED))
    for k in reversed(order):  # the answer last: drawn on top
        bold = k == answer
        colour = class_color(labels, labels[k])
        points = " ".join(f"{px(t):.1f},{py(p):.1f}" for t, p in zip(x, step_probs[:, k]))
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{3 if bold else 1.6}" '
            f'stroke-opacity="{1 if bold else 0.85}" stroke-linejoin="round"/>'
        )
        for i, (t, p) in enumerate(zip(x, step_probs[:, k])):
            body.append(
                f'<circle cx="{px(t):.1f}" cy="{py(p):.1f}" r="{4 if bold else 2.5}" fill="{colour}">'
                f"<title>{_esc(f'{labels[k]}: {p:.0%} after frame {i + 1} ({t:.2f} s)')}</title></circle>"
            )
    # direct labels at the right end, nudged apart so they don't overlap (in probability units, as plotted)
    ends = sorted([float(step_probs[-1, k]), labels[k], class_color(labels, labels[k]), k == answer] for k in order)
    for i in range(1, len(ends)):
        ends[i][0] = max(ends[i][0], ends[i - 1][0] + 0.085)
    over = max(0.0, ends[-1][0] - 1.02) if ends else 0.0
    for p, name, colour, bold in ends:
        body.append(
            _text(right + 8, py(p - over) + 6, name, FONT - 1, fill=colour, font_weight="bold" if bold else "normal")
        )
    body.append(_text(left + (right - left) / 2, H - 14, "time in the clip (s), one point per frame", FONT - 1,
                      anchor="middle"))  # fmt: skip
    body.append(_text(0, 0, "probability", FONT - 1, anchor="middle",
                      transform=f"translate(20 {(top + bottom) / 2:.0f}) rotate(-90)"))  # fmt: skip
    said = f"The RNN's belief after every frame: {labels[answer]} ends at {float(step_probs[-1, answer]):.0%}"
    return _svg(H, "The RNN's belief after every frame", said, body)


def similarity_svg(features: np.ndarray, times_s: Sequence[float]) -> str:
    """How alike the sampled frames look to the CNN: the cosine similarity of every pair of frames' feature
    vectors [T,T] (1 = the same vector), its colours stretched from the clip's least alike pair to 1, so stretches
    where the scene holds show as bright blocks along the diagonal and a change as a dark band."""
    sim = similarity(features)
    T = sim.shape[0]
    low = float(sim.min()) if T > 1 else 0.0
    low = min(low, 1.0 - 1e-3)  # a clip whose frames are all alike still gets a colour range
    names = [f"{t:.1f}" for t in times_s] if len(times_s) == T else [str(i) for i in range(T)]
    H = 486
    left, top, size = 78, 52, 370  # the square
    cell = size / T
    lut = colormaps["magma"]
    colours = lut((sim - low) / (1.0 - low))[..., :3]  # [T,T,3] in 0..1
    body = []
    for i in range(T):
        for j in range(T):
            body.append(
                f'<rect x="{left + j * cell:.2f}" y="{top + i * cell:.2f}" width="{cell + 0.4:.2f}" '
                f'height="{cell + 0.4:.2f}" fill="{_hex(colours[i, j])}">'
                f"<title>{_esc(f'{names[i]} s and {names[j]} s: {sim[i, j]:.2f} alike')}</title></rect>"
            )
    step = max(1, int(np.ceil(T / 8)))
    for i in range(0, T, step):
        mid = (i + 0.5) * cell
        body.append(_text(left + mid, top + size + 24, names[i], anchor="middle"))
        body.append(_text(left - 8, top + mid + 6, names[i], anchor="end"))
    body.append(_text(left + size / 2, H - 14, "time in the clip (s)", FONT - 1, anchor="middle"))
    body.append(_text(0, 0, "time in the clip (s)", FONT - 1, anchor="middle",
                      transform=f"translate(20 {top + size / 2:.0f}) rotate(-90)"))  # fmt: skip
    # the colour bar: low (the clip's least alike pair) at the bottom, 1 at the top
    bx, bw, btop, bh = left + size + 18, 18, top + 0.075 * size, 0.85 * size
    stops = "".join(
        f'<stop offset="{1 - v:.2f}" stop-color="{_hex(lut(v))}"/>'
        for v in np.linspace(1, 0, 11)  # offsets must rise: from the top (1) down
    )
    body.append(
        f'<defs><linearGradient id="alike" x1="0" y1="0" x2="0" y2="1">{stops}</linearGradient></defs>'
        f'<rect x="{bx}" y="{btop:.1f}" width="{bw}" height="{bh:.1f}" fill="url(#alike)"/>'
    )
    ticks = nice_ticks(low, 1.0, 5)
    for v, name in zip(ticks, tick_labels(ticks)):
        y = btop + (1.0 - v) / (1.0 - low) * bh
        body.append(_text(bx + bw + 6, y + 6, name, FONT - 3))
    body.append(_text(0, 0, "alike (1 = the same to the CNN)", FONT - 4, anchor="middle",
                      transform=f"translate({bx + bw + 62:.0f} {btop + bh / 2:.0f}) rotate(90)"))  # fmt: skip
    said = f"How alike the {T} sampled frames look to the CNN, from {low:.2f} to 1"
    return _svg(H, "How alike the frames look to the CNN", said, body)


def similarity(features: np.ndarray) -> np.ndarray:
    """[T,D] features -> [T,T] cosine similarity of every pair (1 on the diagonal)."""
    unit = features.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True) + 1e-9
    return np.clip(unit @ unit.T, -1.0, 1.0)

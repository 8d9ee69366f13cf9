"""Pictures for people: heat-map overlays on frames, timelines, confusion matrices (the Classify tab's two charts
are SVG: charts.py).

Everything here is a pure function of arrays (no model, no Gradio): frames in, uint8 images or matplotlib
Figures out. Figures use the object API (no pyplot state), so they are safe to draw from worker threads.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence

import cv2
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

ANSWER_COLOR = "#e8590c"  # the predicted class, everywhere
UNKNOWN_COLOR = "#adb5bd"  # "not one of the actions I know", everywhere
INK, MUTED = "#212529", "#868e96"


# --- heat maps on frames ------------------------------------------------------------------------
def seen_region(frame_hw: tuple[int, int], image_size: Sequence[int], mode: str) -> tuple[tuple, tuple]:
    """Where the model input and the frame overlap, for a resize mode ('squash', 'center_crop', 'letterbox').

    Returns ((y0, y1, x0, x1) in model-input pixels, (y0, y1, x0, x1) in frame pixels): the same scene
    content in both. squash: everything; center_crop: the frame's centre; letterbox: the input's centre.
    """
    h, w = frame_hw
    H, W = int(image_size[0]), int(image_size[1])
    if mode == "center_crop":
        s = max(H / h, W / w)  # frame -> input scale; the input shows a (H/s x W/s) window of the frame
        ch, cw = H / s, W / s
        y0, x0 = (h - ch) / 2, (w - cw) / 2
        return (0, H, 0, W), (round(y0), round(y0 + ch), round(x0), round(x0 + cw))
    if mode == "letterbox":
        s = min(H / h, W / w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        y0, x0 = (H - nh) // 2, (W - nw) // 2
        return (y0, y0 + nh, x0, x0 + nw), (0, h, 0, w)
    return (0, H, 0, W), (0, h, 0, w)


def heat_on_frame(heat: np.ndarray, frame_hw: tuple[int, int], image_size: Sequence[int], mode: str) -> np.ndarray:
    """A CNN heat map [h',w'] (over the model input) -> [h,w] float map over the frame; NaN where unseen."""
    H, W = int(image_size[0]), int(image_size[1])
    (iy0, iy1, ix0, ix1), (fy0, fy1, fx0, fx1) = seen_region(frame_hw, (H, W), mode)
    full = cv2.resize(heat.astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)  # input pixels
    part = full[iy0:iy1, ix0:ix1]
    out = np.full(frame_hw, np.nan, np.float32)
    out[fy0:fy1, fx0:fx1] = cv2.resize(part, (fx1 - fx0, fy1 - fy0), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0, out=out, where=~np.isnan(out))


def overlay(frame: np.ndarray, heat: np.ndarray, alpha: float = 0.6, cmap: str = "turbo") -> np.ndarray:
    """RGB uint8 [h,w,3] + heat [h,w] in [0,1] (NaN = not seen by the model) -> RGB uint8.

    Hot areas get the colour map, cold areas keep the photo; regions the model never saw are dimmed.
    """
    seen = ~np.isnan(heat)
    v = np.nan_to_num(heat, nan=0.0).astype(np.float32, copy=False)
    lut = _colour_table(cmap)
    # the colour map's own lookup (index floor(v * N), the last entry for 1.0), without its float64 RGBA image
    colour = lut[np.minimum((v * len(lut)).astype(np.intp), len(lut) - 1)]  # [h,w,3] float32
    a = (np.float32(alpha) * np.sqrt(v))[..., None]  # sqrt: mid-level evidence stays visible
    out = frame.astype(np.float32)
    out += (colour - out) * a  # frame * (1 - a) + colour * a
    out[~seen] *= 0.35
    return np.clip(out, 0, 255, out=out).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _colour_table(cmap: str) -> np.ndarray:
    """A matplotlib colour map's N entries as RGB float32 in 0..255 [N,3] (turbo: 256)."""
    m = colormaps[cmap]
    return (m(np.arange(m.N))[:, :3] * 255.0).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont:  # cached: loading it for every frame cost ~1 ms each
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


def badge(img: np.ndarray, text: str) -> np.ndarray:
    """Write a small dark label (e.g. the timestamp) in the top-left corner of an RGB uint8 image."""
    pil = Image.fromarray(img)
    draw = ImageDraw.Draw(pil, "RGBA")
    size = max(12, round(min(pil.size) / 12))
    font = _font(size)
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    pad = size // 3
    draw.rounded_rectangle((pad, pad, pad + x1 - x0 + 2 * pad, pad + y1 - y0 + 2 * pad), pad, fill=(0, 0, 0, 170))
    draw.text((2 * pad - x0, 2 * pad - y0), text, font=font, fill=(255, 255, 255, 255))
    return np.asarray(pil)


def short_concept(name: str) -> str:
    """'great white shark, white shark, ...' -> 'great white shark'."""
    return name.split(",")[0].strip()


def frame_caption(t: float, concepts: Sequence[tuple[str, float]], n: int = 2) -> str:
    """'41% espresso · 12% cup · at 1.23 s': the backbone's top ImageNet concepts (the number first: a narrow
    tile cuts the end of a caption), then the time."""
    parts = [f"{p:.0%} {short_concept(c)}" for c, p in list(concepts)[:n]] + [f"at {t:.2f} s"]
    return " · ".join(parts)


# --- figures --------------------------------------------------------------------------------------
# Sized for a phone as much as a desktop: ~580 px wide with large type, so text scaled down to a phone's ~340 px
# still reads at ~13 px (a 720 px figure with 12.5 pt type came out at ~9 px).
FONT = 14.0


def _figure(w: float, h: float, title: str) -> Figure:
    fig = Figure(figsize=(w, h), dpi=120, layout="constrained")
    fig.patch.set_facecolor("white")
    fig.suptitle(title, x=0.01, ha="left", fontsize=FONT + 1.5, fontweight="bold", color=INK)
    return fig


def _style(ax) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color(MUTED)
    ax.spines["bottom"].set_color(MUTED)
    ax.tick_params(colors=INK, labelsize=FONT - 1)


def decision_step(step_probs: np.ndarray) -> int:
    """First RNN step from which the top class is the final answer and stays so to the end."""
    top = step_probs.argmax(1)
    final = top[-1]
    t = len(top) - 1
    while t > 0 and top[t - 1] == final:
        t -= 1
    return int(t)


# --- live history and long-video timelines -------------------------------------------------------------
# one colour per class on timelines; not the answer's orange, which means "the answer" elsewhere on the page
CLASS_COLORS = ["#1c7ed6", "#2f9e44", "#ae3ec9", "#0c8599", "#e64980", "#fab005", "#5c7cfa", "#74b816", "#c92a2a",
                "#495057", "#8d6e63", "#15aabf"]  # fmt: skip


def class_color(labels: Sequence[str], label: str) -> str:
    """A fixed colour per class (by its index in the model's labels), the same on every page; grey for a label
    that is none of them ("unknown")."""
    if label not in labels:
        return UNKNOWN_COLOR
    return CLASS_COLORS[list(labels).index(label) % len(CLASS_COLORS)]


def ink_on(colour: str) -> str:
    """Text colour that reads on a '#rrggbb' background: dark on light colours, white on dark ones."""
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return INK if 0.299 * r + 0.587 * g + 0.114 * b > 0.6 else "#fff"


def clock(seconds: float) -> str:
    """83.4 -> '1:23.4'; under a minute '23.4 s'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(seconds, 60)
    return f"{int(m)}:{s:04.1f}"


def segments_html(
    segments: Sequence[tuple[float, float, str, float]], start: float, end: float, labels: Sequence[str],
    axis: bool = True,
) -> str:  # fmt: skip
    """A coloured strip of (start, end, label, score) segments between `start` and `end` seconds: one colour
    per class, each block as tall as its confidence, its label written in when it is wide enough, the exact
    times and confidence in its tooltip. Plain HTML with inline styles (no script)."""
    span = max(end - start, 1e-6)
    blocks = []
    for a, b, label, score in segments:
        a, b = max(a, start), min(b, end)
        if b <= a:
            continue
        left, width = 100 * (a - start) / span, 100 * (b - a) / span
        colour = class_color(labels, label)
        tip = html.escape(f"{label} {score:.0%} · {clock(a)} – {clock(b)}", quote=True)
        text = html.escape(label) if width >= 4 else ""  # clipped with an ellipsis where narrow
        h = 35 + 65 * min(max(score, 0.0), 1.0)
        blocks.append(
            f'<div class="seg" title="{tip}" style="position:absolute;left:{left:.3f}%;width:{width:.3f}%;'
            f"bottom:0;height:{h:.0f}%;background:{colour};border-right:1px solid #fff;overflow:hidden;"
            f"color:{ink_on(colour)};font-size:.8rem;line-height:1.2;padding:2px 4px;box-sizing:border-box;"
            f'white-space:nowrap;text-overflow:ellipsis">'
            f"{text}</div>"
        )
    ticks = ""
    if axis:
        ticks = (
            '<div style="display:flex;justify-content:space-between;font-size:.75rem;opacity:.7;margin-top:2px">'
            f"<span>{clock(start)}</span><span>{clock(end)}</span></div>"
        )
    return (
        '<div class="strip" style="position:relative;height:46px;background:rgba(128,128,128,.12);border-radius:4px;'
        f'overflow:hidden">{"".join(blocks)}</div>{ticks}'
    )


def legend_html(labels: Sequence[str], shown: Sequence[str] | None = None) -> str:
    """Colour chips for the classes (only `shown` ones when given, then also any shown label that is none of
    the classes, e.g. "unknown", in grey)."""
    names = [x for x in labels if shown is None or x in shown]
    names += sorted(x for x in (shown or ()) if x not in labels)
    chips = "".join(
        f'<span style="display:inline-flex;align-items:center;gap:4px;margin-right:12px;font-size:.85rem">'
        f'<i style="width:12px;height:12px;border-radius:2px;background:{class_color(labels, x)};display:inline-block">'
        f"</i>{html.escape(x)}</span>"
        for x in names
    )
    return f'<div class="legend" style="margin-top:6px">{chips}</div>'


def timeline_figure(
    centres: Sequence[float], probs: np.ndarray, labels: Sequence[str], duration: float, max_lines: int = 6
) -> Figure:  # fmt: skip
    """Each class's probability in every window (at the window's centre) over the whole video; the classes
    that win somewhere drawn bold in their timeline colour, a few runners-up thin."""
    probs = np.asarray(probs, dtype=float).reshape(len(centres), len(labels))
    x = np.asarray(centres, dtype=float)
    winners = list(dict.fromkeys(int(k) for k in probs.argmax(1)))
    others = [int(k) for k in np.argsort(-probs.max(0)) if int(k) not in winners]
    order = (winners + others)[: max(max_lines, len(winners))]
    fig = _figure(5.6, 4.0, "Confidence of each action along the video")
    ax = fig.add_subplot()
    _style(ax)
    for k in order:
        win = k in winners
        ax.plot(
            x, probs[:, k], color=class_color(labels, labels[k]), lw=2.4 if win else 1.1, alpha=1.0 if win else 0.55,
            marker="o" if len(x) < 40 else None, ms=3, label=labels[k],
        )  # fmt: skip
    ax.set_xlim(0, max(duration, float(x[-1]) if len(x) else 1.0))
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time in the video (s), one point per window", fontsize=FONT, color=INK)
    ax.set_ylabel("probability", fontsize=FONT, color=INK)
    ax.grid(axis="y", color="#f1f3f5")
    # below the plot, not beside it: the figure stays narrow enough to read on a phone
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False, fontsize=FONT - 2)
    return fig


def confusion_figure(confusion: Sequence[Sequence[int]], labels: Sequence[str]) -> Figure:
    """A confusion matrix (rows: the truth, columns: the answer) as counts on shaded cells, the diagonal in the
    answer colour and mistakes in red."""
    m = np.asarray(confusion, dtype=float)
    K = len(labels)
    size = max(3.2, 1.6 + 0.55 * K)
    fig = _figure(size + 1.6, size, "Each take, held out")
    ax = fig.add_subplot()
    rows = np.maximum(m.sum(1, keepdims=True), 1)
    share = m / rows
    rgb = np.ones((K, K, 3))
    for i in range(K):
        for j in range(K):
            tint = np.array([0.93, 0.44, 0.10]) if i == j else np.array([0.80, 0.15, 0.15])
            rgb[i, j] = 1 - share[i, j] * (1 - tint)
    ax.imshow(rgb, aspect="equal")
    for i in range(K):
        for j in range(K):
            if m[i, j]:
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=FONT,
                        color="white" if share[i, j] > 0.6 else "#212529")  # fmt: skip
    ax.set_xticks(range(K), labels, rotation=35, ha="right", fontsize=FONT - 1)
    ax.set_yticks(range(K), labels, fontsize=FONT - 1)
    ax.set_xlabel("answered as", fontsize=FONT - 1)
    ax.set_ylabel("truth", fontsize=FONT - 1)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    return fig

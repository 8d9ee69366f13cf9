"""Generated out-of-domain clips for open-set measurements: solid colours, noise, test patterns, moving shapes.

    python scripts/ood_clips.py OUT_DIR [SEED]

Writes 19 mp4 clips (320x240, 60 frames at 25 fps) under OUT_DIR/<kind>/ (solid, noise, pattern); SEED changes
the noise. The open-set method of the bundled no-interaction model was chosen with seed 0's clips and measured on
seed 1's (its card).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

H, W, T = 240, 320, 60
COLOURS = {"black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128), "red": (220, 30, 30),
           "green": (30, 200, 60), "blue": (30, 60, 220), "skin": (224, 172, 140)}  # fmt: skip
BARS = [(192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0), (192, 0, 192), (192, 0, 0), (0, 0, 192)]


def write(out: Path, name: str, frames: list[np.ndarray]) -> None:
    """RGB frames [H,W,3] -> OUT/<kind>/<name>.mp4 (kind: the name up to its first underscore)."""
    path = out / name.split("_")[0] / f"{name}.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (W, H))
    for f in frames:
        writer.write(np.ascontiguousarray(f[..., ::-1]))
    writer.release()


def ball(t: int) -> np.ndarray:
    f = np.full((H, W, 3), 40, np.uint8)
    cv2.circle(f, (int(20 + 4.5 * t), int(120 + 60 * np.sin(t / 6))), 25, (250, 200, 0), -1)
    return f


def text(t: int) -> np.ndarray:
    f = np.full((H, W, 3), 230, np.uint8)
    return cv2.putText(f, f"frame {t}", (40, 130), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 0, 0), 3)


def main(out: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for c, rgb in COLOURS.items():
        write(out, f"solid_{c}", [np.full((H, W, 3), rgb, np.uint8)] * T)
    write(out, "noise_uniform", [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(T)])
    write(out, "noise_gauss", [np.clip(rng.normal(128, 40, (H, W, 3)), 0, 255).astype(np.uint8) for _ in range(T)])
    write(out, "noise_static", [rng.integers(0, 256, (H, W, 3), dtype=np.uint8)] * T)
    blocks = [rng.integers(0, 256, (12, 16, 3), dtype=np.uint8) for _ in range(T)]
    write(out, "noise_blocky", [cv2.resize(b, (W, H), interpolation=cv2.INTER_NEAREST) for b in blocks])
    bars = np.zeros((H, W, 3), np.uint8)
    for i, col in enumerate(BARS):
        bars[:, i * W // 7 : (i + 1) * W // 7] = col
    write(out, "pattern_bars", [bars] * T)
    write(out, "pattern_barsroll", [np.roll(bars, 5 * t, 1) for t in range(T)])
    yy, xx = np.mgrid[0:H, 0:W]
    grey = lambda a: a.astype(np.uint8)[..., None].repeat(3, 2)  # noqa: E731
    write(out, "pattern_checker", [grey(((xx + 4 * t) // 20 + yy // 20) % 2 * 255) for t in range(T)])
    write(out, "pattern_gradient", [np.stack([xx * 255 // W, yy * 255 // H, np.full_like(xx, 4 * t % 256)], -1)
                                    .astype(np.uint8) for t in range(T)])  # fmt: skip
    write(out, "pattern_ball", [ball(t) for t in range(T)])
    write(out, "pattern_flicker", [np.full((H, W, 3), 255 if (t // 5) % 2 else 0, np.uint8) for t in range(T)])
    write(out, "pattern_rings", [grey((np.sin(np.hypot(xx - W / 2, yy - H / 2) / 6 - t / 3) + 1) * 127)
                                 for t in range(T)])  # fmt: skip
    write(out, "pattern_text", [text(t) for t in range(T)])


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0)

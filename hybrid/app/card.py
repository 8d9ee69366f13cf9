"""The Model card tab: what the chosen model knows and reads, then its card as written (sanitised)."""

from __future__ import annotations

from pathlib import Path

from ..card_html import safe_card_markdown
from ..errors import ModelError
from ..hub import read_card
from ..model_dir import CARD_NAME
from . import legend
from .context import AppContext
from .models import TAUGHT

MAX_CARD_CHARS = 200_000  # far longer than any real card; keeps the sanitizer's work bounded


def _strip_front_matter(text: str) -> str:
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end != -1:
            return text[end + 4 :].lstrip("\n")
    return text


def _card_text(key: str, ref: str) -> str:
    if key.startswith("dir:"):
        path = Path(ref) / CARD_NAME
        return path.read_text(encoding="utf-8") if path.is_file() else ""
    try:
        return read_card(ref)  # "" when the repo has no card, or it can't be fetched within the Hub's deadline
    except ModelError:  # a repo without a card is still a model
        return ""


def known_actions(ctx: AppContext, choice: str | None, repo_id: str | None, session: str | None = None) -> str:
    """One line for the Classify tab: the actions the chosen model knows, and what it says of anything else."""
    key, ref = ctx.resolve(choice, repo_id, session)
    rec, _ = ctx.models.get(key, ref)
    c = rec.model.config
    other = (
        "anything else is answered *Not one of the actions I know*"
        if c.openset_threshold is not None or c.openset_similarity is not None
        else "it has no open-set threshold, so **every clip is answered with one of them**, whatever it shows"
    )
    return f"**This model knows {len(c.labels)} actions:** " + " · ".join(f"`{x}`" for x in c.labels) + f" — {other}."


def gesture_legend(ctx: AppContext, choice: str | None, repo_id: str | None, session: str | None = None) -> str:
    """HTML of the gestures to draw for the chosen model (legend.py), "" when its classes aren't such gestures."""
    key, ref = ctx.resolve(choice, repo_id, session)
    rec, _ = ctx.models.get(key, ref)
    return legend.legend_html(rec.model.labels)


def model_card(ctx: AppContext, choice: str | None, repo_id: str | None, session: str | None = None) -> str:
    """Markdown for the model tab: what it knows (classes, frames, input size) and its card as written, with only
    allow-listed HTML left (card_html.py). Raises AppError."""
    key, ref = ctx.resolve(choice, repo_id, session)
    rec, _ = ctx.models.get(key, ref)
    m, c = rec.model, rec.model.config
    rnn = f"{'bi-' if c.bidirectional else ''}{c.rnn_type.upper()}"
    head = [
        f"### {_title(key, ref, choice)}",
        f"**Knows {len(m.labels)} actions:** " + " · ".join(f"`{x}`" for x in m.labels),
        "",
        f"**Reads** {c.num_frames} frames spread over the clip, each {c.image_size[1]}×{c.image_size[0]} px "
        f"({c.resize_mode}) · **CNN** `{c.backbone}` · **RNN** {rnn} ({c.hidden_size} units, "
        f"{c.temporal_pool} pooling)",
        "",
        "---",
    ]
    body = _strip_front_matter(_card_text(key, ref)).strip()
    if len(body) > MAX_CARD_CHARS:
        body = body[:MAX_CARD_CHARS] + "\n\n_(the rest of this card is not shown: it is over 200 000 characters)_"
    if not body:
        body = "_This model has no card (README.md): no training data, metrics or limits are documented._"
    return safe_card_markdown("\n".join(head) + "\n\n" + body)  # a card from the Hub is hostile input


def _title(key: str, ref: str, choice: str | None) -> str:
    """A Hub repo by its id, a bundled model by its folder's name, a taught one as such (its folder is a
    throwaway name)."""
    if key.startswith("hub:"):
        return ref
    return "Taught on this page" if (choice or "").startswith(TAUGHT) else Path(ref).name

"""Folder-of-videos datasets: class = the video's parent folder; group ids (for leak-free splits) from file names."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError
from .video import VIDEO_EXTS

# UT-Interaction names clips <idx>_<seq>_<classid>.avi; the recording sequence is the group.
GROUP_PATTERNS = {"ut-interaction": r"^\d+_(?P<group>\d+)_\d+$", "none": ""}


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    group: str


def scan_folder(root: str | Path, group_pattern: str = "", labels: list[str] | None = None) -> list[Sample]:
    """Every video under root (nested set folders allowed), labelled by its parent folder.

    group_pattern: a regex matched against the file stem; its group named 'group' (or group 1) is the
    sample's group. Empty: each clip is its own group. A preset name from GROUP_PATTERNS works too.
    labels: keep only these classes (others are ignored).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder of class folders of videos")
    pattern = re.compile(GROUP_PATTERNS.get(group_pattern, group_pattern)) if group_pattern else None
    samples = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTS and p.is_file()):
        label = path.parent.name
        if labels is not None and label not in labels:
            continue
        group = path.stem
        if pattern is not None:
            m = pattern.search(path.stem)
            if not m:
                raise DataError(f"{path.name} does not match the group pattern {pattern.pattern!r}")
            group = m.groupdict().get("group") or m.group(1)
        samples.append(Sample(path, label, group))
    if not samples:
        raise DataError(f"no videos found under {root} (expected <class>/<video> folders)")
    return samples


def leave_one_group_out(samples: list[Sample]) -> Iterator[tuple[str, list[int], list[int]]]:
    """(group, train indices, test indices) for every group: no group is ever on both sides."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        by_group[s.group].append(i)
    for group in sorted(by_group, key=lambda g: (len(g), g)):
        test = by_group[group]
        yield group, [i for i in range(len(samples)) if samples[i].group != group], test


def stratified_kfold(samples: list[Sample], k: int, seed: int = 0) -> Iterator[tuple[str, list[int], list[int]]]:
    """(fold name, train indices, test indices) for k folds of whole groups: each class's groups (a group's class:
    its most common one) are shuffled and dealt round-robin, so every fold holds about 1/k of each class and no
    group is on both sides. Without a group pattern every clip is its own group: plain stratified k-fold."""
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        by_group[s.group].append(i)
    if not 2 <= k <= len(by_group):
        raise DataError(
            f"{k}-fold cross-validation needs at least {max(k, 2)} groups of clips; there are {len(by_group)}"
        )
    label_of = {g: Counter(samples[i].label for i in idx).most_common(1)[0][0] for g, idx in by_group.items()}
    rng = np.random.default_rng(seed)
    fold_of, n = {}, 0
    for label in sorted(set(label_of.values())):
        groups = sorted(g for g in by_group if label_of[g] == label)
        for g in rng.permutation(groups).tolist():
            fold_of[g], n = n % k, n + 1  # n runs on across classes, so the folds' sizes stay even
    for f in range(k):
        test = sorted(i for g, idx in by_group.items() if fold_of[g] == f for i in idx)
        held = set(test)
        yield f"{f + 1}", [i for i in range(len(samples)) if i not in held], test


def split_groups(samples: list[Sample], indices: list[int], n_val_groups: int, seed: int = 0):
    """Split `indices` into (train, val) by holding out n_val_groups whole groups (0: no validation)."""
    groups = sorted({samples[i].group for i in indices})
    if n_val_groups <= 0 or len(groups) <= n_val_groups:
        return list(indices), []
    rng = np.random.default_rng(seed)
    val = set(rng.choice(groups, size=n_val_groups, replace=False).tolist())
    return [i for i in indices if samples[i].group not in val], [i for i in indices if samples[i].group in val]

"""Stable train / validation / test splits by group. Pure numpy: no Django.

A contact (or account) always lands in the same part for a given seed, whatever else is in the data: its
part comes from a hash of (seed, group id), not from a shuffle of today's groups. So a champion trained
last week and a candidate trained today share their test contacts (new contacts aside), and the gate can
compare both on rows neither trained on (ml.engine.gate). Groups are stratified loosely: if a part with room for
them has no positive group (tiny data), the positive groups with the smallest hashes are moved there, so
every part keeps both classes whenever there are at least three positive groups.
"""

from __future__ import annotations

import hashlib

import numpy as np


def group_unit_values(groups: np.ndarray, *, seed: int) -> np.ndarray:
    """A uniform value in [0, 1) per group id, fixed by (seed, id)."""
    values = np.empty(len(groups), dtype=np.float64)
    for position, group in enumerate(groups):
        digest = hashlib.blake2b(f"{seed}:{group}".encode(), digest_size=8).digest()
        values[position] = int.from_bytes(digest, "big") / 2**64
    return values


def stable_group_split(
    labels: np.ndarray, *, groups: np.ndarray, valid_fraction: float, test_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions (train, valid, test); all rows of a group go to one part."""
    y = np.asarray(labels).astype(int).ravel()
    unique, inverse = np.unique(np.asarray(groups), return_inverse=True)
    positive = np.zeros(len(unique), dtype=bool)
    np.logical_or.at(positive, inverse, y == 1)
    u = group_unit_values(unique, seed=seed)
    part = np.where(u < test_fraction, 2, np.where(u < test_fraction + valid_fraction, 1, 0)).astype(np.int8)
    positive_groups = np.flatnonzero(positive)
    if len(positive_groups) >= 3:
        for wanted in (2, 1):  # test first: the gate's comparisons need positives there most
            if not np.any(part[positive_groups] == wanted):
                donors = [
                    g
                    for g in positive_groups[np.argsort(u[positive_groups])]
                    if part[g] == 0 and np.sum(part[positive_groups] == 0) > 1
                ]
                if donors:
                    part[donors[0]] = wanted
    row_part = part[inverse]
    return np.flatnonzero(row_part == 0), np.flatnonzero(row_part == 1), np.flatnonzero(row_part == 2)

"""Who is who: the speaker setting, and clustering embedding windows into that many speakers.

`SpeakerCount` is what a job (or one row of a table, through the speakers column) asks for:
a fixed number, or `auto` searched between `low` and `high`. `parse_speakers` reads the
column's cells (`3`, `auto`, `2-4`) with one sentence for a bad one.

Clustering (measured by bench.speakers, figures in the README): the unit is a stretch of
speech between pauses (a VAD region, cut into pieces of at most UNIT_MAX_S), embedded as
the mean of its windows' resemblyzer embeddings; window against window, one speaker's
windows of different words are often further apart than two voices of one sex.
`auto` cuts the complete-linkage dendrogram of the units at the cosine distance
AUTO_THRESHOLD (every pair of units in one speaker closer than that), then brings the count
inside the bounds. Which unit belongs to whom is decided on the units *centred* on the
file's mean embedding (`group_units`): what all voices of one file share (the recording,
the synthesiser, the language) drowns what tells two voices of one sex apart, and taking
it away lets complete linkage group them (with the true count given: all 18 bench files
of two or more voices and the tests' 3, against 15/18 and 1/3 as embedded). Each window
then goes to the nearest speaker's centroid, so a speaker change inside a region is still
found. by_silhouette and by_eigengap, the other methods measured, stay for the bench.

Pure numpy/scipy/sklearn, no Django.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

AUTO_MAX_SPEAKERS = 8  # auto's upper bound when the job gives none
MAX_SPEAKERS = 20  # the settings' limit
AUTO_THRESHOLD = 0.195  # complete-linkage cosine distance between unit embeddings
UNIT_MAX_S = 4.0
MOVE_MARGIN = 0.05  # cosine similarity a window must gain to change speaker

_RANGE = re.compile(r"^\s*(\d+)\s*[-–]\s*(\d+)\s*$", re.ASCII)


@dataclass(frozen=True)
class SpeakerCount:
    """`fixed` speakers, else auto between `low` and `high` (inclusive)."""

    fixed: int | None = None
    low: int = 1
    high: int = AUTO_MAX_SPEAKERS

    def describe(self) -> str:
        if self.fixed is not None:
            return str(self.fixed)
        return (
            "auto"
            if (self.low, self.high) == (1, AUTO_MAX_SPEAKERS)
            else f"auto {self.low}-{self.high}"
        )


def _given(settings: dict[str, object]) -> tuple[int | None, int | None, int | None]:
    """num_speakers (None for auto), min_speakers and max_speakers as given (None: empty)."""
    raw = settings.get("num_speakers", "auto")
    fixed = None if raw in (None, "", "auto") else int(str(raw))
    return fixed, _bound(settings.get("min_speakers")), _bound(settings.get("max_speakers"))


def speakers_from_settings(settings: dict[str, object]) -> SpeakerCount:
    """The job's setting; the API, wizard and CLI checked it (speakers_problems)."""
    fixed, low, high = _given(settings)
    # A fixed number keeps the range: a speakers-column cell of `auto` searches within it.
    return SpeakerCount(fixed=fixed, low=low or 1, high=high or max(AUTO_MAX_SPEAKERS, low or 1))


def _bound(value: object) -> int | None:
    return None if value in (None, "") else int(str(value))


def speakers_problems(settings: dict[str, object]) -> dict[str, str]:
    """Refusals of the combination of num_speakers, min_speakers and max_speakers (each was
    checked alone by the settings schema), by setting name."""
    fixed, low, high = _given(settings)
    if low is not None and high is not None and low > high:
        return {
            "min_speakers": f"The minimum number of speakers ({low}) is more than the "
            f"maximum ({high})."
        }
    if fixed is not None and (
        (low is not None and fixed < low) or (high is not None and fixed > high)
    ):
        span = f"{low or 1}-{high if high is not None else MAX_SPEAKERS}"
        return {
            "num_speakers": f"{fixed} speakers is outside the range {span} given by "
            "min_speakers and max_speakers: give the number or the range, not both."
        }
    return {}


def parse_speakers(value: object, default: SpeakerCount) -> tuple[SpeakerCount | None, str | None]:
    """A speakers-column cell: empty (the job's setting), a number, `auto` or a range."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default, None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().lower()
    problem = (
        f"the speakers column holds {str(value)[:40]!r}: give a number of speakers from 1 to "
        f"{MAX_SPEAKERS}, auto, or a range such as 2-4"
    )
    if text == "auto":
        return SpeakerCount(low=default.low, high=default.high), None
    if isinstance(value, bool):
        return None, problem
    if text.isdecimal() and text.isascii() and 1 <= int(text) <= MAX_SPEAKERS:
        return SpeakerCount(fixed=int(text)), None
    match = _RANGE.match(text)
    if match:
        low, high = int(match.group(1)), int(match.group(2))
        if 1 <= low <= high <= MAX_SPEAKERS:
            return (
                SpeakerCount(fixed=low) if low == high else SpeakerCount(low=low, high=high)
            ), None
    return None, problem


# --- clustering -----------------------------------------------------------------------


def units_of(windows: list[tuple[int, float, float]]) -> list[list[int]]:
    """The windows (by index) of each unit: a region, cut into pieces of <= UNIT_MAX_S."""
    by_region: dict[int, list[int]] = {}
    for i, (region, _, _) in enumerate(windows):
        by_region.setdefault(region, []).append(i)
    units = []
    for members in by_region.values():
        start = windows[members[0]][1]
        length = windows[members[-1]][2] - start
        pieces = max(1, round(length / UNIT_MAX_S))
        size = length / pieces
        cut: dict[int, list[int]] = {}
        for i in members:
            middle = (windows[i][1] + windows[i][2]) / 2
            cut.setdefault(min(pieces - 1, int((middle - start) / size)), []).append(i)
        units += list(cut.values())
    return units


def _normalised(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


def unit_embeddings(embeddings: np.ndarray, units: list[list[int]]) -> np.ndarray:
    return _normalised(np.stack([embeddings[members].mean(axis=0) for members in units]))


def _dendrogram(points: np.ndarray, method: str = "complete") -> np.ndarray:
    from scipy.cluster.hierarchy import linkage

    return np.asarray(linkage(points, method=method, metric="cosine"))


def _cut(tree: np.ndarray, k: int) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster

    return np.asarray(fcluster(tree, k, criterion="maxclust")) - 1


def by_threshold(
    points: np.ndarray,
    bounds: SpeakerCount,
    threshold: float = AUTO_THRESHOLD,
    method: str = "complete",
) -> int:
    """Clusters whose every pair (complete linkage) is closer than `threshold`, counted."""
    if len(points) < 2:
        return min(max(1, bounds.low), max(1, len(points)))
    heights = _dendrogram(points, method)[:, 2]
    found = len(points) - int(np.sum(heights <= threshold))
    return _within(found, bounds, len(points))


def by_silhouette(points: np.ndarray, bounds: SpeakerCount, floor: float = 0.25) -> int:
    """The count of best silhouette (average linkage) when it passes `floor`, else 1."""
    from sklearn.metrics import silhouette_score

    n = len(points)
    tree = _dendrogram(points, "average") if n >= 2 else None
    best, best_score = 1, floor
    for k in range(max(2, bounds.low), min(bounds.high, n - 1) + 1):
        assert tree is not None
        labels = _cut(tree, k)
        if len(set(labels)) < 2 or np.bincount(labels).min() < 2:
            continue
        score = float(silhouette_score(points, labels, metric="cosine"))
        if score > best_score:
            best, best_score = k, score
    return _within(best, bounds, n)


def by_eigengap(points: np.ndarray, bounds: SpeakerCount, least: int = 1) -> int:
    """The largest gap in the spectrum of the normalised Laplacian of the cosine affinity,
    among counts from `least` (the gap after the first value is always wide: 2 tries more)."""
    n = len(points)
    if n < 3:
        return _within(1, bounds, n)
    affinity = np.clip(points @ points.T, 0, None)
    np.fill_diagonal(affinity, 0)
    degree = affinity.sum(axis=1)
    inverse = 1 / np.sqrt(np.where(degree > 0, degree, 1))
    laplacian = np.eye(n) - inverse[:, None] * affinity * inverse[None, :]
    values = np.sort(np.linalg.eigvalsh(laplacian))
    top = min(bounds.high, n - 1)
    gaps = np.diff(values[: top + 1])  # gaps[k - 1]: between the k-th and (k+1)-th value
    candidates = range(max(least, bounds.low), top + 1)
    if not candidates:
        return _within(least, bounds, n)
    return _within(max(candidates, key=lambda k: gaps[k - 1]), bounds, n)


def _within(k: int, bounds: SpeakerCount, points: int) -> int:
    return max(1, min(max(k, bounds.low), bounds.high, points))


def group_units(points: np.ndarray, k: int) -> np.ndarray:
    """A speaker (0..k-1) for each unit: complete linkage of the units centred on their mean
    (the module docstring says why)."""
    if k <= 1 or len(points) < 2:
        return np.zeros(len(points), dtype=int)
    centred = points - points.mean(axis=0)
    if np.linalg.norm(centred, axis=1).min() < 1e-6:
        # A unit at the mean (all units alike: a repeated clip) has no direction: cosine
        # distances would be undefined. Group the units as embedded instead.
        alike = np.abs(1 - points @ points.T).max() < 1e-6
        return np.zeros(len(points), dtype=int) if alike else _cut(_dendrogram(points), k)
    return _cut(_dendrogram(_normalised(centred)), k)


def cluster(
    embeddings: np.ndarray, windows: list[tuple[int, float, float]], speakers: SpeakerCount
) -> np.ndarray:
    """A speaker label for each window (`embeddings` L2-normalised, one per window)."""
    n = len(embeddings)
    if n < 2 or speakers.fixed == 1:
        return np.zeros(n, dtype=int)
    units = units_of(windows)
    points = unit_embeddings(embeddings, units)
    if speakers.fixed is not None:
        k = min(speakers.fixed, len(points))
    else:
        k = by_threshold(points, speakers)
    if k <= 1:
        return np.zeros(n, dtype=int)
    unit_labels = group_units(points, k)
    k = len(set(unit_labels.tolist()))
    centroids = _normalised(
        np.stack([points[unit_labels == label].mean(axis=0) for label in range(k)])
    )
    similarity = embeddings @ centroids.T
    labels = np.empty(n, dtype=int)
    for unit, label in zip(units, unit_labels, strict=True):
        labels[unit] = label
    # A window leaves its unit's speaker only for a clearly nearer one: a speaker change
    # without a pause is still found, a breath or an odd word does not start a turn.
    nearest = np.argmax(similarity, axis=1)
    rows = np.arange(n)
    moved = similarity[rows, nearest] - similarity[rows, labels] > MOVE_MARGIN
    labels[moved] = nearest[moved]
    return labels

"""Generated datasets: many distinct sentences, fast to write, the same for a given seed.

Sentences are random words drawn from the platform's finance_sentiment sentences, so they
carry the same sentiment vocabulary and the same length range (8 to 24 words) a real
dataset of short texts would, and a model's per-sample cost stays realistic.
"""

from __future__ import annotations

import random
from pathlib import Path

PLATFORM_DATASETS = Path(__file__).resolve().parent.parent / "apps/catalog/platform_datasets"
VOCABULARY_FILE = PLATFORM_DATASETS / "finance_sentiment/test.txt"


def vocabulary(source: Path = VOCABULARY_FILE) -> list[str]:
    return source.read_text(encoding="utf-8").split()


def write_sentences(
    path: Path,
    count: int,
    *,
    seed: int = 0,
    source: Path = VOCABULARY_FILE,
    words_per_line: tuple[int, int] = (8, 24),
) -> Path:
    """Write `count` sentences, one a line; the same seed gives the same file.

    `source` is the text whose words are drawn (a platform dataset, so the vocabulary fits
    the model); `words_per_line` the range of sentence lengths.
    """
    words = vocabulary(source)
    low, high = words_per_line
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        block: list[str] = []
        for _ in range(count):
            block.append(" ".join(rng.choices(words, k=rng.randint(low, high))))
            if len(block) == 10_000:
                out.write("\n".join(block) + "\n")
                block.clear()
        if block:
            out.write("\n".join(block) + "\n")
    return path

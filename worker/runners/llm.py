"""The built-in LLM on CTranslate2: batched generation, seeded sampling, label scores.

Why CTranslate2 and not gpt4all (README, "Text generation"): it decodes a batch of prompts
at once, which gave more tokens a second over a job's prompts on this platform's workers,
and it is the one of the two that takes a seed, scores given answers (the label
probabilities of the LLM sentiment and classification models) and runs on CUDA.

Its weights are the GGUF file of worker.runners.llm_files, turned once per machine into a
CTranslate2 int8 model (GGUF → transformers, dequantised → int8): `manage.py llm_prepare`
does it at set-up (the run and test commands call it), and a worker that finds no
converted model does it itself on its first job (minutes, with its heartbeat kept).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worker.runners import ModelLoadError, Stopped
from worker.runners.generation import (
    Generation,
    GenerationParams,
    Request,
    StopScanner,
    chatml,
)
from worker.runners.llm_files import LLM_GGUF_SHA256, llm_gguf
from worker.runners.weights import ModelCache, model_cache_dir

log = logging.getLogger(__name__)

BUILTIN_KEY = "qwen2.5-coder-1.5b-instruct"
END_TOKENS = ["<|im_end|>", "<|endoftext|>"]
# Prompts decoded together: more gives more tokens a second on the CPU, until the longest
# prompt's padding costs more than the batch saves (bench/textgen).
GENERATE_BATCH = 16
POLL_SECONDS = 0.05

_models = ModelCache(size=1)
_convert_lock = threading.Lock()


def converted_folder() -> Path:
    return model_cache_dir() / f"qwen2.5-coder-1.5b-ct2-int8-{LLM_GGUF_SHA256[:16]}"


def prepare(log_to: Callable[[str], None] | None = None) -> Path:
    """The CTranslate2 model folder, converted from the GGUF file if not done yet.

    Each converting process writes its own temporary folder and renames it into place, so
    a worker never loads a half-converted model.
    """
    target = converted_folder()
    if (target / "model.bin").is_file():
        return target
    with _convert_lock:
        if (target / "model.bin").is_file():
            return target
        gguf = llm_gguf()
        say = log_to or log.info
        say(f"Converting {gguf.name} to a CTranslate2 int8 model (once per machine)...")
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        hf_tmp = target.with_name(f".{target.name}.hf.{uuid.uuid4().hex}")
        try:
            _convert(gguf, hf_tmp, tmp)
            try:
                tmp.rename(target)
            except OSError:
                if not (target / "model.bin").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(hf_tmp, ignore_errors=True)
        say(f"Converted into {target}.")
    return target


def _convert(gguf: Path, hf_dir: Path, out: Path) -> None:
    import torch
    import transformers
    from ctranslate2.converters import TransformersConverter

    transformers.utils.logging.disable_progress_bar()
    tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Unpacked to plain float16 weights: a model that keeps its GGUF quantizer attached
    # refuses `save_pretrained`, and CTranslate2 reads only a plain checkpoint.
    model = transformers.AutoModelForCausalLM.from_pretrained(
        gguf.parent,
        gguf_file=gguf.name,
        dtype=torch.float16,
        quantization_config=transformers.GgufConfig(dequantize=True),
    )
    model.save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    del model
    TransformersConverter(str(hf_dir), load_as_float16=True).convert(
        str(out), quantization="int8", force=True
    )
    tokenizer.save_pretrained(out)


class CT2Generator:
    """The built-in LLM: chats in ChatML, raw prompts as they are."""

    def __init__(self, device: str) -> None:
        import ctranslate2
        import transformers

        if device == "cuda" and ctranslate2.get_cuda_device_count() < 1:
            raise ModelLoadError(
                "The job asks for the CUDA device, but this worker has no usable GPU; "
                "choose the CPU device or run a GPU worker."
            )
        self.folder, self.device = prepare(), device
        self._set_seed = ctranslate2.set_random_seed
        self.generator = self._build()
        self._sampled = False
        transformers.utils.logging.set_verbosity_error()
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(self.folder)

    def _build(self) -> Any:
        import ctranslate2

        return ctranslate2.Generator(
            str(self.folder),
            device=self.device,
            compute_type="int8_float16" if self.device == "cuda" else "int8",
            intra_threads=int(os.environ.get("OMP_NUM_THREADS") or 0),
        )

    def _seed(self, seed: int) -> None:
        """Start CTranslate2's random generator from `seed` for the next sampled call.

        Its generator is per decoding thread and seeded once, at the thread's first draw:
        after one sampled call the only way back to a known state is new threads, so the
        model is loaded again (about 5 s, once per sampled call; greedy calls draw nothing).
        """
        if self._sampled:
            del self.generator
            self.generator = self._build()
        self._set_seed(seed)
        self._sampled = True

    def prompt_tokens(self, request: Request) -> list[str]:
        text = request.prompt if request.prompt is not None else chatml(request.messages or ())
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return list(self.tokenizer.convert_ids_to_tokens(ids))

    def generate(
        self, requests: Sequence[Request], should_stop: Callable[[], bool] | None = None
    ) -> list[Generation]:
        prompts = [self.prompt_tokens(r) for r in requests]
        # Similar lengths together (padding costs), and one decoding setting a call.
        order = sorted(
            range(len(requests)), key=lambda i: (str(requests[i].params), len(prompts[i]))
        )
        done: dict[int, Generation] = {}
        start = 0
        while start < len(order):
            params = requests[order[start]].params
            step = [order[start]]
            while (
                len(step) < GENERATE_BATCH
                and start + len(step) < len(order)
                and requests[order[start + len(step)]].params == params
            ):
                step.append(order[start + len(step)])
            results = self._generate(
                [prompts[i] for i in step],
                params,
                should_stop,
                finished=_in_order(done, len(requests)),
            )
            done.update(zip(step, results, strict=True))
            start += len(step)
        return [done[i] for i in range(len(requests))]

    def _generate(
        self,
        prompts: list[list[str]],
        params: GenerationParams,
        should_stop: Callable[[], bool] | None,
        *,
        finished: list[Generation],
    ) -> list[Generation]:
        scanners = [StopScanner(params.stop) for _ in prompts]
        ids: list[list[int]] = [[] for _ in prompts]
        ended = [False] * len(prompts)
        hit = [False] * len(prompts)
        halt = threading.Event()

        def on_token(step: Any) -> bool:
            """Per token of each prompt, on CTranslate2's thread; True ends that prompt."""
            if halt.is_set():
                return True
            if step.token in END_TOKENS:
                ended[step.batch_id] = True
                return True
            ids[step.batch_id].append(step.token_id)
            if params.stop:
                text = self.tokenizer.decode(ids[step.batch_id], skip_special_tokens=True)
                if scanners[step.batch_id].see(text):
                    ended[step.batch_id] = hit[step.batch_id] = True
                    return True
            return False

        if not params.greedy:
            self._seed(params.seed)
        sampling = (
            {"sampling_topk": 1}
            if params.greedy
            else {
                "sampling_topk": 0,
                "sampling_topp": params.top_p,
                "sampling_temperature": params.temperature,
            }
        )
        pending = self.generator.generate_batch(
            prompts,
            max_length=params.max_new_tokens,
            include_prompt_in_result=False,
            end_token=END_TOKENS,
            callback=on_token,
            asynchronous=True,
            **sampling,
        )
        # The job is looked at from this thread (it holds the database connection) while
        # CTranslate2 decodes on its own. A quit is answered at once: the batch is left to
        # CTranslate2, which ends every prompt at its next token (the long prompts of a
        # batch are fed through its decoding loop first, without a callback, which kept a
        # quit waiting 26 s in the bench), and its answers are dropped.
        while not all(result.done() for result in pending):
            if should_stop is not None and should_stop():
                halt.set()
                raise Stopped(finished)
            time.sleep(POLL_SECONDS)
        for result in pending:
            result.result()  # raises what the decoding raised
        return [
            Generation(
                text=scanner.text
                if stopped
                else str(self.tokenizer.decode(new, skip_special_tokens=True)),
                finish_reason="stop" if end or len(new) < params.max_new_tokens else "length",
                prompt_tokens=len(prompt),
                completion_tokens=len(new),
            )
            for prompt, scanner, new, end, stopped in zip(
                prompts, scanners, ids, ended, hit, strict=True
            )
        ]

    def label_probabilities(
        self, requests: Sequence[Request], labels: Sequence[str]
    ) -> list[list[float]]:
        """P(label | request) for each label, normalised over the labels: the model's own
        score of each label written as its whole answer."""
        prompts = [self.prompt_tokens(r) for r in requests]
        # The answers' own tokens only: what the model would write after the answer (an end,
        # a full stop, the class name after its letter) says nothing about which is right.
        answers = [
            list(self.tokenizer.convert_ids_to_tokens(self.tokenizer.encode(label)))
            for label in labels
        ]
        batch = [prompt + answer for prompt in prompts for answer in answers]
        scored = self.generator.score_batch(batch)
        out = []
        for p, prompt in enumerate(prompts):
            logps = []
            for a, answer in enumerate(answers):
                tokens = scored[p * len(answers) + a].log_probs
                # score_batch scores every token after the first: the answer's are the last.
                logps.append(sum(tokens[len(prompt) - 1 :][: len(answer)]))
            top = max(logps)
            weights = [math.exp(lp - top) for lp in logps]
            total = sum(weights)
            out.append([w / total for w in weights])
        return out


def _in_order(done: dict[int, Generation], count: int) -> list[Generation]:
    """The generations finished so far that precede the first unfinished request."""
    out = []
    for i in range(count):
        if i not in done:
            break
        out.append(done[i])
    return out


def builtin_generator(location: str, device: str) -> CT2Generator:
    if location != BUILTIN_KEY:
        raise ModelLoadError(f"There is no built-in language model '{location}'.")
    return _models.get((location, device), lambda: CT2Generator(device))

"""A user's Hugging Face causal language model (safetensors) as a text generator.

Loaded by the rules of worker.runners.hf (no pickles, no remote code, no network). One
request at a time: each is seeded on its own, so a sample's text depends on its request
and seed only, never on which samples shared its batch. A stopping criterion looks at
the job between decoding steps (a quit is seen within one step) and at stop sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from worker.runners import Stopped
from worker.runners.generation import Generation, Request, StopScanner
from worker.runners.hf import _load, checkpoint_folder, read_config, torch_device


def _plain_prompt(messages: Sequence[tuple[str, str]]) -> str:
    """A chat for a model without a chat template: a lone question as itself, a
    conversation as `Role: text` lines ending where the assistant answers."""
    if len(messages) == 1 or (len(messages) == 2 and messages[0][0] == "system"):
        return "\n\n".join(content for _, content in messages)
    lines = [f"{role.capitalize()}: {content}" for role, content in messages]
    return "\n".join([*lines, "Assistant:"])


class HFCausalGenerator:
    def __init__(self, location: str, device: str) -> None:
        folder = checkpoint_folder(location)
        read_config(folder)  # a clear error for a broken config.json before transformers
        self.device = torch_device(device)
        self.tokenizer, self.model = _load(folder, "AutoModelForCausalLM", self.device)

    def _prompt(self, request: Request) -> str:
        if request.prompt is not None:
            return request.prompt
        messages = request.messages or ()
        if getattr(self.tokenizer, "chat_template", None):
            chat = [{"role": role, "content": content} for role, content in messages]
            return str(
                self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
            )
        return _plain_prompt(messages)

    def generate(
        self, requests: Sequence[Request], should_stop: Callable[[], bool] | None = None
    ) -> list[Generation]:
        done: list[Generation] = []
        for request in requests:
            try:
                done.append(self._one(request, should_stop))
            except Stopped:
                raise Stopped(done) from None
        return done

    def _one(self, request: Request, should_stop: Callable[[], bool] | None) -> Generation:
        import torch
        import transformers

        params = request.params
        encoded = self.tokenizer(
            self._prompt(request), return_tensors="pt", add_special_tokens=request.prompt is None
        ).to(self.device)
        encoded.pop("token_type_ids", None)  # BERT-style tokenizers add them; decoders take none
        prompt_len = int(encoded["input_ids"].shape[1])
        scanner = StopScanner(params.stop)
        tokenizer = self.tokenizer
        stopped_by_sequence = False

        class Watch(transformers.StoppingCriteria):
            """Between steps: the job's quit, then the stop sequences in the new text."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                nonlocal stopped_by_sequence
                if should_stop is not None and should_stop():
                    raise Stopped
                if params.stop and not stopped_by_sequence:
                    new = input_ids[0, prompt_len:].tolist()
                    stopped_by_sequence = scanner.see(
                        tokenizer.decode(new, skip_special_tokens=True)
                    )
                return torch.full((input_ids.shape[0],), stopped_by_sequence, dtype=torch.bool)

        torch.manual_seed(params.seed)
        sampling: dict[str, Any] = (
            {"do_sample": False}
            if params.greedy
            else {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
        )
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        with torch.no_grad():
            output = self.model.generate(
                **encoded,
                max_new_tokens=params.max_new_tokens,
                stopping_criteria=transformers.StoppingCriteriaList([Watch()]),
                pad_token_id=pad,
                **sampling,
            )
        ids = output[0, prompt_len:].tolist()
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        ended = bool(ids) and ids[-1] in eos_ids
        if ended:
            ids = ids[:-1]
        length = not ended and not stopped_by_sequence and len(ids) >= params.max_new_tokens
        if stopped_by_sequence:
            text = scanner.text
        else:
            text = tokenizer.decode(ids, skip_special_tokens=True)
        return Generation(
            text=text,
            finish_reason="length" if length else "stop",
            prompt_tokens=prompt_len,
            completion_tokens=len(ids),
        )

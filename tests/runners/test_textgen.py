"""Text generation: a user's causal language model and the built-in LLM, by the real worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.runners.conftest import VOCAB, quit_on_look, tiny_tokenizer, user_dataset, user_model
from worker.runners import ModelRef, Stopped
from worker.runners.generation import chatml
from worker.runners.textgen import PLUGIN

PROMPTS = [
    "the market rose and the company said profit was good",
    "john smith was in london",
    "a bank in new york",
]


@pytest.fixture(scope="session")
def causal_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Llama with a word-piece tokenizer, saved with safetensors."""
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    folder = tmp_path_factory.mktemp("causal") / "tiny-llama"
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tokenizer = tiny_tokenizer()
    config = transformers.LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=37,
        max_position_embeddings=256,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def reference_generation(folder: Path, text: str, max_new_tokens: int) -> str:
    """Greedy decoding of `text` by transformers itself: what the job must have written if
    this checkpoint, and nothing else, produced it."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    encoded = tokenizer(text, return_tensors="pt")
    encoded.pop("token_type_ids", None)
    with torch.no_grad():
        out = model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    new = out[0, encoded["input_ids"].shape[1] :].tolist()
    if new and new[-1] == tokenizer.sep_token_id:
        new = new[:-1]
    return str(tokenizer.decode(new, skip_special_tokens=True))


@pytest.mark.worker
def test_a_causal_lm_checkpoint_answers_every_prompt_in_input_order(run_job, owner, causal_lm):
    lines = [json.dumps({"text": p}) for p in PROMPTS]
    lines.insert(1, '{"messages": [{"role": "robot", "content": "hi"}]}')  # refused, kept going
    dataset = user_dataset(
        owner, "text-generation", {"prompts.jsonl": "\n".join(lines).encode()}, "prompts"
    )
    model = user_model(owner, "text-generation", causal_lm, "tiny-llama")
    finished = run_job(
        "text-generation", model, dataset, "prompts.jsonl", max_new_tokens=6, temperature=0
    )
    assert finished.job.status == "COMPLETED", finished.job.error_message
    assert finished.results.name == "predictions.jsonl"
    rows = [json.loads(line) for line in finished.lines()]
    assert [r["index"] for r in rows] == [0, 2, 3]
    for row, prompt in zip(rows, PROMPTS, strict=True):
        assert set(row) == {
            "index",
            "text",
            "generation",
            "finish_reason",
            "prompt_tokens",
            "completion_tokens",
        }
        assert row["text"] == prompt
        assert row["generation"] == reference_generation(causal_lm, prompt, 6)
        assert row["finish_reason"] in ("stop", "length")
        assert row["prompt_tokens"] > 0 and 0 <= row["completion_tokens"] <= 6
    [error] = finished.errors()
    assert error["index"] == 1 and "each message needs a role" in error["reason"]
    job = finished.job
    assert job.generated_tokens == sum(r["completion_tokens"] for r in rows)
    assert finished.summary()["tokens"]["generated"] == job.generated_tokens


@pytest.mark.worker
def test_the_same_seed_gives_the_same_answers_and_another_seed_others(run_job, owner, causal_lm):
    dataset = user_dataset(
        owner, "text-generation", {"prompts.txt": "\n".join(PROMPTS * 3).encode()}, "seeded"
    )
    model = user_model(owner, "text-generation", causal_lm, "tiny-llama-seeded")

    def answers(seed: int) -> list[str]:
        finished = run_job(
            "text-generation",
            model,
            dataset,
            "prompts.txt",
            max_new_tokens=12,
            temperature=1.5,
            top_p=1.0,
            seed=seed,
        )
        assert finished.job.status == "COMPLETED", finished.job.error_message
        return [json.loads(line)["generation"] for line in finished.lines()]

    first, again, other = answers(5), answers(5), answers(6)
    assert first == again
    assert first != other


def test_a_quit_between_decoding_steps_keeps_the_finished_answers(causal_lm):
    model = ModelRef("tiny", "huggingface", str(causal_lm))
    runner = PLUGIN.load(model, {"max_new_tokens": 40, "temperature": 0, "stop": []})
    payloads = [json.dumps({"text": p}) for p in PROMPTS]
    counting, looks = quit_on_look(10**9)
    [first] = runner.predict(payloads[:1], should_stop=counting)
    per_step = len(looks)  # the first prompt's decoding steps, each looked once
    assert per_step >= 1
    should_stop, looks = quit_on_look(per_step + 2)  # quit on the second prompt's 2nd step
    with pytest.raises(Stopped) as stopped:
        runner.predict(payloads, should_stop=should_stop)
    assert stopped.value.done == [first]
    assert len(looks) == per_step + 2  # nothing more was decoded after the quit


def test_stop_sequences_end_an_answer_before_them(causal_lm):
    model = ModelRef("tiny", "huggingface", str(causal_lm))
    free = PLUGIN.load(model, {"max_new_tokens": 20, "temperature": 0, "stop": []})
    [answer] = free.predict([json.dumps({"text": PROMPTS[0]})])
    words = answer["generation"].split()
    assert len(words) >= 3, answer
    stop_word = words[2]
    stopped = PLUGIN.load(model, {"max_new_tokens": 20, "temperature": 0, "stop": [stop_word]})
    [cut] = stopped.predict([json.dumps({"text": PROMPTS[0]})])
    assert cut["generation"] == answer["generation"][: answer["generation"].index(stop_word)]
    assert cut["finish_reason"] == "stop"


@pytest.mark.worker
def test_the_builtin_llm_answers_short_instructions(run_job, owner):
    questions = [
        ("What is 2+2? Answer with the number only.", "4"),
        ("What is the capital of France? Answer with one word.", "Paris"),
        (
            "Is this review positive or negative? 'The food was cold and the waiter was "
            "rude.' Answer with one word.",
            "negative",
        ),
    ]
    lines = [json.dumps({"text": questions[0][0]})]
    lines.append(json.dumps({"messages": [{"role": "user", "content": questions[1][0]}]}))
    lines.append(json.dumps({"prompt": chatml([("user", questions[2][0])]), "max_tokens": 4}))
    dataset = user_dataset(
        owner, "text-generation", {"questions.jsonl": "\n".join(lines).encode()}, "questions"
    )
    finished = run_job(
        "text-generation",
        "qwen2.5-coder-1.5b-instruct",
        dataset,
        "questions.jsonl",
        max_new_tokens=8,
        system_prompt="You are a concise assistant.",
        timeout=600,
    )
    assert finished.job.status == "COMPLETED", finished.job.error_message
    rows = [json.loads(line) for line in finished.lines()]
    assert [r["index"] for r in rows] == [0, 1, 2]
    for row, (_, answer) in zip(rows, questions, strict=True):
        assert answer.lower() in row["generation"].lower(), row
        assert row["finish_reason"] == "stop"
        assert 0 < row["completion_tokens"] <= 8
    # The raw prompt got no system prompt and no second template around it.
    assert rows[2]["prompt_tokens"] < rows[0]["prompt_tokens"] + 30
    assert finished.job.generated_tokens == sum(r["completion_tokens"] for r in rows)
    assert finished.job.tokens_per_second

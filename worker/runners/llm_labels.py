"""The built-in LLM as a classifier: a constrained prompt, answered by scoring each label.

The model is not asked to write an answer; CTranslate2 scores every label written as the
whole answer (`score_batch`), and the label probabilities are those scores normalised over
the labels. The answer is therefore always one of the labels, with probabilities that
say how sure the model is. Slower than VADER or MiniLM (one forward pass over the prompt
per label), and more accurate on text that needs reading rather than word counting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from worker.runners import ModelLoadError
from worker.runners.batching import predict_by_length
from worker.runners.generation import GenerationParams, Request
from worker.runners.llm import BUILTIN_KEY, builtin_generator

SCORE_BATCH = 8  # texts scored at once; a quit is looked for between such steps
MAX_TEXT_CHARS = 2000  # longer texts are cut: the prompt stays within the model's reach


# The text first and the question last, options by their descriptions, no system
# message: on the `arxiv` abstracts that order took the model from 17/40 to 8/8 of a
# sample (the question right before the answer is what it follows).


def sentiment_prompt(text: str) -> str:
    return (
        f"Text: {text[:MAX_TEXT_CHARS]}\n\n"
        "Is the sentiment of this text positive or negative? Answer with one word."
    )


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def classes_prompt(classes: Sequence[tuple[str, str]]) -> tuple[list[str], Callable[[str], str]]:
    """(the answers scored, the prompt): classes are offered as lettered choices and the
    model's score of each letter is read, so a long or odd label name (astro-ph.GA) is not
    penalised for taking more tokens to write."""
    if len(classes) > len(LETTERS):
        raise ModelLoadError(
            f"The LLM classifier takes at most {len(LETTERS)} classes (the labels file names "
            f"{len(classes)}); use the zero-shot MiniLM model for more."
        )
    listed = "\n".join(
        f"{letter}. {description}"
        for letter, (_, description) in zip(LETTERS, classes, strict=False)
    )

    def prompt(text: str) -> str:
        return (
            f"Text: {text[:MAX_TEXT_CHARS]}\n\n"
            f"Which of these classes does this text belong to?\n{listed}\n\n"
            "Answer with the letter only."
        )

    return list(LETTERS[: len(classes)]), prompt


class LLMLabeler:
    """Probabilities of the `answers` (one a class, in class order) for texts."""

    def __init__(self, answers: Sequence[str], prompt: Callable[[str], str], device: str) -> None:
        self.labels = list(answers)
        self.prompt = prompt
        self.generator = builtin_generator(BUILTIN_KEY, device)

    def _score(self, texts: list[str]) -> list[list[float]]:
        requests = [
            Request(
                messages=(("user", self.prompt(text)),),
                prompt=None,
                params=GenerationParams(),
            )
            for text in texts
        ]
        return self.generator.label_probabilities(requests, self.labels)

    def probabilities(
        self, texts: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[list[float]]:
        return predict_by_length(
            texts, batch_size=SCORE_BATCH, should_stop=should_stop, predict_batch=self._score
        )

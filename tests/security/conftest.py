"""Hostile input and planted secrets: shared pieces.

`files_watch` lists every file of the test session's own folder (storage root, uploads'
staging, results) and the temporary folder before a test, so a test can say exactly which
new files may exist afterwards: nothing may appear outside its folder.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from apps.core.storage import storage_root
from tests.exports.conftest import finished_job, s3_server  # noqa: F401 - fixtures reused here
from tests.factories import make_project
from tests.runners.conftest import user_dataset

# A file outside every dataset that a path or a link tries to reach.
OUTSIDE_TEXT = "outside-the-dataset-do-not-read"


def _tree(root: Path) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
            found.add(Path(dirpath, name).relative_to(root).as_posix())
    return found


class FilesWatch:
    """New files since the fixture started: under the session folder and in /tmp (top level)."""

    def __init__(self) -> None:
        self.var = storage_root().parent
        self.tmp = Path(tempfile.gettempdir())
        self.before = _tree(self.var)
        self.tmp_before = {p.name for p in self.tmp.iterdir()}

    def new_files(self) -> set[str]:
        # The database, Redis and the worker log live in the session folder too.
        changing = ("run/", "batchstudio.sqlite3", "test-batchstudio.sqlite3")
        return {p for p in _tree(self.var) - self.before if not p.startswith(changing)}

    def new_in_tmp(self, names: Iterable[str]) -> set[str]:
        """Of `names` (what a hostile name would have written), those now in /tmp."""
        return {n for n in names if n in {p.name for p in self.tmp.iterdir()} - self.tmp_before}

    def assert_only_under(self, *prefixes: str) -> None:
        stray = {p for p in self.new_files() if not p.startswith(prefixes)}
        assert not stray, f"files outside their folder: {sorted(stray)}"


@pytest.fixture
def files_watch(db: Any) -> FilesWatch:
    return FilesWatch()


@pytest.fixture
def project(owner: Any, catalog: Any, redis_server: Any) -> Any:
    # Created jobs are queued on commit (catalog uses transactional_db): Redis must be up.
    return make_project(owner, "Hostile")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text(OUTSIDE_TEXT + "\n")
    return folder


@pytest.fixture
def linked_dataset(owner: Any, catalog: Any, outside: Path) -> Any:
    """A sentiment dataset holding data.txt and two links that lead out of it."""
    dataset = user_dataset(owner, "sentiment-analysis", {"data.txt": b"good\nbad\n"}, "linked-data")
    folder = storage_root() / dataset.folder
    os.symlink(outside / "secret.txt", folder / "leak.txt")
    os.symlink(outside, folder / "escape")
    dataset.default_path = "data.txt"
    dataset.save(update_fields=["default_path"])
    return dataset

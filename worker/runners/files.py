"""Rules about the files of a model or dataset folder, shared by the web and the workers.

The web checks a folder when it is added (apps.catalog.checkpoints, apps.catalog.uploads)
and a worker checks it again when it loads the model (worker.runners.hf, asr, ner). Both
sides read the folder through these functions, so what the catalog accepts is what a runner
will load, never a folder the two sides see differently. Plain Python: the web process
imports it, and runners must stay importable without Django.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePath

# Loading these can unpickle, and unpickling runs whatever code the file names:
# torch.save/torch.load (.bin, .pt, .pth, .ckpt), pickle and joblib, and numpy arrays of
# objects (.npy, .npz).
PICKLE_SUFFIXES = frozenset(
    {".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npy", ".npz"}
)
# CTranslate2 stores its weights in model.bin, its own flat format that is never unpickled;
# Hugging Face's pickles are named pytorch_model.bin (and shards of it), never model.bin.
CTRANSLATE2_WEIGHTS = "model.bin"


def sha256_file(path: Path) -> str:
    # Read in 1 MiB pieces: weight files are gigabytes and must never be read whole.
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def single_top_folder(folder: Path) -> Path:
    """The one folder inside `folder` if that is all it holds, else `folder` itself.

    Archives are usually made of a folder (`zip -r model.zip my-model/`), and the user means
    that folder's contents. Hidden entries (a stray .DS_Store) do not count; a symbolic link
    is never followed, so the folder used is always inside the one given.
    """
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return folder


def is_pickled(path: PurePath) -> bool:
    """Whether loading the file could unpickle it, and so run code: such files are refused."""
    return path.suffix.lower() in PICKLE_SUFFIXES and path.name != CTRANSLATE2_WEIGHTS


def pickled_files(root: Path) -> list[str]:
    """The pickled files anywhere under `root`, as sorted paths relative to it."""
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and is_pickled(p)
    )

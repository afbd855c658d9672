"""Objects read in place (worker.remote) without Django or S3: a folder of objects in memory
behind the same readers, every read recorded, so we can see that a shard fetches only
the bytes from its planned offset on and that Parquet fetches the row groups it needs."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from worker.readers import LINKED_AUDIO, count_samples, iter_samples, line_offsets, table_units
from worker.remote import RemotePath
from worker.samples import DatasetReadError
from worker.table_schema import table_schema
from worker.tables import Columns


class MemoryStore:
    """Objects in a dict; `reads` lists every ranged read as (key, start, stop)."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.data = objects
        self.reads: list[tuple[str, int, int]] = []

    def objects(self) -> dict[str, int]:
        return {key: len(body) for key, body in self.data.items()}

    def read(self, key: str, start: int, stop: int) -> bytes:
        self.reads.append((key, start, stop))
        if key == "broken.csv":
            raise DatasetReadError("The store refused to read broken.csv.")
        return self.data[key][start:stop]

    def uri(self, key: str) -> str:
        return f"s3://bucket/data/{key}"

    def bytes_read(self, key: str) -> int:
        return sum(stop - start for k, start, stop in self.reads if k == key)


def table(rows: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text", "notes"])
    for i in range(rows):
        # Quoted newlines and commas: a row is not a line, so offsets must be the CSV's.
        writer.writerow([f"ID{i:06d}", f'sample {i}, said\n"twice"', "n" * 200])
    return buffer.getvalue().encode()


@pytest.fixture
def store(tmp_path: Path) -> MemoryStore:
    # Hashes do not compress: ten row groups of about 200 kB each.
    ids = [f"P{i}" for i in range(30_000)]
    texts = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(30_000)]
    pq.write_table(
        pa.table({"id": ids, "text": texts}), tmp_path / "t.parquet", row_group_size=3_000
    )
    return MemoryStore(
        {
            "reviews.csv": table(12_000),  # about 2.8 MB: planning leaves checkpoints
            "lines/a.jsonl": b"".join(b'{"text": "line %d"}\n' % i for i in range(200_000)),
            "lines/b.txt": b"last\n",
            "lines/.hidden/c.txt": b"never read\n",
            "t.parquet": (tmp_path / "t.parquet").read_bytes(),
            "speech/a.wav": b"RIFF....",
        }
    )


def local_copy(store: MemoryStore, root: Path) -> Path:
    for key, body in store.data.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(body)
    return root


def test_a_linked_csv_counts_and_reads_as_the_same_file_on_disk(store, tmp_path):
    remote = RemotePath(store) / "reviews.csv"
    local = local_copy(store, tmp_path / "copy") / "reviews.csv"
    columns = Columns(input="text", id="id", carry=("notes",))

    assert count_samples(remote) == count_samples(local)
    assert table_schema(remote).columns == table_schema(local).columns
    there = [(s.index, s.payload, s.record) for s in iter_samples(remote, 0, 50, columns=columns)]
    here = [(s.index, s.payload, s.record) for s in iter_samples(local, 0, 50, columns=columns)]
    assert there == here and there[7][2] == {"id": "ID000007", "notes": "n" * 200}


def test_a_shard_reads_only_from_its_planned_offset(store):
    remote = RemotePath(store) / "reviews.csv"
    info = count_samples(remote)
    assert info.checkpoints and len(info.checkpoints) > 1
    start = 9_000
    [offset] = line_offsets(remote, info, [start])
    store.reads.clear()

    samples = list(
        iter_samples(remote, start, start + 10, start_offset=offset, columns=Columns("text", "id"))
    )

    assert [s.record["id"] for s in samples] == [f"ID{i:06d}" for i in range(start, start + 10)]
    data_reads = [(a, b) for key, a, b in store.reads if key == "reviews.csv" and a > 0]
    # The header is read from byte 0 (its names); the rows from the offset on (the byte
    # before it too: the reader checks that a row starts there), nothing in between.
    assert data_reads and min(a for a, _ in data_reads) >= offset - 1
    assert store.bytes_read("reviews.csv") < len(store.data["reviews.csv"]) / 2


def test_parquet_reads_the_footer_and_the_row_groups_it_needs(store):
    remote = RemotePath(store) / "t.parquet"
    assert count_samples(remote).count == 30_000
    store.reads.clear()

    samples = list(iter_samples(remote, 26_000, 26_010, columns=Columns("text", "id")))

    assert [s.record["id"] for s in samples] == [f"P{i}" for i in range(26_000, 26_010)]
    # The footer and the row group holding row 26,000 (pyarrow may read the next one
    # ahead), never the eight before it.
    assert store.bytes_read("t.parquet") < len(store.data["t.parquet"]) * 0.3


def test_a_linked_folder_is_walked_in_key_order_skipping_hidden_objects(store):
    folder = RemotePath(store) / "lines"
    assert folder.is_dir() and not folder.is_file()
    info = count_samples(folder)
    assert info.count == 200_001
    last = list(iter_samples(folder, 199_999, None))
    assert [(s.source, s.payload) for s in last] == [("a.jsonl", "line 199999"), ("b.txt", "last")]
    assert [name for _, name in table_units(RemotePath(store))] == [
        "lines/a.jsonl",
        "reviews.csv",
        "t.parquet",
    ]


def test_linked_audio_missing_objects_and_failed_reads_are_sentences(store):
    [sample] = iter_samples(RemotePath(store) / "speech" / "a.wav", input_kind="audio")
    assert sample.payload is None and sample.error == LINKED_AUDIO
    with pytest.raises(DatasetReadError, match=r"s3://bucket/data/nothing\.csv does not exist"):
        count_samples(RemotePath(store) / "nothing.csv")
    store.data["broken.csv"] = b"id,text\n1,a\n"
    with pytest.raises(DatasetReadError, match="refused to read broken.csv"):
        count_samples(RemotePath(store) / "broken.csv")


def test_a_read_past_the_cached_block_comes_back_whole():
    # Parquet reads a column chunk with one read(n): a read that starts inside the block
    # read ahead but ends past it must not come back short.
    body = bytes(range(256)) * 2_000  # 512,000 bytes
    store = MemoryStore({"blob.bin": body})
    raw = (RemotePath(store) / "blob.bin").open_raw()
    raw.seek(1_000)
    assert raw.read(10) == body[1_000:1_010]  # reads ahead 64 KiB from byte 1,000
    raw.seek(60_000)
    assert raw.read(100_000) == body[60_000:160_000]  # past the block's end: whole
    raw.seek(511_990)
    assert raw.read(100) == body[511_990:]  # up to the end of the object, no more
    assert raw.read(10) == b""

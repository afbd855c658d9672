"""Hostile archives are refused and nothing is written outside the target."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from apps.core.archives import ArchiveError, archive_extract


def _zip(path: Path, entries: dict[str, bytes], link: tuple[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link[0])
            info.external_attr = 0o120777 << 16
            archive.writestr(info, link[1])
    return path


def _tar(path: Path, entries: dict[str, bytes], symlink: tuple[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink[0])
            info.type = tarfile.SYMTYPE
            info.linkname = symlink[1]
            archive.addfile(info)
    return path


def _outside(tmp_path: Path) -> set[str]:
    return {p.name for p in tmp_path.iterdir()}


def test_good_zip_and_tar_extract(tmp_path):
    files = {"a.txt": b"hello\n", "sub/b.txt": b"world\n"}
    for archive in (_zip(tmp_path / "g.zip", files), _tar(tmp_path / "g.tar.gz", files)):
        target = tmp_path / f"out-{archive.suffix}"
        assert archive_extract(archive, target, max_bytes=10_000, max_files=10) == 2
        assert (target / "sub" / "b.txt").read_bytes() == b"world\n"


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "/etc/evil.txt"])
def test_zip_slip_is_refused_and_nothing_written(tmp_path, name):
    archive = _zip(tmp_path / "bad.zip", {"ok.txt": b"x", name: b"pwned"})
    before = _outside(tmp_path)
    with pytest.raises(ArchiveError, match="absolute|outside"):
        archive_extract(archive, tmp_path / "out" / "t", max_bytes=10_000, max_files=10)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "t").exists()
    assert _outside(tmp_path) == before | {"out"}
    assert list((tmp_path / "out").iterdir()) == []  # staging removed


def test_tar_with_symlink_is_refused(tmp_path):
    archive = _tar(tmp_path / "link.tar.gz", {"ok.txt": b"x"}, symlink=("escape", "/etc"))
    with pytest.raises(ArchiveError, match="link"):
        archive_extract(archive, tmp_path / "out", max_bytes=10_000, max_files=10)
    assert not (tmp_path / "out").exists()


def test_zip_with_symlink_is_refused(tmp_path):
    archive = _zip(tmp_path / "link.zip", {"ok.txt": b"x"}, link=("escape", "/etc/passwd"))
    with pytest.raises(ArchiveError, match="symbolic link"):
        archive_extract(archive, tmp_path / "out", max_bytes=10_000, max_files=10)


def test_zip_bomb_stops_at_the_size_limit(tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * 20_000_000)
    assert archive.stat().st_size < 100_000
    with pytest.raises(ArchiveError, match="allowed size"):
        archive_extract(archive, tmp_path / "out", max_bytes=1_000_000, max_files=10)
    assert not (tmp_path / "out").exists()


def test_too_many_files_is_refused(tmp_path):
    archive = _zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(20)})
    with pytest.raises(ArchiveError, match="more than 5 files"):
        archive_extract(archive, tmp_path / "out", max_bytes=10_000, max_files=5)


def test_not_an_archive(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ArchiveError, match="The archive could not be read: File is not a zip file"):
        archive_extract(junk, tmp_path / "out", max_bytes=10_000, max_files=5)


@pytest.mark.parametrize("name", ["invoice\u202etxt.exe", "sub\u200b/a.txt", "a\nb.txt"])
def test_an_entry_name_that_would_show_as_another_is_refused_and_shown_escaped(tmp_path, name):
    for archive in (
        _zip(tmp_path / "h.zip", {name: b"x"}),
        _tar(tmp_path / "h.tar.gz", {name: b"x"}),
    ):
        target = tmp_path / f"out-{archive.suffix}"
        with pytest.raises(
            ArchiveError, match=r"^Refused: the entry '.*\\u.*may not contain"
        ) as caught:
            archive_extract(archive, target, max_bytes=10_000, max_files=10)
        assert not any(ch in str(caught.value) for ch in "\u202e\u200b\n")
        assert not target.exists()

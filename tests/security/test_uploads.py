"""Hostile file names in dataset uploads, through the Add a dataset page, the API and the
CLI. A name is cut to its last part (what browsers send) or refused; either way the file
lands inside the new dataset's folder and nowhere else.

The bodies are built by hand: Django's test client would clean the names before sending.
"""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.accounts.services import api_token_create
from apps.catalog.models import Dataset, MLApp
from apps.catalog.services import dataset_add
from apps.core.storage import storage_root

BOUNDARY = "bst-hostile-boundary"

# (case, the Content-Disposition filename parameter as sent, what is stored or refused)
SANITISED = [
    ("dotdot-slash", b'filename="../../x.txt"'),
    ("dotdot-backslash", b'filename="..\\\\..\\\\x.txt"'),
    ("rfc2231-encoded", b"filename*=UTF-8''..%2F..%2Fx.txt"),
    ("nul-byte", b'filename="x\x00.txt"'),
]
REFUSED = [
    ("hidden-htaccess", b'filename=".htaccess"', r"Refused the file name '\.htaccess'"),
    ("just-dotdot", b'filename=".."', r"Upload files or an archive"),
]


def _multipart(fields: dict[str, str | list[str]], disposition: bytes) -> bytes:
    parts = []
    for name, values in fields.items():
        for value in [values] if isinstance(values, str) else values:
            parts.append(
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; '.encode()
        + disposition
        + b"\r\nContent-Type: text/plain\r\n\r\ngood\nbad\n\r\n"
    )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _post_web(client, disposition: bytes, **fields: str):
    app = MLApp.objects.get(key="sentiment-analysis")
    data = {"name": "uploaded", "ml_apps": str(app.pk), "visibility": "private", **fields}
    return client.post(
        "/hub/datasets/add/",
        _multipart(data, disposition),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )


def _post_api(owner, disposition: bytes):
    token = api_token_create(user=owner, name="uploads")[1]
    data = {"name": "uploaded", "ml_apps": "sentiment-analysis", "visibility": "private"}
    return Client(headers={"Authorization": f"Bearer {token}"}).post(
        "/api/v1/datasets",
        _multipart(data, disposition),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )


def _stored_files(dataset: Dataset) -> list[str]:
    folder = storage_root() / dataset.folder
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("door", ["web", "api"])
@pytest.mark.parametrize("case,disposition", SANITISED, ids=[c[0] for c in SANITISED])
def test_a_name_with_a_path_or_nul_lands_as_its_last_part_inside_the_dataset(
    owner_client, owner, catalog, files_watch, door, case, disposition
):
    response = (
        _post_web(owner_client, disposition) if door == "web" else _post_api(owner, disposition)
    )
    assert response.status_code == (302 if door == "web" else 201), response.content[:2000]
    dataset = Dataset.objects.get(name="uploaded")
    assert _stored_files(dataset) == ["x.txt"]
    assert dataset.default_path == "x.txt" and dataset.sample_count == 2  # its lines
    files_watch.assert_only_under(f"storage/{dataset.folder}/")
    assert files_watch.new_in_tmp(["x.txt"]) == set()
    assert not (storage_root().parent / "x.txt").exists()


@pytest.mark.parametrize("case,disposition,refusal", REFUSED, ids=[c[0] for c in REFUSED])
def test_a_hidden_or_empty_name_is_refused_next_to_the_files_field(
    owner_client, owner, catalog, files_watch, case, disposition, refusal
):
    response = _post_web(owner_client, disposition)
    assert response.status_code == 400
    html = response.content.decode().replace("&#x27;", "'")
    error = re.search(r'<p class="error" id="id_files-error" role="alert">([^<]*)</p>', html)
    assert error and re.search(refusal, error.group(1)), html[:3000]

    response = _post_api(owner, disposition)
    assert response.status_code == 400
    assert response.json()["field"] == "files" and re.search(refusal, response.json()["message"])
    assert not Dataset.objects.filter(name="uploaded").exists()
    assert files_watch.new_files() == set()  # the staging folder went with the refusal


def test_the_registry_refuses_a_nul_name_that_skips_the_http_parser(owner, catalog, files_watch):
    app = MLApp.objects.get(key="sentiment-analysis")
    # Django's parser drops what is not printable (a bidi control, a NUL) from an HTTP
    # upload's name; the registry refuses such names from any other caller.
    for name in ("x\x00.txt", ".htaccess", "sub/.env", "invoice\u202etxt.exe"):
        with pytest.raises(ValidationError, match="Refused the file name"):
            dataset_add(
                user=owner,
                name="direct",
                ml_apps=[app],
                uploads=[SimpleUploadedFile(name, b"good\n")],
            )
    assert files_watch.new_files() == set()


def test_a_default_path_leading_out_is_refused_and_nothing_is_kept(
    owner_client, catalog, files_watch
):
    response = _post_web(owner_client, b'filename="x.txt"', default_path="../../../etc/passwd")
    assert response.status_code == 400
    html = response.content.decode().replace("&#x27;", "'")
    assert re.search(
        r'<p class="error" id="id_default_path-error" role="alert">[^<]*may not contain \'\.\.\'',
        html,
    ), html[:3000]
    assert files_watch.new_files() == set()


def test_cli_upload_of_a_hidden_file_is_refused_in_one_line(cli, catalog, tmp_path, files_watch):
    hidden = tmp_path / ".htaccess"
    hidden.write_text("Require all granted\n")
    result = cli(
        "dataset",
        "add",
        "hidden",
        "--ml-app",
        "sentiment-analysis",
        "--file",
        str(hidden),
        check=False,
    )
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("batchstudio: Refused the file name '.htaccess'") and "HTTP 400" in line
    assert files_watch.new_files() == set()

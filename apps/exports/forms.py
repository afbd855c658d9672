"""The Upload Results to AWS form: the fields the reference names, plus an endpoint URL."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django import forms

# S3's rules for new buckets: 3-63 lowercase letters, digits, dots and hyphens, starting
# and ending with a letter or digit.
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class S3CredentialsForm(forms.Form):
    """The key, secret, region and endpoint of an S3 store, checked the same way for
    results uploads and dataset imports (apps.catalog.forms.DatasetImportForm)."""

    access_key_id = forms.CharField(label="Access Key ID", max_length=128)
    secret_access_key = forms.CharField(
        label="Secret Access Key",
        max_length=256,
        # Never echoed back into the page, not even when another field has an error.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Used for this transfer only: kept encrypted until a worker has done it, "
        "then discarded. It is never saved.",
    )
    region = forms.CharField(
        label="Region",
        max_length=32,
        required=False,
        help_text="The AWS Region your bucket is in, e.g. eu-west-3 (us-east-1 when empty).",
    )
    endpoint_url = forms.CharField(
        label="Endpoint URL (optional)",
        max_length=300,
        required=False,
        help_text="Only for S3-compatible stores (MinIO, SeaweedFS, Ceph…): "
        "https://host[:port]. Leave empty for AWS.",
    )

    def clean_access_key_id(self) -> str:
        key_id = self.cleaned_data["access_key_id"].strip()
        if not key_id or any(ch.isspace() for ch in key_id) or _CONTROL.search(key_id):
            raise forms.ValidationError("An Access Key ID has no spaces, e.g. AKIA….")
        return key_id

    def clean_secret_access_key(self) -> str:
        secret = self.cleaned_data["secret_access_key"].strip()
        if _CONTROL.search(secret):
            raise forms.ValidationError("The Secret Access Key may not contain control characters.")
        return secret

    def clean_region(self) -> str:
        region = self.cleaned_data["region"].strip().lower()
        if region and not _REGION.match(region):
            raise forms.ValidationError("A region code looks like us-east-1 or eu-west-3.")
        return region

    def clean_endpoint_url(self) -> str:
        url = self.cleaned_data["endpoint_url"].strip().rstrip("/")
        if not url:
            return url
        # Not URLValidator: it wants a dotted domain, and a store on the team's network is
        # often a bare host name (`minio:9000` in docker-compose).
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.username
            or parts.password
            or parts.query
            or parts.fragment
            or _CONTROL.search(url)
            or " " in url
        ):
            raise forms.ValidationError(
                "Give the endpoint as http(s)://host[:port], e.g. https://s3.example.com."
            )
        return url


class ExportForm(S3CredentialsForm):
    bucket = forms.CharField(label="Bucket", max_length=63)
    folder = forms.CharField(
        label="Folder",
        max_length=500,
        required=False,
        help_text="The folder (key prefix) in the bucket; empty for the bucket's top level.",
    )
    field_order = [
        "bucket",
        "folder",
        "access_key_id",
        "secret_access_key",
        "region",
        "endpoint_url",
        "file",
    ]

    file = forms.ChoiceField(
        label="File",
        choices=[("results", "The results file"), ("joined", "The joined results file")],
        required=False,
        initial="results",
        help_text="The joined file has each row's ID and carried columns (table datasets).",
    )

    def __init__(self, *args: Any, joined: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not joined:  # a job without a joined file: nothing to choose
            del self.fields["file"]

    def clean_file(self) -> str:
        return self.cleaned_data.get("file") or "results"

    def clean_bucket(self) -> str:
        bucket = self.cleaned_data["bucket"].strip()
        if not BUCKET_RE.match(bucket) or ".." in bucket:
            raise forms.ValidationError(
                "A bucket name has 3 to 63 lowercase letters, digits, dots or hyphens, "
                "and starts and ends with a letter or digit."
            )
        return bucket

    def clean_folder(self) -> str:
        folder = self.cleaned_data["folder"].strip().strip("/")
        folder = re.sub(r"/{2,}", "/", folder)
        if _CONTROL.search(folder):
            raise forms.ValidationError("The folder may not contain control characters.")
        if any(part in (".", "..") for part in folder.split("/")):
            raise forms.ValidationError("The folder may not contain '.' or '..' parts.")
        return folder

    def export_arguments(self) -> dict[str, Any]:
        return dict(self.cleaned_data)

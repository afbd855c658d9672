"""The results panel's template context, shared by the views and the `results_panel` tag."""

from __future__ import annotations

from typing import Any

from apps.exports.forms import ExportForm
from apps.exports.selectors import results_overview
from apps.jobs.models import Job


def panel_context(
    job: Job, *, form: ExportForm | None = None, in_dialog: bool = True, notice: str = ""
) -> dict[str, Any]:
    return {
        **(overview := results_overview(job)),
        "form": form or ExportForm(joined=bool(overview["joined_name"])),
        # On the job window the form opens in a <dialog>; on the results page it is inline.
        "in_dialog": in_dialog,
        "notice": notice,
    }

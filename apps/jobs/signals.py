"""Signals of the jobs area."""

from django.dispatch import Signal

# Sent once a job reached COMPLETED, FAILED or STOPPED (after the commit that wrote it),
# with `job_id`; sent by apps.jobs.transitions, the only writer of a job's status.
job_ended = Signal()

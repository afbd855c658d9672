"""Engine builders for the project tests that run real jobs."""

from tests.worker.conftest import jobs, make_dataset  # noqa: F401 - fixtures for these tests

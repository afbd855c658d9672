"""BatchStudio worker: Celery app, thin tasks, the sharding engine and the runners.

`celery -A worker worker` finds the app here. Importing `worker.runners` or
`worker.readers` alone does not need Django.
"""

from worker.celery import app as celery_app

__all__ = ["celery_app"]

"""RQ worker for SKU Bridge: `python worker.py [queue ...]` (all queues by default)."""

from __future__ import annotations

import sys
from datetime import timedelta

from webapp import create_app
from webapp.accounts.jobs import schedule_token_sweep
from webapp.jobs.queue import AppWorker, redis_connection
from webapp.schedule import schedule_sweep


def main(queue_names: list[str]) -> None:
    app = create_app()
    with app.app_context():
        names = queue_names or list(app.config["RQ_QUEUES"])
        schedule_token_sweep(timedelta(0))
        schedule_sweep(timedelta(0))
        worker = AppWorker(
            names,
            connection=redis_connection(),
            job_monitoring_interval=app.config["JOB_HEARTBEAT_SECONDS"],
        )
        worker.work(with_scheduler=True)


if __name__ == "__main__":
    main(sys.argv[1:])

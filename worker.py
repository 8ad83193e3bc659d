"""RQ worker for SKU Bridge: `python worker.py [queue ...]` (all queues by default)."""

from __future__ import annotations

import argparse
from datetime import timedelta

from webapp import create_app
from webapp.accounts.jobs import schedule_token_sweep
from webapp.jobs.queue import AppWorker, redis_connection
from webapp.schedule import schedule_sweep


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run SKU Bridge's jobs (imports, sync, orders) from the Redis queues."
    )
    parser.add_argument(
        "queues", nargs="*", metavar="QUEUE", help="the queues to work on (default: all of them)"
    )
    return parser.parse_args(argv)


def main(queue_names: list[str]) -> None:
    app = create_app()
    with app.app_context():
        known = list(app.config["RQ_QUEUES"])
        unknown = [name for name in queue_names if name not in known]
        if unknown:
            raise SystemExit(
                f"worker.py: unknown queue {', '.join(unknown)} (the queues are {', '.join(known)})"
            )
        schedule_token_sweep(timedelta(0))
        schedule_sweep(timedelta(0))
        worker = AppWorker(
            queue_names or known,
            connection=redis_connection(),
            job_monitoring_interval=app.config["JOB_HEARTBEAT_SECONDS"],
        )
        worker.work(with_scheduler=True)


if __name__ == "__main__":
    main(parse_arguments().queues)

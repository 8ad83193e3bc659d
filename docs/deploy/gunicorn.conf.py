"""gunicorn settings for SKU Bridge's web process: `gunicorn -c docs/deploy/gunicorn.conf.py
'webapp:create_app()'`. Every value can be set from the environment named beside it."""

import multiprocessing
import os

# Behind a reverse proxy on the same machine (it terminates HTTPS); PORT as Procfile hosts set it.
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
# Sync workers: each request is short (the grid's pages take 10 to 20 ms of CPU); long work
# runs in the RQ workers. Two per core and one more, as gunicorn advises.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))  # uploads stream to disk well within it
graceful_timeout = 30
max_requests = 2000  # a worker is replaced now and then, so no slow leak can grow
max_requests_jitter = 200
# The app logs one JSON line per request, with its id (LOG_FORMAT=json); gunicorn's own access
# log would only repeat it.
accesslog = None
errorlog = "-"
# Each worker opens its own database connections after the fork.
preload_app = False

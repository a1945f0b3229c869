"""gunicorn settings for production (and `make serve`).

Values come from the environment where a deployment differs; the app keeps
no state in the process, so more hosts may run this against one PostgreSQL.
"""

import multiprocessing
import os

from gunicorn.http import wsgi


def env(name, default):
    # An empty value (as in a copied .env.example) counts as unset.
    return os.environ.get(name) or default


bind = env("GUNICORN_BIND", "127.0.0.1:8001")
workers = int(env("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# gunicorn's default (30 s): imports and whole-register exports run in the
# task worker (`manage.py db_worker`), no request takes long.
timeout = int(env("GUNICORN_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, so that a slow leak never grows unbounded.
max_requests = 1000
max_requests_jitter = 100
# Only the TLS proxy on this host may tell gunicorn the original scheme.
forwarded_allow_ips = env("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
# No query strings in the access log: search words may be names.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'


# gunicorn names itself and its version in a Server header of every response,
# and has no setting to leave it out; this file is loaded in the master before
# the workers fork, so dropping the line here drops it everywhere.
_default_headers = wsgi.Response.default_headers


def _default_headers_without_server(response):
    return [line for line in _default_headers(response) if not line.startswith("Server:")]


wsgi.Response.default_headers = _default_headers_without_server

"""`make bench`: `python -m tests.bench [--iterations N]`, with the environment the Makefile sets.

The benchmark is tooling, not product: it lives beside the tests and is not a management
command of the shipped apps."""

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "querybase.settings")
# A line per request would fill the terminal and time the log handler, not QueryBase.
os.environ.setdefault("QUERYBASE_LOG_LEVEL", "WARNING")
django.setup()

from tests.bench.bench import Command  # noqa: E402  (needs the apps loaded)

Command().run_from_argv(["manage.py", "bench", *sys.argv[1:]])

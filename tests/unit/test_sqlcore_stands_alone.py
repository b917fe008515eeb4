"""The SQL core (apps/sqlcore) imports nothing from Django or the rest of QueryBase: it
can be read, tested and reused alone. Checked in a fresh interpreter, where nothing else
was imported before."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
import importlib, pkgutil
import apps.sqlcore
for module in pkgutil.iter_modules(apps.sqlcore.__path__):
    importlib.import_module(f"apps.sqlcore.{module.name}")
outside = sorted(
    name for name in sys.modules
    if name.split(".")[0] in {"django", "rest_framework", "celery", "querybase", "psycopg", "MySQLdb"}
    or (name.startswith("apps.") and not name.startswith("apps.sqlcore"))
)
print(json.dumps(outside))
"""


def test_the_sql_core_imports_nothing_from_django_or_the_app():
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []

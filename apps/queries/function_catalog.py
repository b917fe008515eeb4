"""The per-source half of the function rule: what the source's own catalog says.

The classifier knows the functions of PostgreSQL, its contrib extensions and MySQL that
change state (apps/sqlcore/function_effects.py). A source may have more: every function a
user creates is VOLATILE unless declared otherwise, and an extension we never heard of
may add a dblink of its own. So on PostgreSQL a read may call only functions that the
source's pg_proc marks IMMUTABLE or STABLE (and not SECURITY DEFINER: a STABLE function
may still call volatile ones, and with its owner's rights), or that are on the reviewed
list of harmless VOLATILE ones; any other call makes it a write that needs an approval.
MySQL and MariaDB have no volatility, and a stored function runs with its definer's
rights by default, so there a read may call a stored function only if it was declared
DETERMINISTIC, not MODIFIES SQL DATA, and SQL SECURITY INVOKER (the reader's own rights,
inside the read-only transaction); a definer's function can take user locks or SET
GLOBAL from inside one. Loadable functions (UDFs) are not in that catalog: the fixed
lists know the published ones.

Why this is a rule on top of the fixed lists and not instead of them: volatility is a
promise the function's author makes, not something PostgreSQL enforces. A C function may
be declared STABLE and still write a file; a STABLE PL/pgSQL function may call dblink;
operators, casts, views and column defaults call functions that never appear in the
text, and the attribute notation `(value).my_function` is only recognised for functions
the fixed lists know (any other `t.name` is far more likely a column). The fixed lists
catch the known ones whatever they are declared as, this rule catches the unknown ones
that are honest, and least-privilege read credentials (the credential audit checks
them) must cover the rest.

Answers are cached in this process for a minute per source, so a read pays for the
catalog lookup once per new function name, not on every run.
"""

import threading
import time

from apps.datasources.connectors import CredentialRole, connector_class, connector_for
from apps.datasources.models import DataSource
from apps.sqlcore.function_effects import HARMLESS_VOLATILE_FUNCTIONS, effect_of

CACHE_SECONDS = 60.0
CACHE_MAX_ENTRIES = 20_000  # names come from user SQL: bound what they can make us keep

_cache: dict[tuple, tuple[float, bool]] = {}  # (source identity, name) -> (expires, volatile)
_cache_lock = threading.Lock()


def unsafe_functions(datasource: DataSource, names: frozenset[str]) -> frozenset[str]:
    """The names among `names` that the source's catalog marks VOLATILE (or the like) and
    that are not reviewed as harmless. Raises ConnectorError when the source cannot be asked."""
    # Reviewed names are asked too: the review covers the system's (or an extension's)
    # function of that name, not one a user made with the same name (`public.random()`).
    candidates = sorted(name for name in names if not effect_of(name))
    if not candidates or not connector_class(datasource.engine).has_volatility_catalog:
        return frozenset()
    source = (datasource.pk, datasource.engine, datasource.host, datasource.port, datasource.database)
    now = time.monotonic()
    with _cache_lock:
        known = {name: entry[1] for name in candidates if (entry := _cache.get((source, name))) and entry[0] > now}
    missing = [name for name in candidates if name not in known]
    if missing:
        volatile = connector_for(datasource, CredentialRole.READ).volatile_functions(
            missing, reviewed=[name for name in missing if name in HARMLESS_VOLATILE_FUNCTIONS]
        )
        expires = time.monotonic() + CACHE_SECONDS
        with _cache_lock:
            if len(_cache) > CACHE_MAX_ENTRIES:
                _cache.clear()
            for name in missing:
                known[name] = name in volatile
                _cache[(source, name)] = (expires, name in volatile)
    return frozenset(name for name, volatile in known.items() if volatile)


def forget_cached_functions() -> None:
    """Drop every cached answer (tests, and after an admin changes a source)."""
    with _cache_lock:
        _cache.clear()

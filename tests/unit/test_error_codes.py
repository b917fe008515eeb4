"""One error hierarchy and one status table: every error QueryBase raises derives from
QueryBaseError, its code is in STATUS_OF_CODE, and no class decides its own status."""

import importlib
import pkgutil

import pytest

import apps
from querybase.errors import STATUS_OF_CODE, QueryBaseError


def _every_module_of_the_apps() -> None:
    for module in pkgutil.walk_packages(apps.__path__, "apps."):
        if ".management.commands." not in module.name and ".migrations" not in module.name:
            importlib.import_module(module.name)


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


@pytest.fixture(scope="module")
def error_classes() -> list[type[QueryBaseError]]:
    _every_module_of_the_apps()
    return [QueryBaseError, *_subclasses(QueryBaseError)]


def test_every_code_has_its_status_in_the_one_table(error_classes):
    missing = {cls.__qualname__: cls.code for cls in error_classes if cls.code not in STATUS_OF_CODE}
    assert missing == {}


def test_no_error_class_sets_its_own_status(error_classes):
    own = [cls.__qualname__ for cls in error_classes if "status" in vars(cls) and cls is not QueryBaseError]
    assert own == []


def test_a_source_refusing_our_credentials_is_not_a_failed_login():
    from apps.datasources.connectors.base import AuthenticationFailed

    assert AuthenticationFailed("no").code != "authentication_failed"  # the 401 of a wrong QueryBase login
    assert AuthenticationFailed("no").status == 502


def test_the_table_speaks_http():
    assert all(400 <= status <= 599 for status in STATUS_OF_CODE.values())


def test_the_root_error_is_never_raised_as_it_is():
    """QueryBaseError itself means "QueryBase failed" (500): refusing bad input raises a
    subclass with its own code (InvalidInput is 400)."""
    import ast
    from pathlib import Path

    raised = []
    for path in Path(apps.__path__[0]).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Raise)
                and isinstance(node.exc, ast.Call)
                and isinstance(node.exc.func, ast.Name)
                and node.exc.func.id == "QueryBaseError"
            ):
                raised.append(f"{path.name}:{node.lineno}")
    assert raised == []

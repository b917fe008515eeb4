"""The SQL dialects QueryBase reads; a data source's engine is one of these."""

from enum import StrEnum


class Dialect(StrEnum):
    POSTGRESQL = "postgresql"
    MYSQL = "mysql"  # MySQL and MariaDB: one dialect, their differences are handled where they matter
    SQLITE = "sqlite"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {Dialect.POSTGRESQL: "PostgreSQL", Dialect.MYSQL: "MySQL / MariaDB", Dialect.SQLITE: "SQLite"}

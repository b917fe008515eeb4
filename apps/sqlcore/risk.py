"""How much an approver should worry about a statement: none, low, medium, high."""

from collections.abc import Iterable
from enum import StrEnum


class Risk(StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RISK_RANK[self]


_RISK_RANK = {Risk.NONE: 0, Risk.LOW: 1, Risk.MEDIUM: 2, Risk.HIGH: 3}


def highest_risk(risks: Iterable[Risk]) -> Risk:
    return max(risks, key=lambda risk: risk.rank, default=Risk.NONE)

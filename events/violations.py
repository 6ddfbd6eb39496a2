"""A broken domain rule (docs/domain.md §2-3): a stable code, a message naming the rule, a kind.

``kind`` tells the caller how to answer: ``rejected`` (bad request, CLI exit 2, HTTP 400),
``not_found`` (exit 3, HTTP 404) or ``conflict`` (exit 4, HTTP 409).
"""

from __future__ import annotations

from typing import Literal

ViolationKind = Literal["rejected", "not_found", "conflict"]


class RuleViolation(ValueError):
    def __init__(self, code: str, message: str, *, kind: ViolationKind = "rejected") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.kind = kind

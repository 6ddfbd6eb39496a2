"""A model that also reads as the JSON document it is emitted, printed and served as.

The outbound models are the ledger's one shape of a run or an entry; their JSON form is
what a GL consumer reads from Kafka and what ``--json`` prints. Reading a model as that
document (``entry["lines"]``, ``entry == json.loads(value)["data"]``) lets code written
against the document, and a test comparing the model with a message it consumed, work on
the model itself instead of a dict built beside it. Attributes stay the typed values
(``entry.total_debit`` is a ``Decimal``); items are the document's (``"12.50"``).
"""

from __future__ import annotations

from collections.abc import ItemsView, KeysView, Mapping, ValuesView
from typing import Any

from pydantic import BaseModel

__all__ = ["JsonDocument"]


class JsonDocument(BaseModel):
    """Read-only mapping access to ``document()``, and equality with a mapping equal to it.
    Iterating stays pydantic's (``(field, value)`` pairs); ``dict(model)`` is the document."""

    def document(self) -> dict[str, Any]:
        """The JSON document: field names as emitted (aliases), values as JSON has them."""
        return self.model_dump(mode="json", by_alias=True)

    def __getitem__(self, key: str) -> Any:
        return self.document()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.document().get(key, default)

    def keys(self) -> KeysView[str]:
        return self.document().keys()

    def values(self) -> ValuesView[Any]:
        return self.document().values()

    def items(self) -> ItemsView[str, Any]:
        return self.document().items()

    def __contains__(self, key: object) -> bool:
        return key in self.document()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self.document() == dict(other)
        return super().__eq__(other)

    def __or__(self, other: Mapping[str, Any]) -> dict[str, Any]:
        """The document with ``other``'s items over it (a dict, not a model)."""
        return self.document() | dict(other)

"""Zuora's own Python SDK (``zuora-sdk``) pointed at the ledger's HTTP API, and its models
as the oracle of the API's shapes (docs/contract.md §4).

The SDK's models are a copy of Zuora's published OpenAPI, but they do not validate: their
``__init__`` builds with ``construct`` and pydantic routes ``model_validate`` through it,
so the SDK itself accepts any answer. ``strict_twin`` copies a model's fields (names,
aliases, types, constraints, enums) into one that does validate; the client here checks
every answer it receives against the twin of the model the SDK reads it into, and fails
the test on the first mismatch. Unknown fields pass, as the SDK keeps them.

The SDK's client blocks (urllib3) while the server under test runs in the test's event
loop, so every call goes through ``sdk_call`` on a worker thread.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import zuora_sdk.models
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from zuora_sdk import (
    AccountingPeriodsApi,
    ApiClient,
    Configuration,
    JournalRunsApi,
    SummaryJournalEntriesApi,
)
from zuora_sdk.exceptions import ApiException

T = TypeVar("T")


# -- the oracle ------------------------------------------------------------------------------


def _validating(annotation: Any) -> Any:
    """``annotation`` with every SDK model in it replaced by its strict twin."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return strict_twin(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        return Annotated[(_validating(args[0]), *annotation.__metadata__)]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_validating(a) for a in args)]  # noqa: UP007
    if origin in (list, typing.List):  # noqa: UP006
        return list[_validating(args[0])]  # type: ignore[misc]
    if origin in (dict, typing.Dict):  # noqa: UP006
        return dict[args[0], _validating(args[1])]  # type: ignore[misc]
    return annotation


@functools.cache
def strict_twin(model: type[BaseModel]) -> type[BaseModel]:
    """A copy of an SDK model that validates what Zuora's OpenAPI declares."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name == "additional_properties":
            continue
        twin_info = copy.copy(info)
        fields[name] = (_validating(info.annotation), twin_info)
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"Strict{model.__name__}",
        __config__=ConfigDict(extra="allow", validate_by_name=True, validate_by_alias=True),
        **fields,
    )


def sdk_model(name: str) -> type[BaseModel]:
    model: type[BaseModel] = getattr(zuora_sdk.models, name)
    return model


def conforms(model: type[BaseModel], body: bytes | str) -> BaseModel:
    """``body`` parsed by the strict twin of ``model``; a mismatch fails the test."""
    try:
        return strict_twin(model).model_validate_json(body)
    except ValidationError as error:
        raise AssertionError(
            f"Zuora's {model.__name__} does not parse this answer: {error}\n{body!r}"
        ) from None


# -- the client ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One request the SDK sent and what came back."""

    method: str
    path: str
    status: int
    model: str | None  # the SDK model it reads this status into (None: it raises bare)
    body: bytes


class RecordingApiClient(ApiClient):  # type: ignore[misc]
    """The SDK's client: checks every answer against the oracle and remembers it."""

    def __init__(self, configuration: Configuration) -> None:
        super().__init__(configuration)
        self.exchanges: list[Exchange] = []
        self._sent: list[tuple[str, str]] = []

    def call_api(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        self._sent.append((method, urlsplit(url).path))
        return super().call_api(method, url, *args, **kwargs)

    def response_deserialize(self, response_data: Any, response_types_map: Any = None) -> Any:
        response_data.read()
        name = (response_types_map or {}).get(str(response_data.status))
        method, path = self._sent[-1]
        self.exchanges.append(
            Exchange(method, path, response_data.status, name, response_data.data))
        if name is not None and hasattr(zuora_sdk.models, name):
            conforms(sdk_model(name), response_data.data)
        return super().response_deserialize(response_data, response_types_map)


def zuora_client(base_url: str, access_token: str | None = None) -> RecordingApiClient:
    """The one place the tests build the SDK's client. ``access_token`` is sent as
    ``Authorization: Bearer <token>``, as Zuora's OAuth token would be: the ledger's API key
    goes there once the API requires one."""
    return RecordingApiClient(Configuration(host=base_url, access_token=access_token))


class ZuoraSdk:
    """The SDK's three Finance APIs the ledger answers, sharing one recording client."""

    def __init__(self, client: RecordingApiClient) -> None:
        self.client = client
        self.periods = AccountingPeriodsApi(client)
        self.runs = JournalRunsApi(client)
        self.entries = SummaryJournalEntriesApi(client)


async def sdk_call(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking SDK call off the event loop the API server serves on."""
    return await asyncio.to_thread(call, *args, **kwargs)


async def sdk_refusal(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[int, str]:
    """(status, first reason code) of a call the API refuses. The SDK raises ApiException
    with the body, which must be Zuora's ``CommonResponse`` with ``success: false``."""
    try:
        await sdk_call(call, *args, **kwargs)
    except ApiException as error:
        refusal = conforms(sdk_model("CommonResponse"), error.body)
        body = json.loads(error.body)
        assert body["success"] is False and body["reasons"], body
        assert all(set(r) == {"code", "message"} for r in body["reasons"]), body
        assert refusal.model_dump()["reasons"][0]["code"] == body["reasons"][0]["code"]
        return int(error.status), str(body["reasons"][0]["code"])
    raise AssertionError(f"{getattr(call, '__name__', call)} was not refused")

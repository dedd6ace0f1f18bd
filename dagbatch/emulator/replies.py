"""The emulator's error factory and response helpers: every answer that is not a success
is built here, in the Batch error body shape (``wire.error_body``).

Codes chosen where the service's exact code is not documented: more than 100 tasks in one
request is 400 ``InvalidRequestBody`` (values ``Reason: TooManyTasks``); an unknown property is
400 ``InvalidRequestBody`` naming it (values ``PropertyName``); a task without ``id`` fails the
request with 400 ``MissingRequiredProperty`` (there is no id to report it under); adding to a
completed job is 409 ``JobCompleted``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from dagbatch.emulator import wire

MEDIA_TYPE: Final = "application/json;odata=minimalmetadata"


class Reply(Exception):
    """Raised inside a handler to answer at once with ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class DroppedResponse(Response):
    """Starts ``inner`` (status, headers with its Content-Length, half its body) and then
    returns without finishing it: uvicorn closes the connection, and the client sees a
    transport error after the request was (partly) processed."""

    def __init__(self, inner: Response) -> None:
        super().__init__(status_code=inner.status_code)
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.inner.body)
        # An empty body (201 Created, 200 on update) would be complete as soon as the headers
        # arrive; announce one byte more than is ever sent so the client sees a cut.
        headers = [(k, v) for k, v in self.inner.raw_headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(max(len(body), 1)).encode()))
        await send(
            {"type": "http.response.start", "status": self.inner.status_code, "headers": headers}
        )
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer with the service's media type (``payload`` may be pre-serialized)."""
    content = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return Response(content, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def error(
    base: str, status: int, code: str, message: str, values: Mapping[str, str] | None = None
) -> Reply:
    """A whole-request Batch error, ready to raise."""
    return Reply(json_response(status, wire.error_body(base, code, message, values)))


def invalid_body(base: str, message: str, values: Mapping[str, str] | None = None) -> Reply:
    """400 ``InvalidRequestBody``."""
    return error(base, 400, "InvalidRequestBody", message, values)


def unknown_property(base: str, name: str) -> Reply:
    """400 ``InvalidRequestBody`` naming a property the operation does not take."""
    return invalid_body(
        base, f"The request body contains an unknown property '{name}'.", {"PropertyName": name}
    )


def missing_property(base: str, name: str) -> Reply:
    """400 ``MissingRequiredProperty``."""
    return error(
        base,
        400,
        "MissingRequiredProperty",
        "A required property was not specified in the request body.",
        {"PropertyName": name},
    )


def invalid_value(base: str, name: str, value: Any, message: str | None = None) -> Reply:
    """400 ``InvalidPropertyValue``."""
    return error(
        base,
        400,
        "InvalidPropertyValue",
        message or f"The value provided for {name} is invalid.",
        {"PropertyName": name, "PropertyValue": str(value)},
    )


def invalid_query(base: str, message: str, name: str | None = None) -> Reply:
    """400 ``InvalidQueryParameterValue``."""
    return error(
        base,
        400,
        "InvalidQueryParameterValue",
        message,
        {"QueryParameterName": name} if name else None,
    )


def job_not_found(base: str) -> Reply:
    """404 ``JobNotFound``."""
    return error(base, 404, "JobNotFound", "The specified job does not exist.")


def task_not_found(base: str) -> Reply:
    """404 ``TaskNotFound``."""
    return error(base, 404, "TaskNotFound", "The specified task does not exist.")


def job_completed(base: str) -> Reply:
    """409 ``JobCompleted``."""
    return error(base, 409, "JobCompleted", "The specified job is already in a completed state.")


def body_too_large(base: str, limit: int | None = None) -> Reply:
    """413 ``RequestBodyTooLarge``."""
    return error(
        base,
        413,
        "RequestBodyTooLarge",
        "The request body is too large and exceeds the maximum permissible limit.",
        {"MaxLimit": str(limit)} if limit is not None else None,
    )

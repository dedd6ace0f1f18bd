"""Conditional requests on a job or a task: ``If-Match``, ``If-None-Match``,
``If-Modified-Since`` and ``If-Unmodified-Since``, which every job and task operation of the
spec takes (get, update, replace, delete, disable, enable, terminate, reactivate)
[spec-2025, e.g. Jobs_UpdateJob: "The operation will be performed only if the resource's
current ETag on the service exactly matches the value specified by the client"].

A condition that does not hold is ``ConditionNotMet``: 304 Not Modified for a read, 412
Precondition Failed for a write [Batch status and error codes, "Common REST API Error
Codes"]. The same page lists 400 ``MultipleConditionHeadersNotSupported``; the SDK sends
one header for one condition, and whether today's service still refuses two is not
documented elsewhere, so the emulator evaluates every header given (HTTP's rules).
"""

from __future__ import annotations

import math
from email.utils import parsedate_to_datetime

from starlette.responses import Response

from dagbatch.emulator import replies
from dagbatch.emulator.context import Ctx


def check_conditions(ctx: Ctx, etag: str, modified: float, *, read: bool) -> None:
    """Lock held. Raise the answer when a conditional header of the request does not hold
    for the resource of ``etag``, last modified at ``modified`` (epoch seconds)."""
    headers = ctx.request.headers
    if not any(name in headers for name in _NAMES):
        return
    held = (
        _matches(headers.get("if-match"), etag, default=True)
        and not _matches(headers.get("if-none-match"), etag, default=False)
        # HTTP dates have whole seconds: the resource's time is compared at that resolution.
        and _since(ctx, "if-modified-since", math.floor(modified), after=True)
        and _since(ctx, "if-unmodified-since", math.floor(modified), after=False)
    )
    if held:
        return
    if read:
        raise replies.Reply(Response(status_code=304, headers={"ETag": etag}))
    raise replies.error(
        ctx.base,
        412,
        "ConditionNotMet",
        "The condition specified using HTTP conditional header(s) is not met.",
    )


_NAMES = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")


def _matches(value: str | None, etag: str, *, default: bool) -> bool:
    """Whether the ETag list ``value`` (``*`` for any) names ``etag``; ``default`` when the
    header is not given."""
    if value is None:
        return default
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in value.split(",")}
    return "*" in tags or etag in tags


def _since(ctx: Ctx, name: str, modified: int, *, after: bool) -> bool:
    """``If-Modified-Since`` (``after``: modified after the date) or
    ``If-Unmodified-Since`` (not modified after it); True when not given. A date that is
    not one is 400 ``InvalidHeaderValue`` naming the header."""
    value = ctx.request.headers.get(name)
    if value is None:
        return True
    try:
        since = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError) as exc:
        raise replies.error(
            ctx.base,
            400,
            "InvalidHeaderValue",
            "The value provided for one of the HTTP headers was not in the correct format.",
            {"HeaderName": name},
        ) from exc
    return modified > since if after else modified <= since


__all__ = ["check_conditions"]

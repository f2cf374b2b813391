"""Errors and paging shared by the service functions."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from openvisor.errors import CloudError

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Offsets past this fit no list and no SQL integer column.
MAX_OFFSET = 2**31 - 1

# Error codes follow Twilio's numbering where Twilio has one, so existing
# clients show familiar codes: 20003 authentication, 20404 not found,
# 20429 rate limit, 21481 bad page token.
CODE_INVALID = 20001
CODE_AUTH = 20003
CODE_FORBIDDEN = 20403
CODE_NOT_FOUND = 20404
CODE_CONFLICT = 20409
CODE_TOO_LARGE = 20413
CODE_RATE_LIMIT = 20429
CODE_PAGE_TOKEN = 21481


def not_found(kind: str, ident: str) -> CloudError:
    """Build the error for a resource that does not exist in the caller's account."""
    shown = ident if len(ident) <= 80 else ident[:80] + "..."
    return CloudError(
        f"{kind} {shown!r} was not found: check the identifier and the account",
        status=404,
        code=CODE_NOT_FOUND,
    )


def invalid(message: str) -> CloudError:
    """Build the error for a request parameter that is missing or invalid."""
    return CloudError(message, status=400, code=CODE_INVALID)


def conflict(message: str) -> CloudError:
    """Build the error for a request that clashes with an existing resource."""
    return CloudError(message, status=409, code=CODE_CONFLICT)


def forbidden(message: str) -> CloudError:
    """Build the error for a caller that may not use a resource."""
    return CloudError(message, status=403, code=CODE_FORBIDDEN)


@dataclass(frozen=True)
class PageRequest:
    """Paging parameters of a list call: ``PageSize``, ``Page`` and ``PageToken``."""

    page_size: int = DEFAULT_PAGE_SIZE
    page: int = 0
    page_token: str | None = None


@dataclass
class PageResult(Generic[T]):
    """One page of records plus what the next and previous page links need."""

    items: list[T]
    page: int
    page_size: int
    offset: int
    has_next: bool


def encode_page_token(offset: int) -> str:
    """Encode a list offset as an opaque ``PT…`` page token."""
    raw = json.dumps({"o": offset}, separators=(",", ":")).encode()
    return "PT" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    """Decode a page token into a list offset, rejecting foreign tokens."""
    try:
        if not token.startswith("PT"):
            raise ValueError("missing PT prefix")
        body = token[2:]
        data: Any = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        offset = data["o"]
        if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= MAX_OFFSET:
            raise ValueError("offset out of range")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        shown = token if len(token) <= 80 else token[:80] + "..."
        raise CloudError(
            f"invalid PageToken {shown!r}: use the next_page_url the previous page returned",
            status=400,
            code=CODE_PAGE_TOKEN,
        ) from exc
    return offset


def paginate(session: Session, stmt: Select[T], request: PageRequest) -> PageResult[T]:
    """Run an ordered select for one page; ``PageToken`` wins over ``Page``."""
    # NOTE: a page token carries the offset of its page's first row, so rows
    # added or removed before that offset make the next page repeat or skip rows.
    size = min(max(request.page_size, 1), MAX_PAGE_SIZE)
    if request.page_token:
        offset = decode_page_token(request.page_token)
    else:
        offset = max(request.page, 0) * size
        if offset > MAX_OFFSET:
            raise invalid(
                f"Page {request.page} with PageSize {size} starts past the end of any list: "
                "ask for a smaller Page, or follow next_page_url"
            )
    rows = list(session.scalars(stmt.offset(offset).limit(size + 1)))
    return PageResult(
        items=rows[:size],
        page=offset // size,
        page_size=size,
        offset=offset,
        has_next=len(rows) > size,
    )


def count(session: Session, stmt: Select[Any]) -> int:
    """Count the rows a select returns."""
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)

"""Fixed-window rate limits kept in SQL, so every instance counts together."""

from __future__ import annotations

import logging
import random
import time

from sqlalchemy import delete
from sqlalchemy.orm import Session

from openvisor.cloud.models import RateCounter
from openvisor.cloud.service.common import CODE_RATE_LIMIT
from openvisor.cloud.service.sqlutil import upsert_increment
from openvisor.errors import CloudError

log = logging.getLogger(__name__)


class RateLimitError(CloudError):
    """A credential or device sent more requests than its window allows."""

    def __init__(self, subject: str, limit: int, retry_after: int) -> None:
        super().__init__(
            f"rate limit of {limit} requests per window exceeded for {subject}: "
            f"retry after {retry_after} s",
            status=429,
            code=CODE_RATE_LIMIT,
        )
        self.retry_after = retry_after


def hit(session: Session, subject: str, *, limit: int, window_s: int) -> None:
    """Count one request for ``subject``; raise :class:`RateLimitError` over the limit."""
    now = time.time()
    # NOTE: fixed windows let a client send up to twice ``limit`` across a
    # window boundary.
    window_start = int(now // window_s) * window_s
    count = upsert_increment(
        session,
        RateCounter.__table__,
        {"subject": subject, "window_start": window_start},
        "count",
    )
    # Old windows are swept now and then instead of on every request.
    if random.random() < 0.01:
        session.execute(delete(RateCounter).where(RateCounter.window_start < window_start))
    if count > limit:
        retry_after = max(1, int(window_start + window_s - now))
        log.warning("Rejected request over rate limit (subject=%s, count=%d)", subject, count)
        raise RateLimitError(subject, limit, retry_after)


def hit_device(session: Session, device_sid: str, *, limit: int, window_s: int) -> None:
    """Count one device-link message of a device against its limit."""
    hit(session, f"device:{device_sid}", limit=limit, window_s=window_s)

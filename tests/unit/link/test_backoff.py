"""Reconnect back-off: doubling, capped, jittered into the upper half."""

from __future__ import annotations

import pytest

from openvisor.errors import ConfigError
from openvisor.link.mqtt import Backoff, parse_broker_url


def test_delays_stay_in_upper_half() -> None:
    backoff = Backoff(initial_s=1.0, max_s=8.0)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (10, 8.0), (100, 8.0)]:
        delays = [backoff.delay(attempt) for _ in range(200)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert len(set(delays)) > 1


def test_parse_broker_url() -> None:
    plain = parse_broker_url("mqtt://127.0.0.1:1884")
    assert (plain.host, plain.port, plain.tls) == ("127.0.0.1", 1884, False)
    secure = parse_broker_url("mqtts://svc:p%40ss@localhost")
    assert (secure.port, secure.tls, secure.username, secure.password) == (
        8883,
        True,
        "svc",
        "p@ss",
    )
    assert parse_broker_url("mqtt://localhost", port=2000).port == 2000


@pytest.mark.parametrize("url", ["http://localhost", "mqtt://", "localhost:1883"])
def test_parse_broker_url_rejects(url: str) -> None:
    with pytest.raises(ConfigError, match="invalid"):
        parse_broker_url(url)

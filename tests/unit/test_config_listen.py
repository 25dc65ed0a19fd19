"""`parse_listen`, the rule for `metrics_listen` (HOST:PORT): config checks it, the metrics
server binds what it returns."""

from __future__ import annotations

import re

import pytest

from vrrpd.config import parse_listen


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("127.0.0.1:9650", ("127.0.0.1", 9650)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
        ("[::]:9650", ("::", 9650)),
        ("[::1]:65535", ("::1", 65535)),
        ("[2001:db8::1]:9650", ("2001:db8::1", 9650)),
        ("[fe80::1%eth0]:9650", ("fe80::1%eth0", 9650)),
        ("localhost:9650", ("localhost", 9650)),
        ("metrics.example.org:80", ("metrics.example.org", 80)),
    ],
)
def test_parse_listen_good(text: str, want: tuple[str, int]) -> None:
    assert parse_listen(text) == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected HOST:PORT"),
        ("9650", "expected HOST:PORT"),
        ("127.0.0.1", "expected HOST:PORT"),
        (":9650", "the host is missing"),
        ("127.0.0.1:", "is not a number"),
        ("127.0.0.1:http", "is not a number"),
        ("127.0.0.1:-1", "is not a number"),
        ("127.0.0.1:0", "out of range 1-65535"),
        ("127.0.0.1:65536", "out of range 1-65535"),
        ("127.0.0.1:٣", "is not a number"),  # a non-ASCII digit
        ("::1:9650", "needs brackets"),
        ("[::1]", "expected [IPv6]:PORT"),
        ("[::1]9650", "expected [IPv6]:PORT"),
        ("[::1:9650", "expected [IPv6]:PORT"),
        ("[192.0.2.1]:9650", "brackets are for IPv6"),
        ("[nope]:9650", "is not an IPv6 address"),
        ("300.1.2.3:9650", "is not an IPv4 address or host name"),
        ("bad_host!:9650", "is not an IPv4 address or host name"),
        ("a b:9650", "is not an IPv4 address or host name"),
    ],
)
def test_parse_listen_bad(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        parse_listen(text)
    assert "\n" not in str(info.value)


def test_parse_listen_port_zero_only_when_allowed() -> None:
    assert parse_listen("127.0.0.1:0", allow_port_zero=True) == ("127.0.0.1", 0)
    with pytest.raises(ValueError, match="out of range 1-65535"):
        parse_listen("127.0.0.1:0")

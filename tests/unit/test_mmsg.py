"""recvmmsg / sendmmsg through ctypes (vrrpd.io.mmsg), on UDP sockets over loopback: many
datagrams per call, in order, with their ancillary data and source; the outbox sends what a
batch posted and reports each one."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from netns_lab.lab import wait_for
from vrrpd.io import mmsg

SO_TIMESTAMPNS = 35


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    tx.connect(rx.getsockname())
    yield rx, tx
    rx.close()
    tx.close()


def read_all(reader: mmsg.BatchReader, want: int) -> list[bytes]:
    got: list[bytes] = []

    def more() -> bool:
        n = reader.read(16)
        got.extend(reader.data(i) for i in range(n))
        return len(got) >= want

    wait_for(more, 5, what=f"{want} datagrams")
    return got


def test_send_many_then_read_in_batches(pair: tuple[socket.socket, socket.socket]) -> None:
    rx, tx = pair
    frames = [bytes([i]) * (10 + i) for i in range(40)]
    assert mmsg.send_many(tx, frames) == (40, None)
    reader = mmsg.BatchReader(rx, capacity=16, size=128, control=64, names=True)
    assert read_all(reader, 40) == frames  # three calls of at most 16, in order
    assert reader.read(16) == 0  # nothing left: no error


def test_ancillary_data_and_source(pair: tuple[socket.socket, socket.socket]) -> None:
    rx, tx = pair
    tx.send(b"x")
    reader = mmsg.BatchReader(rx, capacity=4, size=64, control=64, names=True)
    wait_for(lambda: reader.read(4) == 1, 5, what="one datagram")
    ((level, kind, data),) = reader.cmsgs(0)
    assert (level, kind, len(data)) == (socket.SOL_SOCKET, SO_TIMESTAMPNS, 16)
    family, port = struct.unpack_from("=HH", reader.name(0))
    assert family == socket.AF_INET and socket.ntohs(port) == tx.getsockname()[1]
    assert reader.data(0) == b"x"


def test_a_longer_datagram_is_cut_to_the_buffer(pair: tuple[socket.socket, socket.socket]) -> None:
    rx, tx = pair
    tx.send(bytes(200))
    reader = mmsg.BatchReader(rx, capacity=2, size=64, control=64, names=False)
    wait_for(lambda: reader.read(2) == 1, 5, what="one datagram")
    assert len(reader.data(0)) == 64  # the receive checks then discard it for its length


def test_send_many_reports_the_error_that_stopped_it() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", 9))
    try:
        sent, error = mmsg.send_many(sock, [bytes(70000), b"a"])  # too long for UDP
    finally:
        sock.close()
    assert sent == 0 and isinstance(error, OSError)


def test_outbox_sends_at_flush_in_order_and_reports_each(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    rx, tx = pair
    box = mmsg.Outbox()
    box.open = True
    results: list[tuple[int, OSError | None]] = []
    for i in range(5):
        box.post(tx, bytes([i]), lambda e, i=i: results.append((i, e)))
    assert results == []  # held until the batch ends
    box.flush()
    assert not box.open
    assert results == [(i, None) for i in range(5)]
    reader = mmsg.BatchReader(rx, capacity=8, size=16, control=64, names=False)
    assert read_all(reader, 5) == [bytes([i]) for i in range(5)]
    box.flush()  # nothing posted: nothing sent
    assert reader.read(8) == 0

"""Reading a tracked file (vrrpd.io.track.read_value) never blocks and never reads without
bound: a FIFO, a device, a huge file or a link to one of them holds no value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vrrpd.io.track import FILE_MAX, read_value


@pytest.mark.parametrize(
    ("text", "value"),
    [("42\n", 42), (" -7 ", -7), ("0", 0), ("", None), ("abc", None), ("4 2", None)],
)
def test_a_regular_file(tmp_path: Path, text: str, value: int | None) -> None:
    f = tmp_path / "weight"
    f.write_text(text)
    assert read_value(str(f)) == value


def test_a_missing_file_or_a_directory(tmp_path: Path) -> None:
    assert read_value(str(tmp_path / "nothing")) is None
    assert read_value(str(tmp_path)) is None


@pytest.mark.timeout(10)
def test_a_fifo_does_not_block(tmp_path: Path) -> None:
    """No writer: a blocking open would wait for one for ever (it stopped the event loop)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_value(str(fifo)) is None


@pytest.mark.timeout(10)
def test_a_link_to_dev_zero_is_not_read(tmp_path: Path) -> None:
    link = tmp_path / "zero"
    link.symlink_to("/dev/zero")
    assert read_value(str(link)) is None


def test_a_file_longer_than_a_number_holds_none(tmp_path: Path) -> None:
    f = tmp_path / "big"
    f.write_text("1" + " " * FILE_MAX)
    assert read_value(str(f)) is None
    f.write_text("1".rjust(FILE_MAX))
    assert read_value(str(f)) == 1


def test_a_link_to_a_regular_file_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("5\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_value(str(tmp_path / "link")) == 5


def test_binary_content_holds_none(tmp_path: Path) -> None:
    f = tmp_path / "bin"
    f.write_bytes(b"\xff\xfe1")
    assert read_value(str(f)) is None

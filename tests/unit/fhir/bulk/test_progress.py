"""Progress of ``mais person import``: one line redrawn on a terminal with rows/s and the time left, plain lines
when piped, nothing when quiet."""

from __future__ import annotations

import io

import pytest

from mais_node import cli_import
from mais_node.cli_import import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_line_redrawn_with_the_rate_and_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 10.0, 20.0, 20.1])
    monkeypatch.setattr(cli_import.time, "monotonic", lambda: next(clock))
    stream = Terminal()
    progress = Progress(stream)
    progress("importing", 100_000, 250, 1000)
    progress("importing", 200_000, 500, 1000)
    progress("importing", 200_001, 501, 1000)  # too soon after the last: not drawn
    progress.done()
    text = stream.getvalue()
    assert "\n" not in text
    assert text.count("\r") == 3
    assert "importing: 200,000 rows, 10,000 rows/s, 50% of the file, about 20s left" in text


def test_piped_progress_is_plain_lines_and_quiet_is_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 15.0, 30.0, 40.0, 45.0])
    monkeypatch.setattr(cli_import.time, "monotonic", lambda: next(clock))
    stream = io.StringIO()
    progress = Progress(stream)
    progress("checking", 30_000, 1, 4)
    progress("checking", 60_000, 2, 4)
    assert stream.getvalue().splitlines() == [
        "checking: 30,000 rows, 2,000 rows/s, 25% of the file, about 45s left",
        "checking: 60,000 rows, 2,000 rows/s, 50% of the file, about 30s left",
    ]
    quiet = io.StringIO()
    Progress(quiet, quiet=True)("checking", 1, 1, 1)
    assert quiet.getvalue() == ""


def test_a_resumed_import_counts_its_rate_and_time_left_from_where_it_began_writing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter([0.0, 5.0, 10.0, 20.0])
    monkeypatch.setattr(cli_import.time, "monotonic", lambda: next(clock))
    stream = Terminal()
    progress = Progress(stream)
    progress("resuming", 600_000, 600, 0)  # passing the lines committed before: no time left to give
    progress("resuming", 700_000, 700, 0)
    progress("importing", 20_000, 800, 1000, 700)  # writing from byte 700: a third of what is left in 10 s
    drawn = [line.removeprefix("\x1b[2K") for line in stream.getvalue().split("\r") if line]
    assert drawn == [
        "resuming: 600,000 rows, 120,000 rows/s",
        "resuming: 700,000 rows, 70,000 rows/s",
        "importing: 20,000 rows, 2,000 rows/s, 80% of the file, about 20s left",
    ]

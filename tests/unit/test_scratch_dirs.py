"""A killed import's temporary directories are deleted by the next one, and a running import's never are."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mais_node.scratch_dirs import LOCK, PREFIX, OwnedDirectory, sweep

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from pathlib import Path
from mais_node.scratch_dirs import OwnedDirectory
held = OwnedDirectory(Path(sys.argv[1]))
print(held.path, flush=True)
time.sleep(60)
"""


def holder(parent: Path) -> tuple[subprocess.Popen[str], Path]:
    """Another process holding a directory of its own under ``parent``."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(parent)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_a_directory_is_locked_while_held_and_gone_after_cleanup(tmp_path: Path) -> None:
    owned = OwnedDirectory(tmp_path)
    assert owned.path.name.startswith(PREFIX)
    assert (owned.path / LOCK).exists()
    assert sweep(tmp_path) == 0  # our own, through another descriptor: held
    assert owned.path.exists()
    owned.cleanup()
    assert not owned.path.exists()


def test_a_killed_owners_directory_is_deleted_by_the_next_and_a_living_ones_kept(tmp_path: Path) -> None:
    killed, abandoned = holder(tmp_path)
    living, running = holder(tmp_path)
    try:
        (abandoned / "scratch.db").write_bytes(b"x" * 1000)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert abandoned.exists()
        fresh = OwnedDirectory(tmp_path)
        assert not abandoned.exists()
        assert running.exists()  # its import still runs
        assert fresh.path.exists()
        fresh.cleanup()
    finally:
        for process in (killed, living):
            process.kill()
            process.wait(timeout=30)
            assert process.stdout is not None
            process.stdout.close()


def test_a_directory_without_a_lock_is_left_unless_a_day_old(tmp_path: Path) -> None:
    young = tmp_path / f"{PREFIX}young"
    old = tmp_path / f"{PREFIX}old"
    other = tmp_path / "someone-elses"
    for directory in (young, old, other):
        directory.mkdir()
    day_and_more = time.time() - 90_000
    os.utime(old, (day_and_more, day_and_more))
    os.utime(other, (day_and_more, day_and_more))
    assert sweep(tmp_path) == 1
    assert young.exists()
    assert not old.exists()
    assert other.exists()

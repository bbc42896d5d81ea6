"""The WAL checkpoint thread ends when stopped, whenever the stop lands in its loop."""

from __future__ import annotations

import threading

from mais_node.storage.sqlite_checkpoint import Checkpointer


class StopBeforeClear(threading.Event):
    """The interleaving that hung a teardown: ``stop()`` lands after the delay ran out and before the wake-up is
    cleared, so its wake-up is cleared too."""

    def __init__(self, stopping: threading.Event) -> None:
        super().__init__()
        self.stopping = stopping

    def clear(self) -> None:
        self.stopping.set()  # what stop() does first
        super().set()  # and its wake-up, which the clear below then takes back
        super().clear()


def test_a_stop_between_the_delay_and_the_clear_still_ends_the_thread() -> None:
    ran = threading.Event()
    checkpointer = Checkpointer(ran.set, delay=0.01)
    checkpointer._wrote = StopBeforeClear(checkpointer._stop)
    checkpointer.wrote()
    assert ran.wait(5)
    thread = checkpointer._thread
    assert thread is not None
    thread.join(timeout=5)
    assert not thread.is_alive()

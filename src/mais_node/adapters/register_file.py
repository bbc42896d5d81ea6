"""Read the national register from a file (the ``RegisterSource`` port): an authority's copy handed over by hand."""

from __future__ import annotations

from pathlib import Path

from mais_node.errors import Unavailable
from mais_node.network.ports import Fetched, NotModified


class FileRegisterSource:
    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def fetch(self, etag: str | None) -> Fetched | NotModified:
        try:
            stat = self.path.stat()
            # Size and modification time stand in for an ETag: an unchanged file is not read and verified again.
            tag = f'"{stat.st_size}-{stat.st_mtime_ns}"'
            if etag == tag:
                return NotModified()
            if stat.st_size > self.max_bytes:
                raise Unavailable(f"the register file is larger than {self.max_bytes} bytes")
            with self.path.open("rb") as handle:
                body = handle.read(self.max_bytes + 1)
        except OSError as exc:
            raise Unavailable(f"the register file cannot be read ({type(exc).__name__})") from exc
        if len(body) > self.max_bytes:
            raise Unavailable(f"the register file is larger than {self.max_bytes} bytes")
        return Fetched(body, tag)

"""``mais person import`` at scale (issue 17 item 3): people/s through the real command, one process.

Writes an NDJSON file of synthetic people (``matching/synthetic``, as bench/seed.py writes them: the NHS numbers
marked verified, one person in ten with an open involvement of the one team), then times ``mais person import`` on a
fresh node, wall-clock and CPU (the import process's user + system time). ``python -m bench.bench_import --people
100000 1000000``; ``--against /work/main --repeat 3`` times another checkout's ``mais`` on the same file too, the two
alternating, so that a shared machine's load falls on both alike.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from bench.seed import _rows, _team
from mais_node.matching.synthetic import iter_population


def write_file(path: Path, people: int) -> int:
    """The file of ``people`` synthetic people and their involvements (the team first); its rows."""
    rows = 0
    with path.open("wb") as out:
        out.write(orjson.dumps(_team()) + b"\n")
        for number, record in enumerate(iter_population(people, seed=17)):
            for _, body in _rows(record, number):
                out.write(orjson.dumps(body) + b"\n")
                rows += 1
    return rows + 1


def run(people: int, directory: Path, path: Path, rows: int, mais: Path) -> dict[str, float | str]:
    # An empty file, its tables made by the command timed: a file one version has written may not be read by an older
    # one (the resource JSON is packed since issue 17).
    (directory / f"node-{people}.db").touch()
    store = f"sqlite:///{directory / f'node-{people}.db'}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([str(mais), "person", "import", str(path), "--store", store, "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    db = Path(store.removeprefix("sqlite:///"))
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    for kept in db.parent.glob(db.name + "*"):
        kept.unlink()
    return {"mais": str(mais), "people": people, "rows": rows, "seconds": seconds, "people_per_s": people / seconds,
            "cpu_s": cpu, "cpu_us_per_row": cpu / rows * 1e6, "file_bytes": path.stat().st_size,
            "store_bytes_per_person": size / people}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, nargs="+", default=[100_000])
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--against", type=Path, default=None, help="another checkout, timed on the same file too")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    commands = [Path(sys.executable).with_name("mais")]
    if args.against is not None:
        commands.append(args.against / ".venv" / "bin" / "mais")
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        for people in args.people:
            path = Path(directory) / f"people-{people}.ndjson"
            rows = write_file(path, people)
            for _ in range(args.repeat):
                for mais in commands:
                    print(orjson.dumps(run(people, Path(directory), path, rows, mais)).decode(), flush=True)
            for name in os.listdir(directory):
                (Path(directory) / name).unlink()


if __name__ == "__main__":
    main()

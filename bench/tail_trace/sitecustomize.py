"""The enquiry's latency timeline (issue 17): measuring instrumentation for ``mais serve``, never part of the node.

Python imports ``sitecustomize`` at start from the first directory on its path that holds one:
``bench/tail_trace/run.py`` puts this directory first on the server's ``PYTHONPATH`` and names an output directory
in ``TAILTRACE_OUT``. Each process then appends JSON lines to ``<out>/<pid>.jsonl`` (times are CLOCK_MONOTONIC
nanoseconds, one clock for every process): each request (ASGI start and end, and what it spent in SQLite, in ``BEGIN
IMMEDIATE``, in ``COMMIT``, waiting for and holding the write lock, awaiting its audit write); each write-lock hold;
each ``BEGIN``, ``COMMIT`` and WAL checkpoint, and any other statement over 3 ms; each audit group; each collection;
the event loop's lateness; and, every 5 ms, the loop thread's CPU time and run-queue wait from ``/proc``. Without
``TAILTRACE_OUT`` it does nothing.
"""

import os

OUT = os.environ.get("TAILTRACE_OUT")


def _install(out: str) -> None:
    import asyncio
    import contextvars
    import gc
    import itertools
    import json
    import sqlite3
    import threading
    import time
    from typing import Any

    import fastapi

    import mais_node.audit.group as group
    import mais_node.storage.sqlite_writers as writers

    now = time.monotonic_ns
    buffer: list[list[Any]] = []
    emit = buffer.append
    current: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar("tail_request", default=None)
    ids = itertools.count(1)

    def flush() -> None:
        path = os.path.join(out, f"{os.getpid()}.jsonl")
        while True:
            time.sleep(1.0)
            taken = buffer[:]
            del buffer[: len(taken)]
            if taken:
                with open(path, "a") as file:
                    file.writelines(json.dumps(e) + "\n" for e in taken)

    threading.Thread(target=flush, daemon=True, name="tail-flush").start()
    emit(["clock", time.time_ns(), now()])

    started = [0]

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = now()
        else:
            emit(["gc", info["generation"], started[0], now(), threading.current_thread().name])

    gc.callbacks.append(collected)

    class TracedConnection(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            t0 = now()
            try:
                return super().execute(sql, *args)
            finally:
                t1 = now()
                request = current.get()
                if request is not None:
                    request["sql"] += t1 - t0
                head = sql[:24]
                if head.startswith(("BEGIN", "COMMIT", "PRAGMA wal_checkpoint")) or t1 - t0 > 3_000_000:
                    kind = "CHECKPOINT" if head.startswith("PRAGMA wal") else head.split(" ")[0]
                    if kind not in ("BEGIN", "COMMIT", "CHECKPOINT"):
                        kind = "SLOW:" + sql[:60]
                    name = threading.current_thread().name
                    emit(["sql", kind, t0, t1, name, request["id"] if request else None])
                    if request is not None and kind in ("BEGIN", "COMMIT"):
                        request[kind.lower()] += t1 - t0

    connect = sqlite3.connect

    def traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", TracedConnection)
        return connect(*args, **kwargs)

    sqlite3.connect = traced_connect  # type: ignore[assignment]

    class TracedLock:
        """Wraps the lock ``write_lock`` returns (a bare RLock before the cross-process lock, a WriteLock since)."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.depth, self.asked, self.got = inner, 0, 0, 0

        def __enter__(self) -> "TracedLock":
            t0 = now()
            self.inner.__enter__()
            t1 = now()
            self.depth += 1
            if self.depth == 1:
                self.asked, self.got = t0, t1
            request = current.get()
            if request is not None:
                request["lockwait"] += t1 - t0
            return self

        def __exit__(self, *exc: object) -> None:
            self.depth -= 1
            if self.depth == 0:
                t2 = now()
                request = current.get()
                name = threading.current_thread().name
                emit(["lock", self.asked, self.got, t2, name, request["id"] if request else None])
                if request is not None:
                    request["lockhold"] += t2 - self.got
            self.inner.__exit__(None, None, None)

    locks: dict[int, TracedLock] = {}
    write_lock = writers.write_lock

    def traced_write_lock(path: str) -> Any:
        inner = write_lock(path)
        return locks.setdefault(id(inner), TracedLock(inner))

    writers.write_lock = traced_write_lock  # before storage/sqlite*.py import it

    group_write = group.GroupCommit._write

    def traced_group_write(self: group.GroupCommit, pending: list[Any]) -> None:
        t0 = now()
        try:
            group_write(self, pending)
        finally:
            emit(["group", t0, now(), len(pending), sum(len(b) for b, _ in pending)])

    group.GroupCommit._write = traced_group_write  # type: ignore[method-assign]
    awaited_write = group.GroupCommit.write

    async def traced_write(self: group.GroupCommit, events: Any) -> Any:
        t0 = now()
        try:
            return await awaited_write(self, events)
        finally:
            request = current.get()
            if request is not None:
                request["audit"] += now() - t0

    group.GroupCommit.write = traced_write  # type: ignore[method-assign]

    app_call = fastapi.FastAPI.__call__
    probing = [False]
    tasks: set[asyncio.Task[None]] = set()

    async def lateness() -> None:
        while True:
            t0 = now()
            await asyncio.sleep(0.001)
            t1 = now()
            if t1 - t0 > 4_000_000:
                emit(["lag", t0, t1])

    async def traced_call(self: fastapi.FastAPI, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app_call(self, scope, receive, send)
        if not probing[0]:
            probing[0] = True
            task = asyncio.get_running_loop().create_task(lateness())
            tasks.add(task)
        request = {"id": next(ids), "sql": 0, "begin": 0, "commit": 0, "lockwait": 0, "lockhold": 0, "audit": 0}
        token = current.set(request)
        status = [0]

        async def traced_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        t0 = now()
        try:
            return await app_call(self, scope, receive, traced_send)
        finally:
            t1 = now()
            current.reset(token)
            r = request
            spent = [r["sql"], r["begin"], r["commit"], r["lockwait"], r["lockhold"], r["audit"]]
            emit(["req", r["id"], t0, t1, status[0], scope["path"][-20:], *spent])

    fastapi.FastAPI.__call__ = traced_call  # type: ignore[method-assign]

    loop_thread = threading.main_thread().native_id

    def scheduler() -> None:
        path = f"/proc/self/task/{loop_thread}/schedstat"
        while True:
            with open(path) as file:
                cpu, wait, _ = file.read().split()
            emit(["sched", now(), int(cpu), int(wait)])
            time.sleep(0.005)

    threading.Thread(target=scheduler, daemon=True, name="tail-sched").start()


if OUT:
    _install(OUT)

"""Issue 12, done when: every ```sh block of README.md runs as written against ``make run``'s node.

The test starts ``make run`` on a free port in a scratch directory that holds the checkout's ``.venv``, ``src``,
``docs``, ``Makefile`` and ``pyproject.toml`` (symlinks), so the blocks' relative paths (``.venv/bin/mais``,
``var/demo/…``, ``docs/examples/…``) mean what they mean in a checkout and nothing is left in it. Each block then
runs in its own ``bash -e -o pipefail`` with two changes, both named here: ``127.0.0.1:8080`` reads as the demo's
free port, and the environment holds what the README tells a newcomer to set: ``MAIS_STORE`` (the line the demo
prints), and ``PORT`` and ``NODE_PORT`` (free ports, for the blocks that let the reader choose theirs). A block
must leave nothing behind: no file outside ``var/`` and no process still running when it ends (one it starts in
the background it stops). A block that serves in the foreground until stopped (``mais serve`` as its command, as
the reader runs it in a terminal of its own) runs on another free port until it answers ``/readyz``, and is then
stopped. Blocks that cannot run on this machine are skipped by name, with the reason, below; every name must still
match a block.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The checkout's files `make run` reads (the npm packages for the console's GOV.UK Frontend files included).
LINKED = (".venv", "src", "docs", "Makefile", "pyproject.toml", "package.json", "package-lock.json", "node_modules")

# A text that marks a block → why that block cannot run here.
SKIPPED = {
    "make test": "the two commands: make test is the suite this test is part of, make run is the node it starts",
    "mongodb://": "no MongoDB server can be installed on this machine (DESIGN §8)",
    "docker compose": "no Docker engine on this machine; tests/unit/storage/test_deploy.py checks those files",
    "/fhir/Patient/\\$single-view": "a practitioner's system's request to a node that is a system in a national "
    "register (make run's demo is one node, in no register); tests/e2e/test_single_view.py sends it between real "
    "nodes and tests/e2e/test_demo_network.py runs the commands `mais demo --network` prints",
}
# A block serving until stopped: a `mais serve` command line that does not send it to the background with `&`.
SERVING = re.compile(r"^\s*\.venv/bin/mais serve\b[^&]*$", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    number: int
    heading: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.number:02d}-{re.sub(r'[^a-z0-9]+', '-', self.heading.lower()).strip('-')}"

    def skipped(self) -> str | None:
        return next((why for marker, why in SKIPPED.items() if marker in self.text), None)

    @property
    def serves(self) -> bool:
        return SERVING.search(self.text) is not None


def blocks() -> list[Block]:
    found: list[Block] = []
    heading = ""
    lines = iter(README.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.strip() == "```sh":
            body = []
            for inner in lines:
                if inner.strip() == "```":
                    break
                body.append(inner)
            found.append(Block(len(found) + 1, heading, "\n".join(body) + "\n"))
    return found


BLOCKS = blocks()


def test_every_skip_names_a_block_of_the_readme() -> None:
    for marker in SKIPPED:
        assert any(marker in block.text for block in BLOCKS), f"no README block holds {marker!r}: drop the skip"
    assert len(BLOCKS) > len(SKIPPED)


@dataclass(frozen=True)
class Demo:
    workdir: Path
    port: int
    env: dict[str, str]


def wait_ready(base: str, process: subprocess.Popen[bytes], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the node exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{base} was not ready within {within:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``make run PORT=…`` (the demo node as the README's first command starts it), ready, in a scratch checkout."""
    workdir = tmp_path_factory.mktemp("newcomer")
    for name in LINKED:
        if (ROOT / name).exists():  # node_modules is there once make has installed it, as make test does first
            (workdir / name).symlink_to(ROOT / name)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIS_")}
    log = (workdir.parent / "make-run.log").open("wb")
    # -o: the virtualenv is the checkout's, already built; make must not reinstall it from the scratch directory.
    process = subprocess.Popen(
        ["make", "-o", ".venv/.installed", "run", f"PORT={port}"],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, within=240)
        env |= {"MAIS_STORE": "sqlite:///./var/demo/mais.db", "PORT": str(free_port()), "NODE_PORT": str(free_port())}
        yield Demo(workdir, port, env)
    finally:
        stop(process)
        log.close()


def left_behind(workdir: Path) -> set[str]:
    return {p.name for p in workdir.iterdir() if p.name not in (*LINKED, "var")}


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_the_readme_block_runs_as_written(block: Block, demo: Demo) -> None:
    why = block.skipped()
    if why:
        pytest.skip(why)
    text = block.text.replace("127.0.0.1:8080", f"127.0.0.1:{demo.port}")
    before = left_behind(demo.workdir)
    if block.serves:
        serve_port = free_port()
        server = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", text.replace("--port 8080", f"--port {serve_port}")],
            cwd=demo.workdir,
            env=demo.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_ready(f"http://127.0.0.1:{serve_port}", server, within=120)
        finally:
            stop(server)
    else:
        output = demo.workdir.parent / f"{block.name}.out"
        with output.open("w+", encoding="utf-8") as out:
            # To a file, not a pipe: a process the block left running would hold a pipe open, and hide as a hang.
            ran = subprocess.Popen(
                ["bash", "-e", "-o", "pipefail", "-c", text],
                cwd=demo.workdir,
                env=demo.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                code = ran.wait(timeout=300)
            finally:
                still_running = running(ran.pid)
                stop_group(ran.pid)
            out.seek(0)
            said = out.read()
        assert code == 0, f"block {block.name} failed ({code}):\n{text}\n{said}"
        assert not still_running, f"block {block.name} left a process running:\n{text}\n{said}"
    extra = left_behind(demo.workdir) - before
    assert not extra, f"block {block.name} left {sorted(extra)} in the working directory"


def running(group: int, grace: float = 15) -> bool:
    """Whether a live process (not a zombie) of the block's group outlives it by more than ``grace`` seconds: a
    node the block stopped with ``kill`` takes a moment to shut down."""
    deadline = time.monotonic() + grace
    while members(group):
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)
    return False


def members(group: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if fields[0] != "Z" and int(fields[2]) == group:
            found.append(int(stat.parent.name))
    return found


def stop_group(group: int) -> None:
    if members(group):
        os.killpg(group, signal.SIGKILL)

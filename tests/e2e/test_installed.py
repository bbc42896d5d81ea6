"""Issue 12 item 11, done when: ``pip install .`` (non-editable, as a wheel or an image would) into a fresh
virtualenv, then ``mais serve`` and ``mais demo`` start with no settings, from a directory that is not the
checkout; ``mais init`` writes the organisation's copy and the shipped IG officers' cases pass on it.

pip may use its cache and the machine's package index; the install is bounded by a timeout. The package is built
from a copy of the checkout's tracked files, so the build leaves nothing in the checkout.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.test_readme import wait_ready
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def tracked_copy(target: Path) -> Path:
    """The checkout's tracked files (what a release is built from), copied to ``target``."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` directory of a fresh virtualenv holding the package, installed non-editable."""
    base = tmp_path_factory.mktemp("installed")
    source = tracked_copy(base / "source")
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True, timeout=120)
    pip = [str(base / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    done = subprocess.run([*pip, str(source)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return base / "venv" / "bin"


def clean_env() -> dict[str, str]:
    """No MAIS_* settings, and no path back to the checkout."""
    drop = ("MAIS_", "PYTHONPATH", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


@contextmanager
def started(command: list[str], cwd: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    log = (cwd / "node.log").open("wb")
    process = subprocess.Popen(command, cwd=cwd, env=clean_env(), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}", process, within=180)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        log.close()


@pytest.mark.slow
def test_the_installed_package_is_not_the_checkout(installed: Path, elsewhere: Path) -> None:
    where = subprocess.run(
        [str(installed / "python"), "-c", "import mais_node.config as c; print(c.DEFAULTS)"],
        cwd=elsewhere, env=clean_env(), capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert "site-packages" in where
    assert not where.startswith(str(ROOT))


@pytest.mark.slow
def test_mais_serve_starts_with_no_settings(installed: Path, elsewhere: Path) -> None:
    port = free_port()
    with started([str(installed / "mais"), "serve", "--port", str(port)], elsewhere, port):
        pass
    assert (elsewhere / "var" / "mais.db").is_file()


@pytest.mark.slow
def test_mais_demo_starts_with_no_settings_and_its_permit_enquiry_is_permitted(
    installed: Path, elsewhere: Path
) -> None:
    port = free_port()
    command = [str(installed / "mais"), "demo", "--port", str(port), "--people", "300"]
    with started(command, elsewhere, port):
        printed = (elsewhere / "node.log").read_text()
        permit = next(line.strip() for line in printed.splitlines() if "--reason s47-enquiry --ask" in line)
        argv = shlex.split(permit)
        assert argv[0] == str(installed / "mais")
        answer = subprocess.run(argv, cwd=elsewhere, env=clean_env(), capture_output=True, text=True, timeout=120)
        assert answer.returncode == 0, answer.stdout + answer.stderr
        assert answer.stdout.startswith("PERMITTED: match=True")


@pytest.mark.slow
def test_mais_init_writes_the_defaults_and_their_cases_pass(installed: Path, elsewhere: Path) -> None:
    mais = str(installed / "mais")
    init = subprocess.run([mais, "init", "own"], cwd=elsewhere, env=clean_env(), capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    line = next(x for x in init.stdout.splitlines() if x.startswith("export "))
    cases = subprocess.run(
        ["bash", "-c", f"{line} && {shlex.quote(mais)} policy test own/rules/tests"],
        cwd=elsewhere, env=clean_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cases.returncode == 0, cases.stdout + cases.stderr
    assert " 0 failed" in cases.stdout

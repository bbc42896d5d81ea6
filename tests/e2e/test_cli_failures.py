"""Issue 12 items 15 and 16: every ``mais`` command fails with one line saying what is wrong and what to do, a
non-zero exit and no traceback; a command other than serve/demo/init refuses a store that does not exist rather
than creating an empty one and answering from it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mais_node.cli import app
from tests.e2e.test_crash import wait_ready
from tests.processes import free_port

runner = CliRunner()
DEFAULT_STORE = "sqlite:///./var/mais.db"


def fails_in_one_line(*args: str) -> str:
    """Run ``mais ARGS``; assert a non-zero exit and exactly one line of output, no traceback; the line."""
    result = runner.invoke(app, list(args))
    lines = result.output.strip().splitlines()
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return lines[0]


# Every command that reads or writes a node's store, with the arguments it needs besides --store.
STORE_COMMANDS = [
    ["client", "list"],
    ["client", "revoke", "c-1"],
    ["client", "add", "--org", "LA0001", "--scope", "mais/enquiry", "--jwks-uri", "https://example.org/jwks.json"],
    ["org", "list"],
    ["org", "add", "--ods", "LA0001", "--name", "Leeds", "--type", "la-childrens-social-care"],
    ["org", "suspend", "LA0001"],
    ["org", "activate", "LA0001"],
    ["org", "verify", "LA0001"],
    ["audit", "verify"],
    ["audit", "export", "--out", "-"],
    ["policy", "check"],
    ["sharing-policy", "list"],
    ["sharing-policy", "retire", "x"],
    ["terminology", "load"],
]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_command_refuses_a_store_that_does_not_exist_and_creates_nothing(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAIS_STORE", raising=False)
    line = fails_in_one_line(*command)
    assert "no store at" in line
    assert "--store" in line
    assert "MAIS_STORE" in line
    assert not (tmp_path / "var").exists(), "the command created the default store"
    named = tmp_path / "elsewhere.db"
    line = fails_in_one_line(*command, "--store", f"sqlite:///{named}")
    assert str(named) in line
    assert not named.exists()


def test_person_import_and_sharing_policy_add_refuse_a_missing_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAIS_STORE", raising=False)
    people = tmp_path / "people.ndjson"
    people.write_text(json.dumps({"resourceType": "Patient", "id": "p1"}) + "\n")
    assert "no store at" in fails_in_one_line("person", "import", str(people))
    from mais_node.config import DEFAULTS

    agreement = DEFAULTS / "sharing-policies" / "LA0001-NODE01-2026.json"
    assert "no store at" in fails_in_one_line("sharing-policy", "add", str(agreement))
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("command", [*STORE_COMMANDS, ["person", "import"], ["sharing-policy", "add"]])
def test_help_names_the_default_store(command: list[str]) -> None:
    words = [w for w in command if not w.startswith("-")][:2]
    result = runner.invoke(app, [*words, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert DEFAULT_STORE in result.output


def test_the_demos_help_names_its_own_default_store() -> None:
    result = runner.invoke(app, ["demo", "--help"], terminal_width=200)
    assert "sqlite:///./var/demo/mais.db" in result.output
    assert DEFAULT_STORE not in result.output


def test_a_usage_error_is_one_line_naming_the_help() -> None:
    line = fails_in_one_line("enquire", "--client-id", "x")
    assert "--server" in line
    assert "mais enquire --help" in line


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    result = runner.invoke(app, ["keys", "generate", "--out", str(tmp_path / "keys")])
    assert result.exit_code == 0, result.output
    private = next((tmp_path / "keys").glob("private-*.jwk.json"))
    jwks = tmp_path / "keys" / "jwks.json"
    public = tmp_path / "public.jwk.json"
    public.write_text(json.dumps(json.loads(jwks.read_text())["keys"][0]))
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json {")
    return {"private": private, "jwks": jwks, "public": public, "garbage": garbage}


@pytest.mark.parametrize("command", ["enquire", "token"])
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("jwks", "a JWK Set"),
        ("public", "a public key"),
        ("garbage", "not JSON"),
    ],
)
def test_a_bad_key_file_is_named_in_one_line(command: str, kind: str, expected: str, keys: dict[str, Path]) -> None:
    args = [command, "--server", f"http://127.0.0.1:{free_port()}", "--client-id", "c", "--key", str(keys[kind])]
    if command == "enquire":
        args += ["--reason", "s47-enquiry", "--nhs-number", "9991316825"]
    line = fails_in_one_line(*args)
    assert expected in line
    assert str(keys[kind]) in line


def test_a_key_file_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    line = fails_in_one_line("token", "--server", "http://127.0.0.1:1", "--client-id", "c", "--key", "nope.json")
    assert "nope.json" in line


@pytest.mark.parametrize("command", ["enquire", "token"])
def test_a_server_that_is_not_running_is_one_line(command: str, keys: dict[str, Path]) -> None:
    server = f"http://127.0.0.1:{free_port()}"
    args = [command, "--server", server, "--client-id", "c", "--key", str(keys["private"])]
    if command == "enquire":
        args += ["--reason", "s47-enquiry", "--nhs-number", "9991316825"]
    line = fails_in_one_line(*args)
    assert f"cannot reach {server}" in line
    assert "running" in line


@pytest.mark.parametrize("server", ["127.0.0.1:8080", "ftp://127.0.0.1/x", "http://"])
def test_a_server_that_is_not_an_http_url_is_one_line(server: str, keys: dict[str, Path]) -> None:
    line = fails_in_one_line("token", "--server", server, "--client-id", "c", "--key", str(keys["private"]))
    assert "--server" in line
    assert "http://127.0.0.1:8080" in line


def test_keys_generate_refuses_to_overwrite_a_key_pair(keys: dict[str, Path]) -> None:
    before = keys["jwks"].read_bytes()
    line = fails_in_one_line("keys", "generate", "--out", str(keys["jwks"].parent))
    assert "already holds" in line
    assert keys["jwks"].read_bytes() == before
    assert len(list(keys["jwks"].parent.glob("private-*.jwk.json"))) == 1


# Against a real node: the refusals only a running node can give.


@dataclass(frozen=True)
class Live:
    base: str
    store: str
    client_id: str
    key: Path
    other_key: Path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("live")
    store = f"sqlite:///{folder / 'node.db'}"

    def mais(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output.strip()

    mais("init", str(folder / "own"), "--store", store)
    mais("org", "add", "--ods", "LA0001", "--name", "Leeds", "--type", "la-childrens-social-care", "--verified",
         "--store", store)  # fmt: skip
    for name in ("la", "other"):
        mais("keys", "generate", "--out", str(folder / name))
    client_id = mais("client", "add", "--org", "LA0001", "--jwks", str(folder / "la" / "jwks.json"), "--scope",
                     "mais/enquiry", "--store", store)  # fmt: skip
    mais("client", "add", "--org", "LA0001", "--jwks", str(folder / "other" / "jwks.json"), "--scope",
         "mais/enquiry", "--store", store)  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAIS_")} | {"MAIS_LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mais_node", "serve", "--store", store, "--port", str(port)],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_ready(server, base)  # type: ignore[arg-type]
        yield Live(
            base,
            store,
            client_id.splitlines()[-1],
            next((folder / "la").glob("private-*")),
            next((folder / "other").glob("private-*")),
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["enquire", "token"])
def test_refusals_from_a_running_node_are_one_line(command: str, live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIS_STORE", live.store)
    extra = ["--reason", "s47-enquiry", "--nhs-number", "9991316825"] if command == "enquire" else []

    def run(server: str, client_id: str, key: Path) -> str:
        return fails_in_one_line(command, "--server", server, "--client-id", client_id, "--key", str(key), *extra)

    unknown = run(live.base, "no-such-client", live.key)
    assert "unknown client" in unknown
    assert "--client-id" in unknown
    other = run(live.base, live.client_id, live.other_key)
    assert "refused" in other
    assert "--key" in other
    elsewhere = run(f"{live.base}/nowhere", live.client_id, live.key)
    assert "smart-configuration" in elsewhere
    assert "--server" in elsewhere


@pytest.mark.slow
def test_the_fhir_base_url_as_server_works_as_the_node_url(live: Live) -> None:
    result = runner.invoke(
        app, ["token", "--server", f"{live.base}/fhir", "--client-id", live.client_id, "--key", str(live.key)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count(".") == 2  # one JWT


@pytest.mark.slow
def test_enquire_refuses_a_missing_requester_store_before_asking(live: Live, tmp_path: Path) -> None:
    missing = tmp_path / "requester.db"
    line = fails_in_one_line(
        "enquire", "--server", live.base, "--client-id", live.client_id, "--key", str(live.key),
        "--reason", "s47-enquiry", "--nhs-number", "9991316825", "--store", f"sqlite:///{missing}",
    )  # fmt: skip
    assert "no store at" in line
    assert not missing.exists()


@pytest.fixture
def node_store(tmp_path: Path) -> str:
    from mais_node.config import Settings
    from mais_node.wiring import build_services

    url = f"sqlite:///{tmp_path / 'node.db'}"
    build_services(Settings(store=url)).close()
    return url


def misc_failures(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """Other failure paths of the commands: what is given → a word the one line must hold."""
    garbage = tmp / "garbage.json"
    return {
        "checkpoint missing": (["audit", "verify", "--checkpoint", str(tmp / "cp.json")], "cp.json"),
        "checkpoint not JSON": (["audit", "verify", "--checkpoint", str(garbage)], f"{garbage} is not JSON"),
        "jwks not JSON": (
            ["client", "add", "--org", "LA0001", "--scope", "mais/enquiry", "--jwks", str(garbage)],
            f"{garbage} is not JSON",
        ),
        "unknown organisation": (
            [
                "client",
                "add",
                "--org",
                "NOPE01",
                "--scope",
                "mais/enquiry",
                "--jwks-uri",
                "https://example.org/jwks.json",
            ],
            "NOPE01",
        ),
        "suspend unknown": (["org", "suspend", "NOPE01"], "NOPE01"),
        "revoke unknown": (["client", "revoke", "no-such-client"], "no-such-client"),
        "agreement not JSON": (["sharing-policy", "add", str(garbage)], f"{garbage} is not JSON"),
        "retire unknown": (["sharing-policy", "retire", "no-such-agreement"], "no-such-agreement"),
        "cases missing": (["policy", "test", str(tmp / "no-cases")], "no-cases"),
        "bad export time": (["audit", "export", "--out", "-", "--since", "yesterday"], "--since"),
        "bad format": (["audit", "export", "--out", "-", "--format", "xml"], "--format"),
    }


MISC = list(misc_failures(Path("/nonexistent")))


@pytest.mark.parametrize("case", MISC)
def test_other_failure_paths_are_one_line(case: str, node_store: str, tmp_path: Path) -> None:
    (tmp_path / "garbage.json").write_text("not json {")
    args, expected = misc_failures(tmp_path)[case]
    assert expected in fails_in_one_line(*args, "--store", node_store)


@pytest.mark.parametrize(
    ("store", "expected"),
    [("postgres://db/mais", "sqlite:///PATH or mongodb://"), ("mongodb://127.0.0.1:1/mais", "cannot reach")],
)
def test_a_store_url_that_is_not_a_store_is_one_line(store: str, expected: str) -> None:
    assert expected in fails_in_one_line("client", "list", "--store", store)


@pytest.mark.parametrize("setting", ["MAIS_RULES_DIR", "MAIS_TERMINOLOGY_DIR", "MAIS_PROFILES_DIR"])
def test_serve_refuses_a_defaults_folder_that_is_not_there_before_it_starts(
    setting: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(setting, str(tmp_path / "empty"))
    line = fails_in_one_line("serve", "--store", f"sqlite:///{tmp_path / 'node.db'}", "--port", str(free_port()))
    assert setting in line
    assert "mais init" in line


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_a_port_in_use_is_one_line_before_anything_starts(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    monkeypatch.chdir(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = fails_in_one_line(command, "--port", str(port), "--store", f"sqlite:///{tmp_path / 'node.db'}")
    assert f"127.0.0.1:{port}" in line
    assert "--port" in line
    assert not (tmp_path / "var").exists(), "the demo seeded before it found the port taken"


@pytest.mark.parametrize("kind", ["sqlite under a file", "mongodb not answering"])
def test_serve_refuses_a_store_it_cannot_open_before_it_starts(kind: str, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    store = f"sqlite:///{tmp_path / 'a-file' / 'node.db'}" if kind.startswith("sqlite") else "mongodb://127.0.0.1:1/m"
    line = fails_in_one_line("serve", "--store", store, "--port", str(free_port()))
    assert "cannot" in line
    assert store.split("?")[0] in line


def test_the_request_log_is_shown_only_when_asked_for() -> None:
    import logging.config

    from mais_node.config import Settings
    from mais_node.serving import log_config

    names = ("mais_node", "mais_node.access", "uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: (lg.handlers[:], lg.level, lg.propagate, lg.disabled) for n in names for lg in [logging.getLogger(n)]}
    try:
        for access, shown in ((True, True), (False, False)):
            logging.config.dictConfig(log_config(Settings(log_level="INFO"), access=access))
            assert logging.getLogger("mais_node.access").isEnabledFor(logging.INFO) is shown
            assert logging.getLogger("mais_node").isEnabledFor(logging.INFO)
            assert logging.getLogger("mais_node").handlers, "the node's own log has no handler: nothing is shown"
    finally:
        for name, (handlers, level, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate, logger.disabled = propagate, disabled

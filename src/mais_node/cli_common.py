"""What every ``mais`` command shares: the ``--store`` option, the refusal of a store that does not exist, and
one-line failures (issue 12 items 15 and 16).

A command other than ``serve``, ``demo`` and ``init`` works on a node that exists: given a store that is not there
it says so and stops, instead of creating an empty one and answering from it (an empty register, a verified empty
audit trail). Every failure of every command is one line on standard error, saying what is wrong and what to do,
with a non-zero exit: ``MaisGroup`` catches what a command raises, once, for the whole command tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

try:  # typer 0.22+ carries its own copy of click; before, it used click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors  # type: ignore[no-redef]

from mais_node.config import Settings
from mais_node.errors import InvalidRequest, MaisError, NotConformant, Unavailable

DEFAULT_STORE: str = Settings.model_fields["store"].default
DEMO_STORE = "sqlite:///./var/demo/mais.db"

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help=f"sqlite:///PATH or mongodb://… (default: MAIS_STORE, else {DEFAULT_STORE})"),
]


class StoreMissing(MaisError):
    code = "not-found"


def node_settings(store: str | None, *, create: bool = False, **overrides: Any) -> Settings:
    """The settings for a command on ``store`` (else MAIS_STORE, else the default); refused unless it exists."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if store:
        values["store"] = store
    settings = Settings(**values)
    if not create:
        require_store(settings.store, named=bool(store))
    return settings


def require_store(url: str, *, named: bool = True) -> None:
    if _exists(url):
        return
    where = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url.split("?")[0]
    source = "given" if named else ("the default" if url == DEFAULT_STORE else "from MAIS_STORE")
    raise StoreMissing(
        f"no store at {where} ({url}, {source}): pass --store or set MAIS_STORE to your node's store"
        f" (the demo's is {DEMO_STORE}), or create one with `mais init DIR`"
    )


def _exists(url: str) -> bool:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        return path == ":memory:" or Path(path).is_file()
    if url.startswith(("mongodb://", "mongodb+srv://")):
        return _mongo_has_collections(url)
    return True  # not a store URL at all: opening it says so


def _mongo_has_collections(url: str) -> bool:
    """A MongoDB database exists once something was written to it; pymongo would create an empty one silently."""
    from pymongo.errors import PyMongoError

    from mais_node.storage.mongo import connect

    database = connect(url)
    try:
        return bool(database.list_collection_names())
    except PyMongoError as exc:
        raise Unavailable(f"cannot reach the MongoDB store {url.split('?')[0]}: is the replica set up?") from exc
    finally:
        database.client.close()


def check_defaults(settings: Settings) -> None:
    """Before serving: the rules, vocabularies and profiles the settings name are there. Without this a wrong
    ``MAIS_RULES_DIR`` failed inside the server's start with a traceback, and a wrong vocabulary or profile folder
    started a node that refused every enquiry."""
    from mais_node.policy import load_rule_set

    remedy = "point it at the organisation's copy (`mais init DIR` writes one), or unset it for the package's own"
    try:
        load_rule_set(settings.rules_dir)
    except MaisError as exc:
        raise NotConformant(f"{exc.diagnostics} (MAIS_RULES_DIR): {remedy}") from exc
    for setting, path in (
        ("MAIS_TERMINOLOGY_DIR", settings.terminology_dir),
        ("MAIS_PROFILES_DIR", settings.profiles_dir),
    ):
        if not any(path.glob("*.json")):
            raise NotConformant(f"{setting} {path} holds no *.json files: {remedy}")


def check_store(url: str) -> None:
    """Before serving: the store opens (a SQLite file can be made there, a MongoDB server answers); otherwise the
    failure came from inside the server's start, as a traceback."""
    if url.startswith(("mongodb://", "mongodb+srv://")):
        _mongo_has_collections(url)
        return
    from mais_node.wiring import open_store

    try:
        _, _, close = open_store(url)
    except OSError as exc:
        raise Unavailable(
            f"cannot create the store {url} ({exc.strerror}): give --store a path the node may write"
        ) from exc
    close()


def check_port(host: str, port: int) -> None:
    """Before serving (and before the demo seeds): the address is free. Uvicorn's own report of a taken port is
    several log lines after the start, and the demo's would come after a minute of seeding."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a restart is not refused
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise Unavailable(
                f"cannot listen on {host}:{port} ({exc.strerror}): another node (make run?) may be there;"
                " choose another --port (make run PORT=8081)"
            ) from exc


def read_json(path: Path, what: str) -> Any:
    """The JSON document in ``path``; one that is not JSON is refused naming the file and what it should hold."""
    import orjson

    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"{path} is not JSON ({exc}): give {what}") from exc


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line on standard error and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line a person can act on."""
    import httpx
    import orjson

    if isinstance(exc, MaisError):
        text = exc.diagnostics
    elif isinstance(exc, httpx.ConnectError | httpx.TimeoutException):
        text = f"cannot reach {_origin(exc)}: is the node running there? (check --server)"
    elif isinstance(exc, httpx.HTTPError):
        text = f"the request to {_origin(exc)} failed: {exc}"
    elif isinstance(exc, OSError):
        text = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    elif isinstance(exc, orjson.JSONDecodeError):
        text = f"not JSON: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def _origin(exc: Any) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # httpx raises when the error has no request
        return "the server"
    return f"{url.scheme}://{url.netloc.decode()}"


class MaisGroup(TyperGroup):
    """The ``mais`` command tree: every failure below it is one line and an exit code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except click_errors.NoArgsIsHelpError:
            raise
        except click_errors.UsageError as exc:
            where = " ".join(["mais", *(exc.ctx.command_path.split()[1:] if exc.ctx else [])])
            fail(f"{exc.format_message()} (`{where} --help` explains)", exc.exit_code)
        except (typer.Exit, typer.Abort, click_errors.ClickException):
            raise
        except Exception as exc:  # the one place a command's failure becomes its one line
            fail(one_line(exc))

"""``mais review list|show|decide``: the IG officer's review queue from the command line, over HTTP with a
reviewer's key file (as ``mais demo`` writes ``var/demo/reviewer.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
import orjson
import typer

from mais_node.review_client import ReviewClient, ReviewError, describe, load_credentials

review_app = typer.Typer(
    help="Enquiries referred for review: list them, show one, decide (permit or deny, with a reason).",
    no_args_is_help=True,
)
ServerOpt = Annotated[str, typer.Option(help="Base URL of the node, e.g. http://127.0.0.1:8080")]
KeyFileOpt = Annotated[
    Path,
    typer.Option(
        "--key-file",
        dir_okay=False,
        help="A reviewer's key file: JSON with client_id and key (the demo's is var/demo/reviewer.json); the "
        "client needs the scopes mais/reviewer and system/Task.rs",
    ),
]


def _client(server: str, key_file: Path) -> ReviewClient:
    return ReviewClient(server, load_credentials(key_file))


def _failed(exc: Exception) -> typer.Exit:
    """One line saying what is wrong and what to do; exit 1."""
    if isinstance(exc, httpx.HTTPStatusError):
        message = f"{exc.request.url} answered {exc.response.status_code}: is --server the node's base URL (no /fhir)?"
    elif isinstance(exc, httpx.HTTPError):
        message = f"the node at the --server address did not answer ({type(exc).__name__}): is it running?"
    else:
        message = str(exc)
    typer.echo(f"mais review: {message}", err=True)
    return typer.Exit(1)


@review_app.command("list")
def list_pending(server: ServerOpt, key_file: KeyFileOpt) -> None:
    """The enquiries awaiting an IG officer's decision, oldest first: one line each."""
    try:
        pending = [describe(task) for task in _client(server, key_file).pending()]
    except (ReviewError, RuntimeError, httpx.HTTPError) as exc:
        raise _failed(exc) from None
    if not pending:
        typer.echo("no enquiries await review")
    for task in pending:
        typer.echo(
            f"{task['id']}  {task['updated'][:19]}  {task['requester']}  {task['purpose']}  {task['items']}  "
            f"{task['subject']}"
        )


@review_app.command("show")
def show(
    task_id: Annotated[str, typer.Argument(help="The Task id (from mais review list)")],
    server: ServerOpt,
    key_file: KeyFileOpt,
    json_out: Annotated[bool, typer.Option("--json", help="Print the whole Task as FHIR JSON")] = False,
) -> None:
    """One referred enquiry: who asked, why, about whom, what is pending."""
    try:
        task = _client(server, key_file).task(task_id)
    except (ReviewError, RuntimeError, httpx.HTTPError) as exc:
        raise _failed(exc) from None
    if json_out:
        typer.echo(orjson.dumps(task, option=orjson.OPT_INDENT_2).decode())
        return
    for field, value in describe(task).items():
        typer.echo(f"{field:>10}: {value}")


@review_app.command("decide")
def decide(
    task_id: Annotated[str, typer.Argument(help="The Task id (from mais review list)")],
    server: ServerOpt,
    key_file: KeyFileOpt,
    decision: Annotated[str, typer.Option(help="permit or deny")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail with the decision)")],
) -> None:
    """Permit or deny a referred enquiry; on permit the answer is released to the requester."""
    if decision not in ("permit", "deny"):
        typer.echo("mais review: --decision must be permit or deny", err=True)
        raise typer.Exit(2)
    try:
        task = _client(server, key_file).decide(task_id, decision, reason)
    except (ReviewError, RuntimeError, httpx.HTTPError) as exc:
        raise _failed(exc) from None
    typer.echo(f"Task/{task.get('id', task_id)}: {decision} recorded; the enquiry is now {task.get('status')}")

"""``mais single-view`` (issue 15 item 7): a practitioner's system asking its own node's ``$single-view``.

Prints one line per partner as its row arrives or changes (so a table fills in, on a terminal or piped), then the
partners still pending. Without ``--wait`` it prints the view as it stands at the node's live deadline; with
``--wait`` it follows the view until no row can change. Failures print one line and exit 1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer

from mais_node.client import EnquiryClient, Subject, User, enquiry_parameters
from mais_node.network.view import read_rows

SCOPE = "mais/single-view system/Task.rs"
POLL_SECONDS = 0.5


def row_lines(view: dict[str, Any]) -> dict[str, str]:
    """One printable line per partner of a ``mais-single-view`` Task, by ODS code."""
    lines = {}
    for row in read_rows(view):
        parts, detail = row.parts, []
        if "open" in parts:
            detail.append(f"open={str(parts['open']).lower()}")
        if isinstance(parts.get("contact"), dict):
            org = row.contact or {}
            phone = next((t.get("value") for t in org.get("telecom", [])), "")
            detail.append(f"contact: {org.get('name', '')} {phone}".strip())
        if parts.get("reason"):
            detail.append(str(parts["reason"]))
        if row.state == "PENDING_REVIEW" and parts.get("partnerTask"):
            detail.append(f"follow {parts['partnerTask']}")
        lines[row.organisation] = (
            f"{row.organisation:<8} {row.state:<15} {row.name[:36]:<36} {'; '.join(detail)}".rstrip()
        )
    return lines


def _fail(message: str) -> typer.Exit:
    typer.echo(f"mais single-view: {message}", err=True)
    return typer.Exit(1)


def _diagnostics(response: httpx.Response) -> str:
    try:
        return "; ".join(i.get("diagnostics", "") for i in response.json().get("issue", []))[:300]
    except ValueError:
        return response.text[:200]


def single_view(
    server: Annotated[str, typer.Option(help="Base URL of your own node, e.g. http://127.0.0.1:8080")],
    client_id: Annotated[str, typer.Option("--client-id", help="This system's client id at that node")],
    key: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="This system's private JWK file")],
    reason: Annotated[str, typer.Option(help="Asserted purpose code (e.g. s47-enquiry) or a legislation URI")],
    ask: Annotated[list[str] | None, typer.Option("--ask", help="is-known, is-open, contact (repeatable)")] = None,
    nhs_number: Annotated[str | None, typer.Option("--nhs-number")] = None,
    family: Annotated[str | None, typer.Option("--family")] = None,
    given: Annotated[str | None, typer.Option("--given")] = None,
    birth_date: Annotated[str | None, typer.Option("--birth-date")] = None,
    postcode: Annotated[str | None, typer.Option("--postcode")] = None,
    target: Annotated[list[str] | None, typer.Option("--target", help="Ask exactly this ODS code (repeatable)")] = None,
    area: Annotated[str | None, typer.Option("--area", help="Local authority area (ONS LAD code)")] = None,
    user_name: Annotated[str | None, typer.Option("--user-name", help="The person asking: their name")] = None,
    user_role: Annotated[str | None, typer.Option("--user-role", help="The person asking: their role")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the view until no row can change")] = False,
    wait_seconds: Annotated[float, typer.Option("--wait-seconds", help="How long --wait waits")] = 900,
) -> None:
    """Ask every relevant partner at once through your node; print one row per partner as rows arrive."""
    try:
        private = orjson.loads(key.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        raise _fail(f"{key} is not a private JWK file; make one with 'mais keys generate'") from None
    parameters = enquiry_parameters(
        Subject(nhs_number, family, given, birth_date, postcode),
        reason,
        ask or ["is-known", "is-open", "contact"],
        [],
        User(None, user_name, user_role),
    )
    parameters["parameter"] += [{"name": "target", "valueString": t} for t in target or []]
    if area:
        parameters["parameter"].append({"name": "area", "valueString": area})
    client = EnquiryClient(server, client_id, private, http=httpx.Client(timeout=120))
    try:
        _run(client, parameters, wait=wait, wait_seconds=wait_seconds)
    except httpx.HTTPError as exc:
        raise _fail(f"{server} could not be reached ({type(exc).__name__}); is the node running?") from None
    except RuntimeError as exc:
        raise _fail(f"{exc}; the system needs the scopes {SCOPE}") from None


def _run(client: EnquiryClient, parameters: dict[str, Any], *, wait: bool, wait_seconds: float) -> None:
    bearer = {"Authorization": f"Bearer {client.token(SCOPE)}"}
    headers = bearer | {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    if wait:
        headers["Prefer"] = "respond-async"
    answer = client.http.post(
        f"{client.server}/fhir/Patient/$single-view", content=orjson.dumps(parameters), headers=headers
    )
    if answer.status_code not in (200, 202):
        raise _fail(f"refused ({answer.status_code}): {_diagnostics(answer)}")
    view = answer.json()
    shown: dict[str, str] = {}
    _show(view, shown)
    location = answer.headers.get("content-location")
    deadline = time.monotonic() + wait_seconds
    while wait and location and view.get("status") != "completed" and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        polled = client.http.get(location, headers=bearer)
        if polled.status_code != 200:
            raise _fail(f"the view could not be read ({polled.status_code}): {_diagnostics(polled)}")
        view = polled.json()
        _show(view, shown)
    pending = [ods for ods, line in shown.items() if " PENDING_REVIEW " in line]
    state = "complete" if view.get("status") == "completed" else "in progress"
    typer.echo(f"view {location} ({state}); pending: {', '.join(pending) or 'none'}")


def _show(view: dict[str, Any], shown: dict[str, str]) -> None:
    for ods, line in row_lines(view).items():
        if shown.get(ods) != line:
            typer.echo(line)
            shown[ods] = line

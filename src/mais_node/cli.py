"""The ``mais`` command line (DESIGN §9). Each subcommand takes ``--store``; ``--help`` explains."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mais_node.cli_governance import audit_app, policy_app, sharing_app, terminology_app
from mais_node.cli_people import user_app
from mais_node.cli_register import client_app, keys_app, org_app
from mais_node.config import Settings

app = typer.Typer(
    help="mais-node: answer MAIS enquiries under machine-enforced information governance.", no_args_is_help=True
)
person_app = typer.Typer(
    help="The node's person index (Patients and their EpisodeOfCare involvements).", no_args_is_help=True
)
app.add_typer(person_app, name="person")
app.add_typer(policy_app, name="policy")
app.add_typer(sharing_app, name="sharing-policy")
app.add_typer(audit_app, name="audit")
app.add_typer(terminology_app, name="terminology")
app.add_typer(keys_app, name="keys")
app.add_typer(org_app, name="org")
app.add_typer(client_app, name="client")
app.add_typer(user_app, name="user")

StoreOpt = Annotated[str | None, typer.Option("--store", help="sqlite:///PATH or mongodb://… (default MAIS_STORE)")]


def _settings(store: str | None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if store:
        values["store"] = store
    return Settings(**values)  # type: ignore[arg-type]


@app.command()
def serve(
    store: StoreOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    reload_rules: Annotated[
        bool, typer.Option("--reload-rules", help="Reload decision rules when their files change")
    ] = False,
) -> None:
    """Serve the FHIR API at /fhir."""
    import uvicorn

    settings = _settings(store, host=host, port=port)
    # Workers are separate processes: the settings reach them through the environment.
    os.environ["MAIS_STORE"] = settings.store
    os.environ["MAIS_HOST"] = settings.host
    os.environ["MAIS_PORT"] = str(settings.port)
    if reload_rules:
        os.environ["MAIS_RELOAD_RULES"] = "1"
    uvicorn.run(
        "mais_node.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


@person_app.command("import")
def person_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="FHIR Bundle or NDJSON of Patient/EpisodeOfCare")
    ],
    store: StoreOpt = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows of a file with bad ones")
    ] = False,
) -> None:
    """Import people and their involvements; every row is validated first."""
    from mais_node.fhir.bulk import import_rows, read_rows
    from mais_node.wiring import build_services

    rows = list(read_rows(file))
    services = build_services(_settings(store))
    try:
        report = import_rows(services.resources, rows, skip_invalid=skip_invalid)
    finally:
        services.close()
    for row in report.rejected:
        typer.echo(f"line {row.line}: {'; '.join(row.problems)}", err=True)
    if not report.written:
        typer.echo(
            f"{len(report.rejected)} invalid row(s): nothing imported (use --skip-invalid to import the rest)", err=True
        )
        raise typer.Exit(1)
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.imported.items())) or "nothing"
    typer.echo(f"imported {counts}; rejected {len(report.rejected)}")


@app.command()
def demo(
    store: StoreOpt = None,
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8080,
    people: Annotated[int, typer.Option(help="Synthetic people in the person index")] = 10_000,
) -> None:
    """Seed a demo node (register, systems and keys under var/demo/, rules, people) and serve it on 127.0.0.1."""
    from mais_node.console.demo import demo_accounts
    from mais_node.demo import commands, seed
    from mais_node.wiring import build_services

    store = store or "sqlite:///./var/demo/mais.db"
    settings = _settings(store, host="127.0.0.1", port=port)
    services = build_services(settings)
    try:
        typer.echo(f"seeding the demo node on {store} (first run: {people} synthetic people; a minute or so)")
        clients = seed(services, Path("var/demo"), people=people)
        ready = commands(services, clients, settings.public_base)
        accounts = demo_accounts(services, Path("var/demo"))
    finally:
        services.close()
    typer.echo(
        f"\nmais-node demo at {settings.public_base}/fhir"
        f"  (CapabilityStatement: curl -s {settings.public_base}/fhir/metadata)"
    )
    typer.echo("In another terminal, try an enquiry:\n")
    for outcome, command in ready:
        typer.echo(f"  # expect {outcome}\n  {command}\n")
    typer.echo(f"Audit: .venv/bin/mais audit verify --store {store}\n")
    typer.echo(f"The console: {settings.public_base}/console, signed in as one of (name / password):")
    typer.echo("".join(f"  {name} / {password}   {role}\n" for name, role, password in accounts))
    serve(store=store, host="127.0.0.1", port=port, workers=1, reload_rules=False)


@app.command()
def enquire(
    server: Annotated[str, typer.Option(help="Base URL of the node to ask, e.g. http://127.0.0.1:8080")],
    client_id: Annotated[str, typer.Option("--client-id", help="This system's client id at that node")],
    key: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="This system's private JWK file")],
    reason: Annotated[str, typer.Option(help="Asserted purpose code (e.g. s47-enquiry) or a legislation URI")],
    ask: Annotated[list[str] | None, typer.Option("--ask", help="is-known, is-open, contact (repeatable)")] = None,
    nhs_number: Annotated[str | None, typer.Option("--nhs-number")] = None,
    family: Annotated[str | None, typer.Option("--family")] = None,
    given: Annotated[str | None, typer.Option("--given")] = None,
    birth_date: Annotated[str | None, typer.Option("--birth-date")] = None,
    postcode: Annotated[str | None, typer.Option("--postcode")] = None,
    sharing_policy: Annotated[list[str] | None, typer.Option("--sharing-policy", help="Agreement relied on")] = None,
    store: StoreOpt = None,
) -> None:
    """Ask a node "do you know this person?" as a registered system; print the answer."""
    import orjson

    from mais_node.client import EnquiryClient, Subject, enquiry_parameters, summary

    private = orjson.loads(key.read_bytes())
    subject = Subject(nhs_number, family, given, birth_date, postcode)
    parameters = enquiry_parameters(subject, reason, ask or ["is-known"], sharing_policy or [])
    response = EnquiryClient(server, client_id, private).enquire(parameters)
    if store:
        _log_requester_side(store, parameters, response.content, response.status_code)
    typer.echo(summary(response))
    typer.echo(response.text)
    if response.status_code >= 400:
        raise typer.Exit(1)


@app.command()
def token(
    server: Annotated[str, typer.Option(help="Base URL of the node, e.g. http://127.0.0.1:8080")],
    client_id: Annotated[str, typer.Option("--client-id", help="This system's client id at that node")],
    key: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="This system's private JWK file")],
    scope: Annotated[str, typer.Option(help="Space-separated scopes to ask for")] = "mais/enquiry",
) -> None:
    """Print a 5-minute access token (SMART Backend Services, signed client assertion) for scripts and curl."""
    import orjson

    from mais_node.client import EnquiryClient

    typer.echo(EnquiryClient(server, client_id, orjson.loads(key.read_bytes())).token(scope))


def _log_requester_side(store: str, sent: dict[str, object], received: bytes, status: int) -> None:
    """MAIS asks requesters to keep their own record of what they asked and what they were told."""
    import uuid

    import orjson

    from mais_node.audit import balp
    from mais_node.audit.actors import Actor
    from mais_node.wiring import build_services

    services = build_services(_settings(store))
    try:
        event = balp.enquiry_received(
            services.node,
            services.clock.now(),
            Actor(org_ods=services.settings.node_org, client_id="mais-enquire"),
            enquiry_id=uuid.uuid4().hex,
            raw_request=orjson.dumps({"sent": sent, "status": status, "received": received.decode("utf-8", "replace")}),
            subject=None,
        )
        services.checkpointer.append(event)
    finally:
        services.close()


def main() -> None:
    app()

"""The ``mais`` command line (DESIGN §9). Each subcommand takes ``--store``; ``--help`` explains."""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mais_node.cli_common import (
    DEMO_STORE,
    MaisGroup,
    StoreOpt,
    check_defaults,
    check_port,
    check_store,
    node_settings,
    require_store,
)
from mais_node.cli_governance import audit_app, policy_app, sharing_app, terminology_app
from mais_node.cli_import import person_app
from mais_node.cli_network import authority_app, check_register_settings, register_app
from mais_node.cli_people import user_app
from mais_node.cli_register import client_app, keys_app, org_app
from mais_node.cli_review import review_app
from mais_node.cli_single_view import single_view
from mais_node.config import Settings
from mais_node.errors import VersionConflict

if TYPE_CHECKING:
    from mais_node.client import EnquiryClient, Subject, User

app = typer.Typer(
    help="mais-node: answer MAIS enquiries under machine-enforced information governance.",
    no_args_is_help=True,
    cls=MaisGroup,
    pretty_exceptions_enable=False,
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
app.add_typer(review_app, name="review")
app.add_typer(authority_app, name="authority")
app.add_typer(register_app, name="register")
app.command("single-view")(single_view)


def check_console_oidc(settings: Settings) -> None:
    """Before ``mais serve`` starts: the console's identity provider settings make sense, or one line and exit 2."""
    from mais_node.console.oidc import OidcSettingsError, oidc_config

    try:
        oidc_config(settings)
    except OidcSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _settings(store: str | None, *, create: bool = False, **overrides: object) -> Settings:
    """Settings for a command; the store must exist unless the command is one that creates it (serve, demo, init)."""
    return node_settings(store, create=create, **overrides)


@app.command()
def serve(
    store: StoreOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes")] = 1,
    reload_rules: Annotated[
        bool, typer.Option("--reload-rules", help="Reload decision rules when their files change")
    ] = False,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log one line per request: method, route, status, time")
    ] = False,
) -> None:
    """Serve the FHIR API at /fhir."""
    import uvicorn

    from mais_node.serving import PROTOCOL, log_config

    settings = _settings(store, create=True, host=host, port=port)
    check_defaults(settings)
    check_port(settings.host, settings.port)
    check_console_oidc(settings)  # before the store is created
    check_store(settings.store)
    check_register_settings(settings)  # one line and exit 1, not a traceback from every worker
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
        log_config=log_config(settings, access=access_log),
        access_log=False,  # the node's own access log (mais_node.access) names the route, never a path's ids
        # The node's own bounds on headers, connections and addresses (serving.py); the caller's address from
        # X-Forwarded-For only from MAIS_TRUSTED_PROXIES, in the app (api/proxies.py), never uvicorn's default.
        http=PROTOCOL,
        proxy_headers=False,
        timeout_keep_alive=settings.keep_alive_seconds,
    )


@person_app.command("reindex")
def person_reindex(store: StoreOpt = None) -> None:
    """Build the person index again from the stored Patients (a store restored from elsewhere; a check)."""
    from mais_node.wiring import build_services

    services = build_services(_settings(store))
    try:
        started = time.perf_counter()
        built = services.persons.rows.rebuild()
    finally:
        services.close()
    typer.echo(f"indexed {built} people in {time.perf_counter() - started:.1f} s")


@app.command()
def demo(
    store: Annotated[
        str | None, typer.Option("--store", help=f"sqlite:///PATH or mongodb://… (default {DEMO_STORE})")
    ] = None,
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8080,
    people: Annotated[int, typer.Option(help="Synthetic people in the person index")] = 10_000,
    network: Annotated[
        bool, typer.Option("--network", help="A register authority and a network of nodes from --port on (issue 15)")
    ] = False,
) -> None:
    """Seed a demo node (register, systems and keys under var/demo/, rules, people) and serve it on 127.0.0.1."""
    if network:
        from mais_node.demo_network import run

        try:
            run(Path("var/demo-network"), port, typer.echo)
        except (RuntimeError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        return
    import time

    from mais_node.console.demo import demo_accounts
    from mais_node.demo import commands, program, seed
    from mais_node.wiring import build_services

    store = store or DEMO_STORE
    settings = _settings(store, create=True, host="127.0.0.1", port=port)
    check_port(settings.host, settings.port)
    check_console_oidc(settings)  # before seeding, not after it
    services = build_services(settings)
    try:
        first = services.resources.search("Patient", [("_summary", "count")]).page.total == 0
        started = time.monotonic()
        if first:
            typer.echo(f"seeding the demo node on {store}: {people} synthetic people, first run only")
        clients = seed(services, Path("var/demo"), people=people)
        ready = commands(services, clients, settings.public_base)
        accounts = demo_accounts(services, Path("var/demo"))
    finally:
        services.close()
    seeded = f"seeded in {time.monotonic() - started:.0f} s" if first else f"already seeded: {store}"
    typer.echo(
        f"\nmais-node demo at {settings.public_base}/fhir ({seeded})"
        f"\n  CapabilityStatement: curl -s {settings.public_base}/fhir/metadata"
    )
    typer.echo("In another terminal, try an enquiry:\n")
    for outcome, command in ready:
        # The three enquiries say what to expect; the key files of the reviewer and the auditor say what they are.
        label = f"expect {outcome}" if outcome in ("PERMIT", "DENY", "REVIEW") else outcome
        typer.echo(f"  # {label}\n  {command}\n")
    typer.echo(
        "Point the other commands at the demo's store (paste in that terminal):\n"
        f"  export MAIS_STORE={_absolute(store)}\n"
        f"  {program()} audit verify\n"
        "The demo's reviewer and auditor systems are var/demo/reviewer.json and var/demo/auditor.json.\n"
        "Requests are logged below as they arrive.\n"
    )
    typer.echo(f"The console: {settings.public_base}/console, signed in as one of (name / password):")
    typer.echo("".join(f"  {name} / {password}   {role}\n" for name, role, password in accounts))
    serve(store=store, host="127.0.0.1", port=port, workers=1, reload_rules=False, access_log=True)


def _absolute(store: str) -> str:
    """A SQLite store URL that works from any directory (the paste line may be used elsewhere)."""
    if not store.startswith("sqlite:///") or store == "sqlite:///:memory:":
        return store
    return f"sqlite:///{Path(store.removeprefix('sqlite:///')).resolve()}"


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(file_okay=False, help="Where to write the organisation's own copy")],
    store: StoreOpt = None,
) -> None:
    """Write an editable copy of the national defaults (rules, vocabularies, profiles, sharing policies) for an
    organisation to own, create the store, and print the settings that point the node at both."""
    import shutil

    from mais_node.config import DEFAULTS
    from mais_node.wiring import build_services, start

    if directory.exists() and any(directory.iterdir()):
        raise VersionConflict(f"{directory} is not empty: give a new directory for the organisation's own copy")
    shutil.copytree(DEFAULTS, directory, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    own = directory.resolve()
    dirs = {"rules_dir": own / "rules", "terminology_dir": own / "terminology", "profiles_dir": own / "profiles"}
    settings = _settings(store, create=True, **dirs)
    services = build_services(settings)
    try:
        start(services)
    finally:
        services.close()
    exports = {"MAIS_STORE": _absolute(settings.store)} | {f"MAIS_{k.upper()}": str(v) for k, v in dirs.items()}
    line = "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in exports.items())
    (directory / "mais.env").write_text(line + "\n", encoding="utf-8")
    typer.echo(f"wrote the national defaults to {own} for this organisation to edit, and the store {settings.store}")
    typer.echo(f"point the node and every command at them (also in {directory / 'mais.env'}):\n{line}")


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
    user_id: Annotated[str | None, typer.Option("--user-id", help="The person asking: their SDS user id")] = None,
    user_name: Annotated[str | None, typer.Option("--user-name", help="The person asking: their name")] = None,
    user_role: Annotated[str | None, typer.Option("--user-role", help="The person asking: their role")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="If referred, follow the Task until an IG officer decides (system/Task.r)")
    ] = False,
    wait_seconds: Annotated[float, typer.Option("--wait-seconds", help="How long --wait waits")] = 900,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Keep the requester's own audit record of the enquiry in this existing store (sqlite:///PATH or"
            " mongodb://…); without it none is kept (MAIS_STORE is not used)",
        ),
    ] = None,
) -> None:
    """Ask a node "do you know this person?" as a registered system; print the answer."""
    from mais_node.adapters.jose_keys import read_private_jwk
    from mais_node.client import EnquiryClient, Subject, User, enquiry_parameters, summary, task_url

    private = read_private_jwk(key)
    if store:
        require_store(Settings(store=store).store)  # before asking: the requester's own record must be kept
    subject = Subject(nhs_number, family, given, birth_date, postcode)
    user = User(user_id, user_name, user_role)
    parameters = enquiry_parameters(subject, reason, ask or ["is-known"], sharing_policy or [], user)
    with EnquiryClient(server, client_id, private) as client:
        response = client.enquire(parameters)
        if store:
            _log_requester_side(store, parameters, response.content, response.status_code, subject, user)
        typer.echo(summary(response))
        url = task_url(response)
        if response.status_code == 202 and wait and url:
            _wait_for_review(client, url, wait_seconds)
            return
    typer.echo(response.text)
    if response.status_code >= 400:
        raise typer.Exit(1)


def _wait_for_review(client: EnquiryClient, url: str, seconds: float) -> None:
    """Follow a referred enquiry's Task until it is decided; print the outcome (exit 1 if denied or undecided)."""
    import orjson

    from mais_node.client import follow, task_summary

    typer.echo(f"waiting up to {seconds:g} s for an IG officer's decision …")
    try:
        task = follow(client, url, timeout=seconds)
    except RuntimeError as exc:
        typer.echo(f"mais enquire: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(task_summary(task))
    typer.echo(orjson.dumps(task).decode())
    if task.get("status") != "completed":
        raise typer.Exit(1)


@app.command()
def token(
    server: Annotated[str, typer.Option(help="Base URL of the node, e.g. http://127.0.0.1:8080")],
    client_id: Annotated[str, typer.Option("--client-id", help="This system's client id at that node")],
    key: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="This system's private JWK file")],
    scope: Annotated[str, typer.Option(help="Space-separated scopes to ask for")] = "mais/enquiry",
) -> None:
    """Print a 5-minute access token (SMART Backend Services, signed client assertion) for scripts and curl."""
    from mais_node.adapters.jose_keys import read_private_jwk
    from mais_node.client import EnquiryClient

    with EnquiryClient(server, client_id, read_private_jwk(key)) as client:
        typer.echo(client.token(scope))


def _log_requester_side(
    store: str, sent: dict[str, object], received: bytes, status: int, subject: Subject, user: User
) -> None:
    """MAIS asks requesters to keep their own record of what they asked and what they were told: about whom (so
    the requester's auditor finds it by NHS number) and for which of its users."""
    import uuid

    import orjson

    from mais_node.audit import balp
    from mais_node.audit.actors import Actor, Coding
    from mais_node.audit.actors import Subject as Audited
    from mais_node.wiring import build_services

    services = build_services(_settings(store))
    asked = " ".join(p for p in (subject.given, subject.family) if p) + (
        f", born {subject.birth_date}" if subject.birth_date else ""
    )
    about = Audited(
        nhs_number=subject.nhs_number, display=None if subject.nhs_number else f"{asked} (no NHS number given)"
    )
    actor = Actor(
        org_ods=services.settings.node_org,
        client_id="mais-enquire",
        user_id=user.identifier,
        user_name=user.name,
        user_role=Coding("urn:mais:user-role", user.role) if user.role else None,
    )
    try:
        event = balp.enquiry_received(
            services.node,
            services.clock.now(),
            actor,
            enquiry_id=uuid.uuid4().hex,
            raw_request=orjson.dumps({"sent": sent, "status": status, "received": received.decode("utf-8", "replace")}),
            subject=about,
        )
        services.checkpointer.append(event)
    finally:
        services.close()


def main() -> None:
    app()

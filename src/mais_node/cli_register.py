"""``mais keys``, ``mais org`` and ``mais client``: key pairs for partners, the organisations register, its systems.

Mounted by ``mais_node.cli`` with ``app.add_typer(keys_app, name="keys")`` (and ``org``, ``client``). Every register
change is audited with the operator as the actor.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import orjson
import typer

from mais_node.audit.actors import Actor
from mais_node.auth.services import AuthServices
from mais_node.cli_common import StoreOpt, node_settings, read_json
from mais_node.errors import MaisError
from mais_node.register.model import Client, Organisation
from mais_node.wiring import build_services

keys_app = typer.Typer(help="Key pairs for a partner's system (private JWK and public JWKS).", no_args_is_help=True)
org_app = typer.Typer(help="The organisations register.", no_args_is_help=True)
client_app = typer.Typer(help="Systems (OAuth clients) of registered organisations.", no_args_is_help=True)

OdsArg = Annotated[str, typer.Argument(help="ODS code of the organisation")]


def operator() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(client_id=f"cli:{user}")


@contextmanager
def register(store: str | None, *, read_only: bool = False) -> Iterator[AuthServices]:
    """The register on the store; ``read_only``: for a command that only reads (it writes nothing, issue 13 item 8)."""
    services = build_services(node_settings(store), read_only=read_only)
    try:
        yield services.auth
    except MaisError as exc:
        typer.echo(f"error: {exc.diagnostics}", err=True)
        raise typer.Exit(1) from exc
    finally:
        services.close()


def _own_warning(auth: AuthServices, ods: str, what: str) -> None:
    """The console may do what the API refuses (register/own.py); the operator is told what it does."""
    if ods.strip().upper() == auth.node.ods:
        typer.echo(
            f"warning: {auth.node.ods} is this node's own organisation: {what}"
            f" until an operator here runs mais org activate {auth.node.ods}",
            err=True,
        )


def _org_line(org: Organisation) -> str:
    return (
        f"{org.ods}\t{org.name}\t{org.type}\toperational={org.operational_status}"
        f"\ttechnical={org.technical_status}\t{org.verification_status}\t{_source(org.source, org.suspended_here)}"
        + (f"\tareas={','.join(org.areas)}" if org.areas else "")
    )


def _source(source: str, suspended_here: bool) -> str:
    """Where an entry comes from (issue 14 item 4): ``local`` or ``national serial N``, and a suspension here."""
    return f"{source}, suspended here" if suspended_here else source


def _client_line(client: Client) -> str:
    keys = client.jwks_uri or "inline JWKS"
    scopes = " ".join(client.scopes)
    source = _source(client.source, client.suspended_here)
    return f"{client.client_id}\t{client.org_ods}\t{client.status}\t{scopes}\t{keys}\t{source}"


@keys_app.command("generate")
def keys_generate(
    out: Annotated[Path, typer.Option("--out", help="Directory for the key files")],
    alg: Annotated[str, typer.Option("--alg", help="ES384 or RS384")] = "ES384",
) -> None:
    """Write a private JWK (mode 0600) and the public JWKS to register with the node."""
    from mais_node.adapters.jose_keys import write_key_pair

    if alg not in ("ES384", "RS384"):
        typer.echo("error: --alg must be ES384 or RS384", err=True)
        raise typer.Exit(2)
    chosen: Literal["ES384", "RS384"] = "ES384" if alg == "ES384" else "RS384"
    private, public, kid = write_key_pair(out, chosen)
    typer.echo(f"private key: {private} (keep it secret)\npublic JWKS: {public}\nkid: {kid}")


@org_app.command("add")
def org_add(
    ods: Annotated[str, typer.Option("--ods", help="ODS code")],
    name: Annotated[str, typer.Option("--name", help="Organisation name")],
    type_: Annotated[str, typer.Option("--type", help="organisation-type code, e.g. la-childrens-social-care")],
    verified: Annotated[bool, typer.Option("--verified", help="Mark the organisation verified today")] = False,
    area: Annotated[
        list[str] | None,
        typer.Option("--area", help="A local authority area it serves, as an ONS LAD code (E08000025); repeatable"),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Add an organisation to the register (operationally and technically active)."""
    with register(store) as auth:
        added = auth.organisations.add(ods, name, type_, verified=verified, areas=area or (), actor=operator())
        typer.echo(_org_line(added))


@org_app.command("areas")
def org_areas(
    ods: OdsArg,
    area: Annotated[
        list[str] | None,
        typer.Option("--area", help="A local authority area it serves, as an ONS LAD code; repeatable; none clears"),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Set the local authority areas an organisation serves (ONS LAD codes), replacing those recorded."""
    with register(store) as auth:
        typer.echo(_org_line(auth.organisations.set_areas(ods, area or (), actor=operator())))


@org_app.command("list")
def org_list(store: StoreOpt = None) -> None:
    """List the register."""
    with register(store, read_only=True) as auth:
        for org in auth.organisations.list():
            typer.echo(_org_line(org))


@org_app.command("suspend")
def org_suspend(ods: OdsArg, store: StoreOpt = None) -> None:
    """Suspend an organisation: its tokens stop working within seconds (the node's own only here, not over HTTP)."""
    with register(store) as auth:
        typer.echo(_org_line(auth.organisations.suspend(ods, actor=operator(), console=True)))
        _own_warning(auth, ods, "none of its own systems can get a token or use one")


@org_app.command("activate")
def org_activate(ods: OdsArg, store: StoreOpt = None) -> None:
    """Make an organisation operationally and technically active again."""
    with register(store) as auth:
        typer.echo(_org_line(auth.organisations.activate(ods, actor=operator())))


@org_app.command("verify")
def org_verify(ods: OdsArg, store: StoreOpt = None) -> None:
    """Record that the organisation has been verified today."""
    with register(store) as auth:
        typer.echo(_org_line(auth.organisations.verify(ods, actor=operator())))


@client_app.command("add")
def client_add(
    org: Annotated[str, typer.Option("--org", help="ODS code of the organisation")],
    scope: Annotated[str, typer.Option("--scope", help='Allowed scopes, e.g. "system/Patient.rs mais/enquiry"')],
    jwks: Annotated[Path | None, typer.Option("--jwks", exists=True, dir_okay=False, help="Public JWKS file")] = None,
    jwks_uri: Annotated[str | None, typer.Option("--jwks-uri", help="URL of the system's public JWKS")] = None,
    store: StoreOpt = None,
) -> None:
    """Register a system of an organisation; prints its client id."""
    document = read_json(jwks, "the system's public JWKS (jwks.json)") if jwks else None
    with register(store) as auth:
        client = auth.clients.add(org, scope.split(), jwks=document, jwks_uri=jwks_uri, actor=operator())
        typer.echo(client.client_id)


@client_app.command("list")
def client_list(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation's systems")] = None,
    store: StoreOpt = None,
) -> None:
    """List registered systems."""
    with register(store, read_only=True) as auth:
        for client in auth.clients.list(org):
            typer.echo(_client_line(client))


@client_app.command("revoke")
def client_revoke(client_id: Annotated[str, typer.Argument(help="The client id")], store: StoreOpt = None) -> None:
    """Revoke a system: no new tokens, and its tokens stop working within seconds (the node's own only here)."""
    with register(store) as auth:
        typer.echo(_client_line(auth.clients.revoke(client_id, actor=operator(), console=True)))


@client_app.command("reinstate")
def client_reinstate(client_id: Annotated[str, typer.Argument(help="The client id")], store: StoreOpt = None) -> None:
    """Reinstate a revoked system (or lift this node's suspension of a nationally listed one)."""
    with register(store) as auth:
        typer.echo(_client_line(auth.clients.reinstate(client_id, actor=operator())))


def register_demo(auth: AuthServices, directory: Path, *, ods: str = "DEMO01") -> tuple[str, Path]:
    """For ``mais demo``: a verified demo requesting organisation with one ES384 system; its id and private key."""
    from mais_node.adapters.jose_keys import write_key_pair

    if auth.organisations.get(ods) is None:
        auth.organisations.add(
            ods, "Demo Children's Services", "la-childrens-social-care", verified=True, actor=operator()
        )
    private, public, _ = write_key_pair(directory)
    scopes = ["system/Patient.rs", "system/Task.crs", "mais/enquiry"]
    client = auth.clients.add(ods, scopes, jwks=orjson.loads(public.read_bytes()), actor=operator())
    (directory / "client_id").write_text(client.client_id + "\n", encoding="utf-8")
    return client.client_id, private

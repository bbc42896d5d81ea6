"""``mais authority`` (keys, endpoint, publish) and ``mais register sync``: the national register (issue 14).

Mounted by ``mais_node.cli``. Failures print one line saying what is wrong and what to do, and exit 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from mais_node.cli_common import StoreOpt, node_settings
from mais_node.cli_register import operator
from mais_node.config import Settings
from mais_node.errors import MaisError
from mais_node.wiring import Services, build_services

authority_app = typer.Typer(
    help="The register authority: its keys, and the signed national register.", no_args_is_help=True
)
register_app = typer.Typer(help="This node's copy of the national register.", no_args_is_help=True)


@contextmanager
def _node(store: str | None, **overrides: Any) -> Iterator[Services]:
    """The services of an existing store: like every command but serve, demo and init, these refuse a missing one
    (an authority's or a new node's store is made by ``mais init``) rather than creating it empty."""
    try:
        services = build_services(node_settings(store, **overrides))
    except MaisError as exc:
        typer.echo(f"error: {exc.diagnostics}", err=True)
        raise typer.Exit(1) from exc
    try:
        yield services
    except MaisError as exc:
        typer.echo(f"error: {exc.diagnostics}", err=True)
        raise typer.Exit(1) from exc
    finally:
        services.close()


def check_register_settings(settings: Settings) -> None:
    """Before ``mais serve`` starts: the national register's settings make sense, or one line and exit 1."""
    from mais_node.wiring import register_trust

    if not settings.register_url:
        return
    try:
        register_trust(settings)
    except MaisError as exc:
        typer.echo(f"error: {exc.diagnostics}", err=True)
        raise typer.Exit(1) from exc


@authority_app.command("keys")
def authority_keys(out: Annotated[Path, typer.Option("--out", help="Directory for the key files")]) -> None:
    """Write the authority's ES384 key pair: a private JWK (mode 0600) and the JWKS every node trusts."""
    from mais_node.adapters.jose_keys import write_key_pair

    try:
        private, public, kid = write_key_pair(out, "ES384")
    except OSError as exc:
        typer.echo(
            f"error: cannot write the keys to {out} ({exc.strerror}); choose a writable, new directory", err=True
        )
        raise typer.Exit(1) from exc
    typer.echo(f"private key: {private} (keep it offline)\ntrust JWKS: {public} (give it to every node)\nkid: {kid}")


@authority_app.command("endpoint")
def authority_endpoint(
    org: Annotated[str, typer.Option("--org", help="ODS code of the organisation")],
    address: Annotated[str, typer.Option("--address", help="FHIR base where its node answers, https://…/fhir")],
    store: StoreOpt = None,
) -> None:
    """Record where an organisation's node answers enquiries (an Endpoint in the next serial)."""
    with _node(store=store) as services:
        found = services.auth.organisations.add_endpoint(org, address, actor=operator())
        typer.echo(f"{found.ods}\tendpoints={','.join(found.endpoints)}")


@authority_app.command("publish")
def authority_publish(
    key: Annotated[Path, typer.Option("--key", exists=True, dir_okay=False, help="The authority's private JWK")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the signed register (JSON)")],
    valid_for: Annotated[str, typer.Option("--valid-for", help="How long it is valid: 7d, 12h, 30m")] = "7d",
    store: StoreOpt = None,
) -> None:
    """Sign the organisations, endpoints and systems of this store as the next serial, and serve it at /register."""
    from mais_node.adapters.jose_keys import read_private_jwk
    from mais_node.network.publish import parse_duration, publish

    private = read_private_jwk(key, made_by="mais authority keys")  # refused in one line, naming the fix
    with _node(store=store) as services:
        auth = services.auth
        assert services.network is not None
        published = publish(
            auth.organisations,
            auth.clients,
            services.resources,
            services.network.store,
            services.clock,
            private_jwk=private,
            valid_for=parse_duration(valid_for),
            base=services.settings.public_base,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(published.document)
        kinds = [e["resource"]["resourceType"] for e in orjson.loads(published.document)["entry"]]
        counts = {t: kinds.count(t) for t in ("Organization", "Endpoint", "Device")}
        typer.echo(
            f"serial {published.serial}: {counts['Organization']} organisations, {counts['Endpoint']} endpoints, "
            f"{counts['Device']} systems, valid for {valid_for}; written to {out} and served at /register"
        )


@register_app.command("sync")
def register_sync(
    store: StoreOpt = None,
    url: Annotated[str | None, typer.Option("--url", help="Register URL or file (default MAIS_REGISTER_URL)")] = None,
    trust: Annotated[Path | None, typer.Option("--trust", help="Authority JWKS (default MAIS_REGISTER_TRUST)")] = None,
) -> None:
    """Import the national register once: verified, checked and applied atomically, or refused (both audited)."""
    from mais_node.network.sync import ImportRefused

    with _node(store=store, register_url=url, register_trust=trust) as services:
        importer = services.network.importer if services.network else None
        if importer is None:
            typer.echo(
                "error: no register to import: set MAIS_REGISTER_URL and MAIS_REGISTER_TRUST (or --url, --trust)",
                err=True,
            )
            raise typer.Exit(2)
        try:
            result = importer.sync()
        except ImportRefused as refused:
            serial = services.network.national.content() if services.network else None
            kept = f"serial {serial.serial} stays in force" if serial else "no register is in force"
            typer.echo(f"refused: {refused.reason}; {kept}", err=True)
            raise typer.Exit(1) from refused
        if result.applied:
            typer.echo(f"applied serial {result.serial}: {len(result.changes)} changes")
        else:
            typer.echo(f"unchanged: serial {result.serial} is in force")

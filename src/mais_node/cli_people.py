"""``mais user``: the console's local accounts (issue 16 §2). Mounted by ``mais_node.cli`` as ``user``.

Creating an account is audited with the operator who ran the command; the password is asked for (hidden, twice)
unless ``--password-stdin`` reads it from a script's pipe, and is never printed or stored but as its argon2id hash.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mais_node.audit import balp
from mais_node.cli_common import StoreOpt, node_settings
from mais_node.cli_register import operator
from mais_node.console.accounts import totp_uri
from mais_node.console.people import ROLES
from mais_node.console.store import open_accounts
from mais_node.errors import MaisError, VersionConflict
from mais_node.wiring import build_services

user_app = typer.Typer(help="People who sign in to the console at /console (local accounts).", no_args_is_help=True)


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Option("--name", help="Account name people sign in with (lower case)")],
    role: Annotated[str, typer.Option("--role", help=" | ".join(ROLES))],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password (at least 12 characters) from stdin, not a prompt"),
    ] = False,
    display_name: Annotated[str, typer.Option("--display-name", help="The person's name as pages show it")] = "",
    totp: Annotated[bool, typer.Option("--totp", help="Require a code from an authenticator app too")] = False,
    store: StoreOpt = None,
) -> None:
    """Create a local account with a role (the password is asked for twice, hidden); prints the authenticator URI
    when --totp is given."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = node_settings(store)
    services = build_services(settings)
    try:
        person = open_accounts(services).add(name, role, password, display_name=display_name, totp=totp)
        event = balp.console_action(
            services.node,
            services.clock.now(),
            operator(),
            action="account-added",
            target=f"console-user/{name}",
            detail=f"role {role}" + (", with a second factor" if totp else ""),
        )
        services.checkpointer.append(event)
    except VersionConflict as exc:
        typer.echo(f"error: an account named {name} already exists; choose another --name", err=True)
        raise typer.Exit(1) from exc
    except MaisError as exc:
        typer.echo(f"error: {exc.diagnostics}", err=True)
        raise typer.Exit(1) from exc
    finally:
        services.close()
    typer.echo(f"added {person.name} ({person.role}); sign in at {settings.public_base}/console")
    uri = totp_uri(person, settings.node_org_name)
    if uri:
        typer.echo(f"authenticator (scan or type into the app): {uri}")

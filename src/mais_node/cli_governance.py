"""``mais policy``, ``mais sharing-policy``, ``mais audit`` and ``mais terminology``: the IG officer's, the
auditor's and the terminology manager's commands (DESIGN §9)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mais_node.cli_common import StoreOpt, node_settings, read_json
from mais_node.cli_register import operator
from mais_node.config import Settings

policy_app = typer.Typer(
    help="Decision rules: check them against the schema, run IG officers' test cases.", no_args_is_help=True
)
sharing_app = typer.Typer(
    help="Sharing policies (MAIS SharingPolicy documents) held by this node.", no_args_is_help=True
)
audit_app = typer.Typer(help="The audit trail: verify it is unaltered, export it.", no_args_is_help=True)
terminology_app = typer.Typer(help="The agreed vocabularies.", no_args_is_help=True)

RulesOpt = Annotated[
    Path | None, typer.Option("--rules", help="Rules directory (default: the national rules in the package)")
]


def _settings(store: str | None) -> Settings:
    return node_settings(store)


def _services(store: str | None, *, read_only: bool = False):  # type: ignore[no-untyped-def]
    """The node's services; ``read_only`` for a command that only reads (it writes nothing, issue 13 item 8)."""
    from mais_node.wiring import build_services

    return build_services(_settings(store), read_only=read_only)


@policy_app.command("check")
def policy_check(store: StoreOpt = None, rules: RulesOpt = None) -> None:
    """Check the rules (national, local and the compiled sharing policies, and this node's rules on asking) against
    their Cedar schemas."""
    from mais_node.adapters.cedar import CedarPolicyEngine
    from mais_node.adapters.cedar_asking import check as check_asking
    from mais_node.policy import compile_sharing_policies, load_rule_set
    from mais_node.policy.asking import ASKING_DIR, load_asking_rules

    services = _services(store, read_only=True)
    try:
        held = services.rules.agreements.held()
        rule_set = load_rule_set(
            rules or services.settings.rules_dir, compile_sharing_policies(held, services.settings.node_org)
        )
        issues = CedarPolicyEngine().check(rule_set)
        asking_dir = rules or services.settings.rules_dir
        if (asking_dir / ASKING_DIR).is_dir():  # this node's rules on asking, when the directory has its own
            issues += check_asking(load_asking_rules(asking_dir))[0]
    finally:
        services.close()
    for issue in issues:
        typer.echo(f"{issue.severity}: {issue.diagnostics} {' '.join(issue.expression)}", err=True)
    if issues:
        raise typer.Exit(1)
    typer.echo(f"rules valid: {len(rule_set.sources)} source(s), {rule_set.content_hash}")


@policy_app.command("test")
def policy_test(
    directory: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Folder of case files (JSON)")],
    store: StoreOpt = None,
    rules: RulesOpt = None,
    agreements: Annotated[
        Path | None,
        typer.Option(
            "--sharing-policies",
            help="Also hold the SharingPolicy files here (default: the package's example agreements)",
        ),
    ] = None,
) -> None:
    """Run a folder of cases (request → expected decision per item and rule ids); non-zero exit on any mismatch."""
    from mais_node.errors import MaisError
    from mais_node.policy.ask_cases import render_ask_table
    from mais_node.policy.cases import render_table
    from mais_node.policy_testing import run_policy_tests

    services = _services(store, read_only=True)
    try:
        run = run_policy_tests(services, directory, rules=rules, agreements=agreements)
    except MaisError as exc:
        typer.echo(f"error: {exc.diagnostics}", err=True)
        raise typer.Exit(2) from exc
    finally:
        services.close()
    if run.rows or not run.ask_rows:
        typer.echo(render_table(run.rows))
    if run.ask_rows:
        typer.echo(render_ask_table(run.ask_rows))
    if not run.ok:
        raise typer.Exit(1)


@sharing_app.command("add")
def sharing_add(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)], store: StoreOpt = None) -> None:
    """Hold a sharing policy (a new version of an agreement supersedes the old); it compiles into the rules."""
    from mais_node import sharing_policies
    from mais_node.errors import NotConformant

    document = read_json(file, "a MAIS SharingPolicy document")
    services = _services(store)
    try:
        policy, stored = sharing_policies.hold(services, document, actor=operator())
    except NotConformant as exc:
        for issue in exc.issues:
            typer.echo(f"error: {file.name}: {issue.diagnostics}", err=True)
        typer.echo("nothing held: correct the agreement and add it again", err=True)
        raise typer.Exit(1) from None
    finally:
        services.close()
    typer.echo(f"held {policy.identifier} version {policy.version} (Contract/{stored.id}, version {stored.version})")


@sharing_app.command("list")
def sharing_list(store: StoreOpt = None) -> None:
    """Every sharing policy held, its version, status and dates."""
    from mais_node import sharing_policies

    services = _services(store, read_only=True)
    try:
        listed = sharing_policies.held(services)
    finally:
        services.close()
    for entry in listed:
        policy = entry.policy
        typer.echo(f"{policy.identifier}\tv{policy.version}\t{entry.state}\t{policy.start} .. {policy.end}")


@sharing_app.command("retire")
def sharing_retire(identifier: str, store: StoreOpt = None) -> None:
    """Retire an agreement: its rules stop at once, and an older version does not come back into force."""
    from mais_node import sharing_policies

    services = _services(store)
    try:
        sharing_policies.retire(services, identifier, actor=operator())
    finally:
        services.close()
    typer.echo(f"retired {identifier}")


@audit_app.command("verify")
def audit_verify(
    store: StoreOpt = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="A signed checkpoint (JSON) to verify against")
    ] = None,
) -> None:
    """Walk the whole chain; report the first record changed, removed, reordered or inserted."""
    from mais_node.adapters.jose_signer import KeyRingSigner
    from mais_node.audit.checkpoint import Checkpoint
    from mais_node.audit.verify import verify

    services = _services(store, read_only=True)
    try:
        cp = Checkpoint.from_json(read_json(checkpoint, "a signed checkpoint")) if checkpoint else None
        cp = cp or services.checkpoints.latest_checkpoint()
        report = verify(services.audit.scan(), cp, KeyRingSigner(services.auth.keyring) if cp else None)
    finally:
        services.close()
    typer.echo(str(report))
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option("--out", help="File to write ('-' for standard output)")],
    since: Annotated[datetime | None, typer.Option("--since", help="From this time (inclusive)")] = None,
    until: Annotated[datetime | None, typer.Option("--until", help="Up to this time (exclusive)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="ndjson or csv")] = "ndjson",
    store: StoreOpt = None,
) -> None:
    """Export the audit trail, streaming in constant memory."""
    from mais_node.audit.export import export

    if fmt not in ("ndjson", "csv"):
        raise typer.BadParameter("--format must be ndjson or csv")
    # Times given without an offset are UTC, as the trail records them.
    since = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
    until = until.replace(tzinfo=UTC) if until and until.tzinfo is None else until
    services = _services(store, read_only=True)
    try:
        if str(out) == "-":
            count = export(services.audit.scan(), since, until, fmt, sys.stdout)  # type: ignore[arg-type]
        else:
            with out.open("w", encoding="utf-8", newline="") as handle:
                count = export(services.audit.scan(), since, until, fmt, handle)  # type: ignore[arg-type]
    finally:
        services.close()
    typer.echo(f"exported {count} event(s)", err=True)


@terminology_app.command("load")
def terminology_load(store: StoreOpt = None) -> None:
    """Load the vocabularies of MAIS_TERMINOLOGY_DIR (default: the package's own) into the store (idempotent by url and
    version)."""
    services = _services(store)
    try:
        loaded, held = services.vocabularies.load_files()
    finally:
        services.close()
    typer.echo(f"loaded {loaded} vocabulary resource(s); {held} already held")

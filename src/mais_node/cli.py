"""The ``mais`` command line (DESIGN §9). Each subcommand takes ``--store``; ``--help`` explains."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mais_node.config import Settings

app = typer.Typer(
    help="mais-node: answer MAIS enquiries under machine-enforced information governance.", no_args_is_help=True
)
person_app = typer.Typer(
    help="The node's person index (Patients and their EpisodeOfCare involvements).", no_args_is_help=True
)
app.add_typer(person_app, name="person")

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
) -> None:
    """Start a demo node on the embedded store at http://127.0.0.1:PORT and print how to query it."""
    store = store or "sqlite:///./var/demo/mais.db"
    typer.echo(f"mais-node demo on {store}")
    typer.echo(f"  CapabilityStatement: curl -s http://127.0.0.1:{port}/fhir/metadata")
    serve(store=store, host="127.0.0.1", port=port, workers=1, reload_rules=False)


def main() -> None:
    app()

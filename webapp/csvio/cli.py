"""`flask --app webapp mappings …`: the mapping file import and export for operators and
scripts, running the same code as the dashboard's jobs."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from webapp.accounts.models import MarketplaceAccount
from webapp.csvio.mappings import create_mapping_import, export_lines
from webapp.csvio.models import MappingImport
from webapp.csvio.uploads import save_upload
from webapp.domain import DomainError
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobStatus
from webapp.jobs.services import run_in_foreground
from webapp.linking.grid import GridQuery

mappings_cli = AppGroup("mappings", help="Import and export mapping CSV files.")


def _account(account_id: int) -> MarketplaceAccount:
    account = db.session.get(MarketplaceAccount, account_id)
    if account is None:
        raise click.ClickException(f"There is no account {account_id}.")
    return account


def _run(kind: JobKind, mapping_import: MappingImport) -> dict:
    try:
        run = run_in_foreground(
            db.session,
            kind=kind,
            organization_id=mapping_import.organization_id,
            account_id=mapping_import.account_id,
            actor=None,
            params={"import_id": mapping_import.id},
        )
    except DomainError as error:
        raise click.ClickException(str(error)) from error
    if run.status is not JobStatus.FINISHED:
        raise click.ClickException(run.error or "The job did not finish.")
    return run.result


@mappings_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--account", "account_id", type=int, required=True, help="Account ID.")
@click.option("--dry-run", is_flag=True, help="Check the file and print what would change.")
def import_command(path: Path, account_id: int, dry_run: bool) -> None:
    """Import a mapping CSV for an account (exits non-zero when the file is refused)."""
    account = _account(account_id)
    try:
        with path.open("rb") as stream:
            stored_name, size = save_upload(stream, max_bytes=sys.maxsize)
        mapping_import = create_mapping_import(
            db.session,
            account,
            filename=path.name,
            stored_name=stored_name,
            size=size,
            actor=None,
        )
        db.session.commit()
    except DomainError as error:
        raise click.ClickException(str(error)) from error
    summary = _run(JobKind.MAPPING_CHECK, mapping_import)
    click.echo(_describe("Checked", summary))
    for problem in db.session.get(MappingImport, mapping_import.id).first_errors:
        click.echo(f"  line {problem['line']}: {problem['error']}")
    if dry_run:
        click.echo("Dry run: nothing was changed.")
        return
    result = _run(JobKind.MAPPING_APPLY, mapping_import)
    click.echo(_describe("Applied", result))


def _describe(verb: str, counts: dict) -> str:
    parts = ("new", "changed", "unlink", "unchanged", "duplicate", "error")
    return f"{verb} {counts['rows']:,} rows: " + ", ".join(
        f"{counts[name]:,} {name}" for name in parts
    )


@mappings_cli.command("export")
@click.option("--account", "account_id", type=int, required=True, help="Account ID.")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def export_command(account_id: int, path: Path | None) -> None:
    """Write an account's links as a mapping CSV (to PATH, or to standard output)."""
    account = _account(account_id)
    lines = export_lines(db.session, GridQuery(account_id=account.id))
    if path is None:
        for line in lines:
            click.echo(line, nl=False)
        return
    with path.open("w", encoding="utf-8", newline="") as out:
        out.writelines(lines)
    click.echo(f"Wrote {path}")

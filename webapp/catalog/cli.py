"""`flask --app webapp catalog ...`: store catalogs from the command line, as the jobs do it."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from webapp.accounts.models import Store
from webapp.csvio.platform_exports import PLATFORM_LABELS, detect_file_platform
from webapp.domain import DomainError
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobStatus
from webapp.jobs.services import run_in_foreground

catalog_cli = AppGroup("catalog", help="Store catalogs.")


@catalog_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--store", "store_id", type=int, required=True, help="Id of the store to fill.")
def import_command(path: Path, store_id: int):
    """Import a store catalog from a Shopify, Magento or WooCommerce product export (CSV).

    Runs the catalog file import job here and now, recorded like one started from the Stores
    page; entries no longer in the file are marked gone. Exits non-zero when refused."""
    store = db.session.get(Store, store_id)
    if store is None:
        raise click.ClickException(f"There is no store {store_id}.")
    try:
        platform = detect_file_platform(path)
        click.echo(f"Reading a {PLATFORM_LABELS[platform]} into {store.name}…")
        run = run_in_foreground(
            db.session,
            kind=JobKind.STORE_CATALOG_FILE,
            organization_id=store.organization_id,
            store_id=store.id,
            actor=None,
            params={"path": str(path.resolve()), "uploaded": False},
        )
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from error
    if run.status is not JobStatus.FINISHED:  # pragma: no cover (failures raise above)
        raise click.ClickException(run.error or "The import failed.")
    summary = ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in run.result.items())
    click.echo(f"Job {run.id} done. {summary}")

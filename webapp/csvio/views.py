"""Mapping files in the browser: upload, dry run, confirm, error report; template and export."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from webapp.csvio.jobs import (
    latest_imports,
    start_mapping_apply,
    start_mapping_check,
)
from webapp.csvio.mappings import (
    MappingImportError,
    create_mapping_import,
    error_report_lines,
    export_lines,
)
from webapp.csvio.models import MappingImport
from webapp.csvio.uploads import save_upload, stored_path
from webapp.csvio.writer import mapping_template
from webapp.domain import DomainError
from webapp.extensions import db
from webapp.htmx import is_htmx
from webapp.jobs.models import JobRun
from webapp.linking.views import parse_grid_args
from webapp.tenancy import current_account, get_or_404

bp = Blueprint("mappings", __name__, url_prefix="/mappings")


def _csv_download(lines, filename: str) -> Response:
    response = Response(stream_with_context(lines), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/")
def index():
    account = current_account()
    imports = latest_imports(db.session, account.id) if account else []
    return render_template("mappings/index.html", account=account, imports=imports)


@bp.post("/imports")
def upload():
    account = current_account()
    upload = request.files.get("file")
    try:
        if account is None:
            raise MappingImportError("Connect a TikTok Shop account first.")
        if upload is None or not upload.filename:
            raise MappingImportError("Choose a CSV file to upload.")
        stored_name, size = save_upload(
            upload.stream, max_bytes=current_app.config["MAX_CONTENT_LENGTH"]
        )
        mapping_import = create_mapping_import(
            db.session,
            account,
            filename=upload.filename,
            stored_name=stored_name,
            size=size,
            actor=current_user,
        )
        start_mapping_check(db.session, mapping_import, current_user)
    except DomainError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("mappings.index"))
    return redirect(url_for("mappings.show", import_id=mapping_import.id))


@bp.get("/imports/<int:import_id>")
def show(import_id: int):
    mapping_import = get_or_404(MappingImport, import_id)
    context = {
        "mapping_import": mapping_import,
        "check_run": db.session.get(JobRun, mapping_import.check_job_id or 0),
        "apply_run": db.session.get(JobRun, mapping_import.apply_job_id or 0),
    }
    if is_htmx() and request.headers.get("HX-Target") == "mapping-import":
        return render_template("mappings/_import.html", **context)
    return render_template("mappings/show.html", **context)


@bp.post("/imports/<int:import_id>/apply")
def apply(import_id: int):
    mapping_import = get_or_404(MappingImport, import_id)
    try:
        start_mapping_apply(db.session, mapping_import, current_user)
    except DomainError as error:
        flash(str(error), "error")
    return redirect(url_for("mappings.show", import_id=mapping_import.id))


@bp.get("/imports/<int:import_id>/errors.csv")
def error_report(import_id: int):
    mapping_import = get_or_404(MappingImport, import_id)
    name = f"mapping-errors-{mapping_import.id}.csv"
    path = stored_path(mapping_import.stored_name)
    try:
        lines = error_report_lines(db.session, mapping_import, path)
    except DomainError as error:
        flash(str(error), "error")
        return redirect(url_for("mappings.show", import_id=mapping_import.id))
    return _csv_download(lines, name)


@bp.get("/template.csv")
def template():
    return _csv_download(iter([mapping_template()]), "sku-bridge-mapping-template.csv")


@bp.get("/export.csv")
def export():
    account = current_account()
    if account is None:
        flash("Connect a TikTok Shop account first.", "error")
        return redirect(url_for("linking.grid"))
    query, _ = parse_grid_args(account.id)
    return _csv_download(export_lines(db.session, query), f"sku-bridge-links-{account.id}.csv")

"""Store connections: list, add, test connection, refresh the catalog."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.accounts.models import Store
from webapp.adapters.registry import store_platforms
from webapp.extensions import db
from webapp.htmx import toast
from webapp.stores.services import (
    StoreError,
    catalog_summaries,
    check_connection,
    create_store,
)
from webapp.tenancy import get_or_404, organization_stores, require_manager, require_organization

bp = Blueprint("stores", __name__, url_prefix="/stores")


@bp.get("/")
def index():
    stores = organization_stores()
    return render_template(
        "stores/index.html",
        stores=stores,
        summaries=catalog_summaries(db.session, [store.id for store in stores]),
    )


@bp.route("/new", methods=["GET", "POST"])
def new():
    require_manager()
    organization = require_organization()
    if request.method == "GET":
        return render_template("stores/new.html", platforms=store_platforms(), form={})
    try:
        store = create_store(
            db.session,
            organization_id=organization.id,
            platform=request.form.get("platform", ""),
            name=request.form.get("name", ""),
            base_url=request.form.get("base_url", ""),
            credentials=request.form,
            actor=current_user,
        )
    except StoreError as error:
        db.session.rollback()
        return render_template(
            "stores/new.html", platforms=store_platforms(), form=request.form, error=str(error)
        ), 422
    db.session.commit()
    flash(f"Store {store.name} added. Test the connection, then link an account to it.", "success")
    return redirect(url_for("stores.index"))


@bp.post("/<int:store_id>/test")
def test_connection(store_id: int):
    store = get_or_404(Store, store_id)
    check = check_connection(db.session, store, actor=current_user)
    db.session.commit()
    response = render_template("stores/_connection.html", store=store)
    return toast(response, check.message, "success" if check.ok else "error")

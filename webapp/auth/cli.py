"""`flask --app webapp users ...`"""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.accounts.models import User, UserRole
from webapp.auth.services import UserError, create_user
from webapp.extensions import db

users_cli = AppGroup("users", help="Manage dashboard users.")


@users_cli.command("create")
@click.argument("email")
@click.option(
    "--role", type=click.Choice([r.value for r in UserRole]), default="owner", show_default=True
)
@click.option("--org", "organization", help="Organization name (made if new); not for support.")
@click.option("--name", default="", help="Display name.")
@click.password_option(help="Password (asked for when not given).")
def create_user_command(email: str, role: str, organization: str | None, name: str, password: str):
    """Create a user who can log in to the dashboard."""
    try:
        user = create_user(
            db.session,
            email=email,
            password=password,
            role=UserRole(role),
            organization_name=organization,
            name=name,
        )
    except UserError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from error
    db.session.commit()
    where = f" in {user.organization.name}" if user.organization else ""
    click.echo(f"Created {user.role.value} {user.email}{where}")


@users_cli.command("list")
def list_users_command():
    """List users with their role and organization."""
    for user in db.session.scalars(select(User).order_by(User.email)):
        organization = user.organization.name if user.organization else "(all, support)"
        click.echo(f"{user.email:40} {user.role.value:8} {organization}")

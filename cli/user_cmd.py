"""`showdown user add|passwd|list|role|signout`: admin-site accounts (roles viewer, operator, admin)."""

from __future__ import annotations

import click

from cli.common import open_db_or_exit


def _open() -> None:
    open_db_or_exit(require_schema=False)


def _audit(action: str, target: str, details: dict[str, str]) -> None:
    from connectors.db.models import AuditEntry

    AuditEntry.create(username="cli", action=action, target=target, details=details)


def register(group: click.Group) -> None:
    from web import users

    @group.group("user")
    def user() -> None:
        """Admin-site users."""

    @user.command("add")
    @click.argument("username")
    @click.option("--role", type=click.Choice(users.ROLES), default="viewer", show_default=True)
    @click.password_option(help="asked for when not given (at least 10 characters)")
    def add(username: str, role: str, password: str) -> None:
        """Create a user."""
        _open()
        try:
            users.add(username, password, role)
        except users.UserError as exc:
            raise click.ClickException(str(exc)) from exc
        _audit("user.add", username, {"role": role})
        click.echo(f"user {username} created with role {role}")

    @user.command("passwd")
    @click.argument("username")
    @click.password_option(help="asked for when not given (at least 10 characters)")
    def passwd(username: str, password: str) -> None:
        """Set a user's password (ends that user's open sessions)."""
        _open()
        try:
            users.set_password(username, password)
        except users.UserError as exc:
            raise click.ClickException(str(exc)) from exc
        _audit("user.passwd", username, {})
        click.echo(f"password of {username} changed")

    @user.command("role")
    @click.argument("username")
    @click.argument("role", type=click.Choice(users.ROLES))
    def role(username: str, role: str) -> None:
        """Change a user's role."""
        _open()
        try:
            users.set_role(username, role)
        except users.UserError as exc:
            raise click.ClickException(str(exc)) from exc
        _audit("user.role", username, {"role": role})
        click.echo(f"{username} is now {role}")

    @user.command("signout")
    @click.argument("username")
    def signout(username: str) -> None:
        """Sign USERNAME out everywhere: every admin-site session of theirs ends now."""
        _open()
        try:
            ended = users.end_sessions(username)
        except users.UserError as exc:
            raise click.ClickException(str(exc)) from exc
        _audit("user.sessions_end", username, {"ended": str(ended)})
        click.echo(f"{username}: {ended} session(s) ended")

    @user.command("list")
    def list_() -> None:
        """List users with their role and last login."""
        _open()
        from web.queries import iso

        for acc in users.all_accounts():
            state = "" if acc.active else "  (disabled)"
            click.echo(f"{acc.username:<20} {acc.role:<9} last login {iso(acc.last_login_ms) or 'never'}{state}")

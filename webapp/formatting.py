"""Template filters for how the dashboard shows times."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from webapp.extensions import utcnow


def ago(moment: datetime | None) -> str:
    """ "just now", "5 min ago", "3 h ago", "2 days ago"; "never" for None."""
    if moment is None:
        return "never"
    seconds = max((utcnow() - moment).total_seconds(), 0)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86_400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86_400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def init_app(app: Flask) -> None:
    app.add_template_filter(ago)

"""Template filters for how the dashboard shows times and rates."""

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


def time_left(seconds: float | None) -> str:
    """ "about 40 s left", "about 3 min left", "about 1 h 20 min left"; "" when unknown."""
    if seconds is None:
        return ""
    seconds = round(seconds)
    if seconds < 60:
        return f"about {max(seconds, 1)} s left"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} min left"
    return f"about {minutes // 60} h {minutes % 60} min left"


def per_second(rate: float | None) -> str:
    """ "1,250 a second", "0.4 a second"; "" when unknown."""
    if not rate:
        return ""
    return f"{rate:,.0f} a second" if rate >= 10 else f"{rate:.1f} a second"


def init_app(app: Flask) -> None:
    app.add_template_filter(ago)
    app.add_template_filter(time_left)
    app.add_template_filter(per_second)

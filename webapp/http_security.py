"""HTTP hardening for every response: security headers, a Content Security Policy that allows
only the dashboard's own files, and cookies marked Secure whenever the request came over HTTPS
(directly, or through the proxies TRUSTED_PROXY_HOPS says are in front)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.errors import error_page

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# Scripts, styles and everything else from our own static files only: no inline script or
# style, no eval (htmx's is switched off in base.html), no framing, forms post to us only.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
HSTS = "max-age=31536000"
NUL_REFUSED = "That request held a NUL character, which no field accepts. Nothing changed."


class SecureCookiesOverHttps:
    """WSGI middleware: over HTTPS every cookie the dashboard sets is marked Secure. Flask
    writes the session cookie, and Flask-Login its remember cookie, after the app's
    after_request hooks have run, so the headers are changed on their way out instead."""

    def __init__(self, wsgi_app: WSGIApplication):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse):
        if environ.get("wsgi.url_scheme") != "https":
            return self.wsgi_app(environ, start_response)

        def start_secure_response(status, headers, exc_info=None):
            headers = [
                (name, _secure(value) if name.lower() == "set-cookie" else value)
                for name, value in headers
            ]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start_secure_response)


def _secure(set_cookie: str) -> str:
    return set_cookie if "; secure" in set_cookie.lower() else f"{set_cookie}; Secure"


def init_app(app: Flask) -> None:
    app.wsgi_app = SecureCookiesOverHttps(app.wsgi_app)
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops:  # outermost: the scheme and address are the client's before anything reads them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    @app.before_request
    def refuse_nul_characters() -> Response | None:
        """No text a person types holds a NUL, and PostgreSQL cannot store one: a request
        carrying one in its query, its form or an uploaded file's name is refused before any
        view reads it."""
        for values in (request.args, request.form):
            if any("\x00" in value for _, value in values.items(multi=True)):
                return error_page(400, NUL_REFUSED)
        if any("\x00" in (upload.filename or "") for _, upload in request.files.items(multi=True)):
            return error_page(400, NUL_REFUSED)
        return None

    @app.after_request
    def harden(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

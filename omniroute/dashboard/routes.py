"""The dashboard at /dashboard: HTML shells rendered here, the pages themselves plain ES modules.

Every page reads and writes through the public management API only; this module serves the shell
(navigation, the CSRF token of the session, the page's script) and the static files, and sends a
visitor who is not signed in to the login page. Nothing is built at install time and nothing is
loaded from another site: the pages work offline.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from omniroute.server.api.common import who_is_admin

HERE = Path(__file__).parent
STATIC = "/dashboard/static"

# (slug, navigation label); "home" is /dashboard itself.
PAGES = [
    ("home", "Home"),
    ("providers", "Providers"),
    ("combos", "Combos"),
    ("keys", "API keys"),
    ("usage", "Usage & cost"),
    ("health", "Health"),
    ("cache", "Cache"),
    ("settings", "Settings"),
    ("playground", "Playground"),
]
TITLES = dict(PAGES)

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_templates = None


def _env():
    global _templates
    if _templates is None:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        _templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    return _templates


def _html(name: str, **context) -> HTMLResponse:
    body = _env().get_template(name).render(static=STATIC, **context)
    return HTMLResponse(body, headers=SECURITY_HEADERS)


async def page(request: Request) -> Response:
    slug = request.path_params.get("page", "home")
    if slug not in TITLES:
        return HTMLResponse(f"<!doctype html><title>Not found</title><p>No dashboard page '{_escape(slug)}'. "
                            "<a href=\"/dashboard\">Home</a></p>", status_code=404, headers=SECURITY_HEADERS)
    actor = await who_is_admin(request)
    if actor is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/dashboard/login?next={quote(target)}", status_code=303)
    s = request.app.state.services
    csrf = getattr(request.state, "csrf", None) or s.signer.local_csrf()
    return _html("base.html", title=TITLES[slug], page=slug, pages=PAGES, csrf=csrf, version=s.version,
                 can_logout=getattr(request.state, "via_cookie", False))


async def login_page(request: Request) -> Response:
    if await who_is_admin(request) is not None:
        return RedirectResponse("/dashboard", status_code=303)
    return _html("login.html")


async def root(request: Request) -> Response:
    return RedirectResponse("/dashboard", status_code=307)


def _escape(text: str) -> str:
    import html

    return html.escape(text)


routes = [
    Route("/", root, methods=["GET"]),
    Route("/dashboard", page, methods=["GET"]),
    Route("/dashboard/login", login_page, methods=["GET"]),
    Mount(STATIC, app=StaticFiles(directory=HERE / "static"), name="dashboard-static"),
    Route("/dashboard/{page}", page, methods=["GET"]),
]

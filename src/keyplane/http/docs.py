"""`/docs`: interactive API docs (Swagger UI 5, served from the installed package: no CDN,
so it works offline and under a strict Content-Security-Policy)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def install(app: FastAPI) -> None:
    resources = files("fastapi_swagger") / "resources"
    app.mount(ASSETS, StaticFiles(directory=str(resources)), name="docs-assets")

    async def docs_page(_request: Request) -> Response:
        page: HTMLResponse = get_swagger_ui_html(
            openapi_url="/openapi.json", title="keyplane API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url="data:,",
        )
        return page

    app.add_route("/docs", docs_page, include_in_schema=False)

"""HTML for people: one layout, escaped text, and the headers every page carries.

No templates engine and no external assets: a page is a few escaped fragments in one
layout with one inline style sheet, allowed by its hash in a strict Content-Security-Policy
(no script at all, no framing, no base, no plugins). Text is escaped where it enters
(`esc`); `Html` marks a fragment that is already safe.
"""

from __future__ import annotations

import base64
import hashlib
import html

from starlette.responses import HTMLResponse


class Html(str):
    """A fragment of HTML that is safe to include as is (built from escaped parts)."""


def esc(text: object) -> Html:
    return Html(html.escape(str(text), quote=True))


def join(parts: list[Html] | tuple[Html, ...]) -> Html:
    return Html("".join(parts))


_STYLE = """
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#f6f7f9;--card:#fff;--muted:#57606a;
--accent:#0b5cd5;--danger:#b42318;--border:#d0d7de}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--card:#161b22;
--muted:#9da7b3;--accent:#4c9aff;--danger:#ff7b72;--border:#30363d}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
main{max-width:28rem;margin:2rem auto;padding:1.5rem;background:var(--card);
border:1px solid var(--border);border-radius:.75rem}
h1{font-size:1.4rem;margin:0 0 1rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=text],input[type=password]{width:100%;padding:.7rem;font-size:1rem;
border:1px solid var(--border);border-radius:.4rem;background:var(--bg);color:var(--fg)}
button{font-size:1rem;padding:.7rem 1.2rem;border-radius:.4rem;border:1px solid var(--accent);
background:var(--accent);color:#fff;cursor:pointer;min-height:44px}
button.secondary{background:transparent;color:var(--accent)}
.actions{display:flex;gap:.75rem;flex-wrap:wrap;margin-top:1.25rem}
.error{color:var(--danger);border:1px solid var(--danger);padding:.6rem;border-radius:.4rem}
.muted{color:var(--muted);font-size:.9rem}
ul.scopes{padding-left:1.2rem}
code{word-break:break-all}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
@media (max-width:32rem){main{margin:0;border-radius:0;border-left:0;border-right:0}}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

# No form-action: Chromium applies it to the redirects that follow a form post, and the
# consent form's answer is a redirect to the client's own redirect URI (any origin, or a
# private-use scheme). Everything else is denied.
CONTENT_SECURITY_POLICY = (f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
                           "img-src 'none'; base-uri 'none'; frame-ancestors 'none'")

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # for browsers without frame-ancestors
    "Referrer-Policy": "no-referrer",  # URLs here carry state and codes
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


def page(title: str, body: Html, *, status: int = 200,
         headers: dict[str, str] | None = None) -> HTMLResponse:
    """A whole page: `title` (escaped here) and `body` (already safe) in the layout."""
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)} · keyplane</title><style>{_STYLE}</style></head>"
        f'<body><main>{body}</main></body></html>'
    )
    return HTMLResponse(document, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def error_page(title: str, message: str, *, status: int) -> HTMLResponse:
    """A page that says what went wrong, and goes nowhere."""
    return page(title, Html(f'<h1>{esc(title)}</h1><p class="error" role="alert">{esc(message)}</p>'),
                status=status)

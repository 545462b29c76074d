"""Thin adapters of `keyplane.Verifier` to web frameworks: FastAPI (`fastapi.require`),
Starlette/ASGI (`starlette.KeyplaneMiddleware`), Flask (`flask.require`). Each reads the
`Authorization` (and `X-API-Key`) header, calls the verifier, renders an `AuthError` as
RFC 6750 says (status, `WWW-Authenticate`, a JSON body `{"error", "error_description"}`)
and adds `RateLimit-Policy` / `RateLimit` to every response for a key with limits.
"""

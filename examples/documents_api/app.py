"""A small documents API protected by keyplane: API keys for machines, tokens for users.

    GET  /documents         documents.read    the caller's documents
    POST /documents         documents.write   {"title", "body"} -> 201
    GET  /documents/{id}    documents.read
    GET  /healthz           open

Configuration (environment): KEYPLANE_ISSUER (the keyplane URL), DOCUMENTS_API_ID (the
keyplane API whose keys are accepted), DOCUMENTS_AUDIENCE (the `aud` tokens must carry),
DOCUMENTS_VERIFIER_KEY (a root key with keys.verify, tokens.read, tokens.introspect).
Run it with `uvicorn app:app` from this directory; `run.py` sets everything up.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field

from keyplane import Principal, Verifier
from keyplane.integrations.fastapi import install, require

verifier = Verifier(
    issuer=os.environ["KEYPLANE_ISSUER"],
    audience=os.environ["DOCUMENTS_AUDIENCE"],
    api_id=os.environ["DOCUMENTS_API_ID"],
    root_key=os.environ["DOCUMENTS_VERIFIER_KEY"],
    realm="documents",
)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    verifier.start()  # JWKS, revocation feed and key change stream before the first request
    yield
    await verifier.aclose()


app = FastAPI(title="documents", lifespan=lifespan)
install(app)  # refusals as {"error", "error_description"} with WWW-Authenticate

readers = Depends(require(verifier, scopes=["documents.read"]))
writers = Depends(require(verifier, scopes=["documents.write"]))

# In memory, by owner: a key's owner_id (or id), a token's subject.
DOCUMENTS: dict[str, dict[str, dict[str, Any]]] = {}


class NewDocument(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=10_000)


def _caller(p: Principal) -> dict[str, Any]:
    return {"kind": p.kind, "subject": p.subject}


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/documents")
async def list_documents(p: Principal = readers) -> dict[str, Any]:
    return {"caller": _caller(p), "items": list(DOCUMENTS.get(p.subject, {}).values())}


@app.post("/documents", status_code=201)
async def create_document(doc: NewDocument, p: Principal = writers) -> dict[str, Any]:
    document = {"id": "doc_" + secrets.token_hex(8), "title": doc.title, "body": doc.body,
                "owner": p.subject}
    DOCUMENTS.setdefault(p.subject, {})[document["id"]] = document
    return document


@app.get("/documents/{document_id}")
async def get_document(document_id: str, p: Principal = readers) -> dict[str, Any]:
    found = DOCUMENTS.get(p.subject, {}).get(document_id)
    if found is None:
        raise HTTPException(404, "no such document")
    return found

"""HTTP errors with a JSON body that can cross DEEPaaS's process boundary.

DEEPaaS runs ``predict`` in ``spawn``-ed worker processes and re-raises whatever it raises in the
server, where aiohttp turns an ``HTTPException`` into the response. aiohttp's own exceptions do not
survive pickling (their ``__init__`` is keyword-only), and a result that fails to unpickle kills the
pool's result thread, hanging every later request. These classes pickle as (class, payload).

The body is the ``herbmorph/error/1`` document the other adapters write, plus a top-level
``message`` (DEEPaaS declares ``{"message": str}`` as its error schema).
"""
from __future__ import annotations

import json

from aiohttp import web

from herbmorph.results import ErrorDocument

# error.kind -> HTTP status; anything not listed that comes from the client's input is a 400.
_STATUS = {"too-large": 413, "decompression-bomb": 413, "internal": 500, "model": 500}


class ApiError(web.HTTPError):
    status_code = 400

    def __init__(self, payload: dict):
        super().__init__(text=json.dumps(payload), content_type="application/json")
        self.payload = payload

    def __reduce__(self):
        return (type(self), (self.payload,))

    def __str__(self) -> str:  # what deepaas-cli prints when predict fails
        return f"{self.status_code}: {self.payload.get('message')}"


class BadRequest(ApiError):
    status_code = 400


class PayloadTooLarge(ApiError):
    status_code = 413


class ServerError(ApiError):
    status_code = 500


_CLASSES = {400: BadRequest, 413: PayloadTooLarge, 500: ServerError}


def status_for(kind: str) -> int:
    return _STATUS.get(kind, 400)


def from_document(doc: ErrorDocument) -> ApiError:
    payload = doc.model_dump(mode="json", by_alias=True)
    payload["message"] = doc.error.message
    return _CLASSES[status_for(doc.error.kind)](payload)

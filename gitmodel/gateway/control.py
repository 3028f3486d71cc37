"""The control endpoints under /-/gitmodel/: what a host's deploy calls (reload) and polls (info).

Host file lines that point a deploy at the gateway (docs/gateway.md):

    models:
      support:
        reload: {url: "http://127.0.0.1:8000/-/gitmodel/reload?model=support"}
        info_url: "http://127.0.0.1:8000/-/gitmodel/info?model=support"

Both are refused (403) to any peer outside loopback unless the host file gives the gateway a
token (`gateway: {token_file: PATH}`); then every control request, loopback included,
needs it (401 without), as `Authorization: Bearer TOKEN` or as the password of basic
auth, so the URLs above carry it as http://gitmodel:TOKEN@127.0.0.1:8000/... unchanged
through host/reload.py.  The inference endpoints take no token: put the gateway's
listener where the clients are, and the control token where the deployer is.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from typing import TYPE_CHECKING

from aiohttp import web

from gitmodel import hostlayout
from gitmodel.errors import GitModelError
from gitmodel.refs import parse_model

if TYPE_CHECKING:
    from gitmodel.gateway.app import Gateway

PREFIX = "/-/gitmodel/"


def is_loopback(peer: str | None) -> bool:
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def refusal(request: web.Request, token: str | None) -> web.Response | None:
    """None when this request may use the control endpoints; else the 401/403 answer."""
    path = request.path
    if token is None:
        if is_loopback(request.remote):
            return None
        why = f"{path} answers loopback only; give the gateway a token (`gateway: {{token_file: PATH}}`)"
        return web.json_response({"error": why}, status=403)
    given = _token(request.headers.get("Authorization", ""))
    if given is not None and hmac.compare_digest(given.encode(), token.encode()):
        return None
    why = f"{path} needs the gateway's token: `Authorization: Bearer TOKEN`, or http://gitmodel:TOKEN@HOST:PORT/..."
    return web.json_response(
        {"error": why}, status=401, headers={"WWW-Authenticate": 'Basic realm="gitmodel"'}
    )


def _token(authorization: str) -> str | None:
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def _model(request: web.Request, gw: Gateway) -> str | web.Response:
    """The ?model= parameter (canonical), or the only model; else a 400/404 answer."""
    name = request.query.get("model")
    known = gw.supervisor.tables
    if not name:
        if len(known) == 1:
            return next(iter(known))
        listed = ", ".join(sorted(known)) or "none yet"
        return web.json_response({"error": f"give ?model=NAME (models: {listed})"}, status=400)
    try:
        model = parse_model(name)
    except GitModelError as exc:
        return web.json_response({"error": exc.message}, status=400)
    if model not in known and not hostlayout.model_root(gw.supervisor.root, model).is_dir():
        where = hostlayout.model_root(gw.supervisor.root, model)
        return web.json_response({"error": f"no model {model} here: {where} does not exist"}, status=404)
    return model


async def reload(request: web.Request, gw: Gateway) -> web.Response:
    refused = refusal(request, gw.settings.token)
    if refused is not None:
        return refused
    if gw.reread is not None:
        gw.reread()  # the host file may give the model another backend, or none
    model = _model(request, gw)
    if isinstance(model, web.Response):
        return model
    outcome = await gw.supervisor.reload(model)
    return web.json_response(outcome.body, status=outcome.status)


async def info(request: web.Request, gw: Gateway) -> web.Response:
    refused = refusal(request, gw.settings.token)
    if refused is not None:
        return refused
    model = _model(request, gw)
    if isinstance(model, web.Response):
        return model
    status, body = gw.supervisor.info(model)
    return web.json_response(body, status=status)

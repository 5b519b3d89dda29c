"""``GET /metrics``: the Prometheus text exposition of :class:`~antigravity_gateway.metrics.Metrics`.

Protected like the admin API (:mod:`.admin_api`): a dashboard session or ``Authorization: Bearer
<admin password>`` wherever an admin password is set; without one, open on a loopback address and
closed while the gateway is exposed. Or by its own token, for a Prometheus server:
``Authorization: Bearer <metrics_token>`` (compared in constant time, never logged). A wrong bearer
value is a 401, and counts against the address like a failed login. The browser policy
(:mod:`.security`) treats the path like the admin API: no cross-site requests.
"""

from __future__ import annotations

import hmac

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from antigravity_gateway.metrics import Metrics
from antigravity_gateway.settings import Settings
from antigravity_gateway.web.admin_api import COOKIE, AdminApi, _error, _too_many
from antigravity_gateway.web.peer import client_ip

PATH = "/metrics"


async def _authorized(request: Request, settings: Settings, admin: AdminApi) -> Response | None:
    token = settings.metrics_token.get_secret_value()
    password = settings.admin_password
    store = request.app.state.pool.store
    if password and await admin.sessions.valid(store, request.cookies.get(COOKIE, ""), password):
        return None
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer " and (token or password):
        given = authorization[7:].strip().encode()
        address = client_ip(request.scope, settings)
        if wait := admin.throttle.wait(address):
            return _too_many(wait)
        # both compared, whichever matches: the time does not tell which one is set
        token_ok = bool(token) & hmac.compare_digest(given, token.encode())
        password_ok = bool(password) & hmac.compare_digest(given, password.encode())
        if token_ok or password_ok:
            admin.throttle.success(address)
            return None
        if wait := admin.throttle.failure(address):
            return _too_many(wait)
        return _error("wrong metrics token (or admin password)", 401)
    if password:
        return _error(
            "send Authorization: Bearer <metrics_token> (AGW_METRICS_TOKEN), or the admin password", 401
        )
    if settings.exposed:
        if token:
            return _error("send Authorization: Bearer <metrics_token> (AGW_METRICS_TOKEN)", 401)
        return _error(
            "/metrics stays closed while the gateway is reachable from the network and no admin password "
            "is set: set AGW_METRICS_TOKEN and send it as Authorization: Bearer <token>, or set "
            "AGW_ADMIN_PASSWORD",
            403,
        )
    return None


async def metrics(request: Request) -> Response:
    state = request.app.state
    denied = await _authorized(request, state.settings, state.admin)
    if denied is not None:
        return denied
    collected: Metrics = state.metrics
    return Response(collected.exposition(), media_type=CONTENT_TYPE_PLAIN_0_0_4)


def routes() -> list[BaseRoute]:
    return [Route(PATH, metrics, methods=["GET"])]

"""The overview: verifications by hour and day and outcome, tokens issued, open alerts,
top keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.audit import events
from keyplane.errors import NotFound
from keyplane.services import Services
from keyplane.web.dashboard.access import Admin, view
from keyplane.web.dashboard.alerts import open_count
from keyplane.web.dashboard.charts import ISSUED, day_label, hour_label, stacked
from keyplane.web.dashboard.navigation import DASHBOARD_PATH

TOP_KEYS = 10


@dataclass(frozen=True, slots=True)
class TopKey:
    key_id: str
    name: str | None
    start: str | None
    api_id: str | None  # None: the key was deleted since
    api_name: str | None
    total: int
    valid: int


async def _top_keys(services: Services) -> list[TopKey]:
    since = services.clock.now() - timedelta(hours=24)
    rows = []
    api_names: dict[str, str] = {}
    for key_id, total, valid in await services.usage.top_keys(since=since, limit=TOP_KEYS):
        try:
            key = await services.keys.get_key(key_id)
            if key.api_id not in api_names:
                api_names[key.api_id] = (await services.apis.get_api(key.api_id)).name
        except NotFound:
            rows.append(TopKey(key_id, None, None, None, None, total, valid))
            continue
        rows.append(TopKey(key_id, key.config.name, key.start, key.api_id,
                           api_names[key.api_id], total, valid))
    return rows


async def overview(admin: Admin) -> Response:
    services = admin.services
    hourly = await services.usage.series(since=None, until=None, granularity="hour")
    daily = await services.usage.series(since=None, until=None, granularity="day")
    bounds = [b.start for b in hourly] + [hourly[-1].start + timedelta(hours=1)]
    issued = await services.audit.counts(events.TOKEN_ISSUE, bounds)
    hourly_chart = stacked("Verifications per hour", [(b.start, b.counts) for b in hourly],
                           label=hour_label, label_every=3)
    valid = sum(b.counts.get("VALID", 0) for b in hourly)
    open_alerts, more_alerts = await open_count(admin)
    return admin.show(
        "overview.html", "overview", title="Overview", hourly=hourly_chart,
        daily=stacked("Verifications per day", [(b.start, b.counts) for b in daily],
                      label=day_label, label_every=5),
        tokens=stacked("Tokens issued per hour", [(start, {ISSUED: n}) for start, n
                                                  in zip(bounds, issued, strict=False)],
                       label=hour_label, label_every=3),
        valid_share=f"{valid / hourly_chart.total:.0%}" if hourly_chart.total else "–",
        open_alerts=open_alerts, more_alerts=more_alerts, top_keys=await _top_keys(services))


def routes() -> list[BaseRoute]:
    return [Route(DASHBOARD_PATH, view(overview), methods=["GET"])]

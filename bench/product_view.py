"""The product team's view at a million enquiries: the launch page for each range, and the series API.

    uv run python -m bench.product_view [--enquiries 1000000] [--hypotheses 30] [--postgres URL]

Every request goes through the real app in this process (FastAPI's TestClient: routing, dependencies,
sign-in, rendering), so a figure is the server's time for that request without the network. A bare
endpoint (/healthz) is measured in the same run, and each figure is also given as a multiple of it.
"Now" is mid-afternoon on the launch's last day: twenty closed days and one open.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from app import api_tokens, auth
from app.config import Settings
from app.deps import get_now
from app.main import create_app
from app.models import Role
from app.tallies import DAY_CACHE_KEY
from bench.data import build, fresh_database
from bench.timing import Timing, measure, query_benchmark_main

OSLO = ZoneInfo("Europe/Oslo")


def run(*, enquiries: int, hypotheses: int, postgres: str | None) -> list[Timing]:
    db = fresh_database(postgres, f"view_{enquiries}")
    data = build(db, enquiries=enquiries, hypotheses=hypotheses)
    print(f"loaded {enquiries:,} enquiries in {data.seconds_to_load:.0f} s into {db.engine.dialect.name}")
    launch = data.launch
    now = dt.datetime.combine(launch.ends_on, dt.time(14), tzinfo=OSLO).astimezone(dt.UTC)
    with db.transaction() as session:
        user, _ = auth.add_user(
            session, username="pm", role=Role.LEAD, display_name="PM", password=None, now=now, actor="bench"
        )
        _, raw_token = api_tokens.create(session, name="bench", now=now, actor="bench")
        settings = Settings(env="test", database_url=db.url, secret_key="bench-" + "x" * 40)
        cookie = auth.start_session(session, user, now=now, settings=settings)

    async def fixed_now() -> dt.datetime:
        return now

    app = create_app(settings, db=db)
    app.dependency_overrides[get_now] = fixed_now
    results: list[Timing] = []
    api = {"Authorization": f"Bearer {raw_token}"}
    slug = launch.slug
    with TestClient(app) as client:
        client.cookies.set("tally_session", cookie)

        def get(url: str, **headers: str) -> None:
            response = client.get(url, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"{url}: {response.status_code} {response.text[:300]}")

        def forget_memory() -> None:
            db.memo.pop(DAY_CACHE_KEY, None)

        get(f"/api/v1/launches/{slug}/series?bucket=day", **api)  # counts and keeps the closed days once
        results.append(measure("bare endpoint (GET /healthz)", lambda: get("/healthz"), runs=200))
        week = f"from={(launch.ends_on - dt.timedelta(days=6)).isoformat()}&to={launch.ends_on.isoformat()}"
        for label, url in (
            ("series?bucket=day, whole launch", f"/api/v1/launches/{slug}/series?bucket=day"),
            ("series?bucket=hour, last 7 days", f"/api/v1/launches/{slug}/series?bucket=hour&{week}"),
            ("series?bucket=slot, last 7 days", f"/api/v1/launches/{slug}/series?bucket=slot&{week}"),
            ("series?bucket=day, channel=phone", f"/api/v1/launches/{slug}/series?bucket=day&channel=phone"),
        ):
            results.append(measure(label, lambda url=url: get(url, **api), runs=30))  # type: ignore[misc]

        def first_of_a_process() -> None:
            forget_memory()
            get(f"/api/v1/launches/{slug}/series?bucket=day", **api)

        results.append(measure("series?bucket=day, first call of a process (days kept)", first_of_a_process, runs=10))
        for name in ("today", "since-digest", "yesterday", "7d", "launch"):
            url = f"/launches/{slug}?range={name}"
            results.append(measure(f"launch page, range={name}", lambda url=url: get(url), runs=20))  # type: ignore[misc]
        results.append(
            measure(
                "launch page, range=7d&channel=phone&segment=business",
                lambda: get(f"/launches/{slug}?range=7d&channel=phone&segment=business"),
                runs=20,
            )
        )
        results.append(
            measure(
                "launch page numbers fragment (live refresh), range=today",
                lambda: get(f"/launches/{slug}?range=today", **{"HX-Request": "true"}),
                runs=20,
            )
        )
    db.dispose()
    bare = results[0].median_ms
    return [
        Timing(f"{t.label} ({t.median_ms / bare:.0f}× bare)" if i else t.label, t.runs, t.median_ms, t.p95_ms, t.min_ms)
        for i, t in enumerate(results)
    ]


def main() -> None:
    query_benchmark_main(__doc__, run, hypotheses=30)


if __name__ == "__main__":
    main()

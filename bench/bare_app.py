"""The yardstick: a bare FastAPI ``async def`` endpoint, served exactly like the app.

    python -m bench.bare_app --port 8001 --workers 2           # as `tally serve` serves (app/serving.py)
    python -m bench.bare_app --port 8002 --workers 2 --stock   # uvicorn's own httptools protocol

`tally serve` sends each answer in one write (app/serving.py); stock uvicorn
sends the head and the body in two. That alone moved the bare GET by a
quarter to a third on the 2026-12-03 machines, so the ratios compare the app
with the bare endpoint served the same way, and the stock one is measured
beside it for comparison with the figures from before that change.
"""

import argparse

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Body(BaseModel):
    channel: str
    segment: str | None = None
    hypotheses: list[str] = []
    idempotency_key: str | None = None


@app.get("/bare")
async def bare() -> dict[str, bool]:
    return {"ok": True}


@app.post("/bare")
async def bare_post(body: Body) -> dict[str, bool]:
    """The same JSON body parsed and validated, and nothing else."""
    return {"ok": bool(body.channel)}


def main() -> None:
    import uvicorn

    from app.serving import UVICORN_OPTIONS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--stock", action="store_true", help="uvicorn's own protocol: head and body in two writes")
    args = parser.parse_args()
    options = {**UVICORN_OPTIONS, "http": "httptools"} if args.stock else UVICORN_OPTIONS
    uvicorn.run(
        "bench.bare_app:app", port=args.port, workers=args.workers, access_log=False, log_level="warning", **options
    )


if __name__ == "__main__":
    main()

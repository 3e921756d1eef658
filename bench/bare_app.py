"""The yardstick: a bare FastAPI ``async def`` endpoint, served exactly like the app.

uvicorn bench.bare_app:app --workers 2 --loop uvloop --http httptools --no-access-log
"""

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

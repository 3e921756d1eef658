# Launch Tally: docker build -t launch-tally . && docker run -p 8000:8000 -v tally-data:/data launch-tally
# The SQLite file lives on the /data volume; set TALLY_DATABASE_URL for PostgreSQL.

FROM python:3.12-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir 'uv>=0.9'
WORKDIR /app
# Dependencies first, in their own layer, so code changes rebuild in seconds.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY app ./app
COPY alembic ./alembic
COPY templates ./templates
COPY hypotheses ./hypotheses
RUN uv sync --frozen --no-dev

FROM python:3.12-slim
RUN groupadd --system --gid 10001 tally \
    && useradd --system --uid 10001 --gid tally --home-dir /app --shell /usr/sbin/nologin tally \
    && mkdir /data && chown tally:tally /data
WORKDIR /app
COPY --from=build --chown=root:root /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TALLY_DATABASE_URL=sqlite:////data/tally.db
VOLUME ["/data"]
# Numeric, so an orchestrator can tell it is not root without reading /etc/passwd (runAsNonRoot).
USER 10001:10001
EXPOSE 8000
# Liveness only (/readyz follows the database). python's urllib: the slim image has no curl or wget.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["tally", "serve", "--host", "0.0.0.0", "--port", "8000"]

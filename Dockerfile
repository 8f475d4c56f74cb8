# plex-tracker: one process serving the Plex webhook daemon, the Discord bot and the jobs.

# Build a wheel the ordinary way: the sql/ migrations go inside it (core/db/sql).
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY core ./core
COPY daemon ./daemon
COPY bot ./bot
COPY app ./app
COPY sql ./sql
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DATA_DIR=/data HOST=0.0.0.0 PORT=8080
COPY --from=build /wheels /wheels
# A normal (non-editable) install: no source tree in the image.
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 plex && mkdir -p /data && chown plex:plex /data

USER plex
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,os; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT','8080'), timeout=4)" || exit 1
STOPSIGNAL SIGTERM
CMD ["plex-tracker", "run"]

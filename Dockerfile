# plex-tracker: one process serving the Plex webhook daemon, the Discord bot and the jobs.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DATA_DIR=/data HOST=0.0.0.0 PORT=8080

RUN useradd --create-home --uid 10001 plex && mkdir -p /data /app && chown plex:plex /data /app
WORKDIR /app
COPY --chown=plex:plex pyproject.toml README.md ./
COPY --chown=plex:plex core ./core
COPY --chown=plex:plex daemon ./daemon
COPY --chown=plex:plex bot ./bot
COPY --chown=plex:plex app ./app
COPY --chown=plex:plex sql ./sql
# Editable install keeps sql/ beside the code, where the migration runner looks for it.
RUN pip install --no-cache-dir -e .

USER plex
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,os; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT','8080'), timeout=4)" || exit 1
STOPSIGNAL SIGTERM
CMD ["plex-tracker", "run"]

# The project's services (tracker, web, …): `docker compose` builds this once for all of them.
# The console's front end is built in its own stage (Node, from package-lock.json); only the output is kept.
FROM node:20-slim AS console
WORKDIR /web
COPY dashboards/web/package.json dashboards/web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY dashboards/web ./
RUN node build.mjs

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md patroli_cli.py ./
COPY patroli ./patroli
COPY tracker ./tracker
COPY dispatch ./dispatch
COPY firmware_sim ./firmware_sim
COPY dashboards ./dashboards
COPY --from=console /static/console ./dashboards/static/console
RUN pip install --no-cache-dir . && useradd --system patroli
# Owned by the service user, so the named volumes compose mounts here (the jurisdiction cache) are writable.
RUN mkdir -p /srv/patroli/data && chown patroli /srv/patroli/data
USER patroli
ENTRYPOINT ["patroli"]

# The project's services (tracker, web, …): `docker compose` builds this once for all of them.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md patroli_cli.py ./
COPY patroli ./patroli
COPY tracker ./tracker
COPY dispatch ./dispatch
COPY firmware_sim ./firmware_sim
COPY dashboards ./dashboards
RUN pip install --no-cache-dir . && useradd --system patroli
# Owned by the service user, so the named volumes compose mounts here (the jurisdiction cache) are writable.
RUN mkdir -p /srv/patroli/data && chown patroli /srv/patroli/data
USER patroli
ENTRYPOINT ["patroli"]

#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian 12 or 13 machine, idempotently:
# apt packages, TimescaleDB for PostgreSQL 15 (built from Debian's source package when missing),
# a virtual environment with the project installed for development.
# Running it a second time finds everything in place and changes nothing.
#   --venv-only   only the virtual environment (what `make demo` needs: no servers, no root)
set -euo pipefail
VENV_ONLY=0
[ "${1:-}" = "--venv-only" ] && VENV_ONLY=1

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PATROLI_VENV:-$ROOT/.venv}"
PG_MAJOR="${PATROLI_PG_MAJOR:-15}"
PG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
TIMESCALEDB_VERSION="2.19.3"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { printf '[install] %s\n' "$*"; }

if [ "$VENV_ONLY" -eq 0 ]; then
# ---- 1. Debian packages -------------------------------------------------------------------
APT_PACKAGES=(
  mosquitto mosquitto-clients                       # the real broker the tests start
  "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
  build-essential cmake dpkg-dev libssl-dev libkrb5-dev  # to build TimescaleDB
  chromium                                          # headless browser for the map tests
  dovecot-imapd                                     # a real IMAP server for the 110-by-mailbox tests
  python3-venv
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Node.js and npm build the console (dashboards/web); an image that ships its own Node (with npm) keeps it, since
# Debian's npm package conflicts with such a Node.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "apt: all packages present"
fi

# ---- 2. TimescaleDB (Apache edition) for PostgreSQL $PG_MAJOR ----------------------------------
# Debian 12 does not package it; Debian 13's source package builds against PG 15 unchanged.
# A private apt configuration adds trixie's deb-src without touching the system's sources.
PKGLIBDIR="$("$PG_CONFIG" --pkglibdir)"
if [ -f "$PKGLIBDIR/timescaledb.so" ]; then
  log "timescaledb: present in $PKGLIBDIR"
else
  work="$(mktemp -d /tmp/patroli-timescaledb.XXXXXX)"
  log "timescaledb: building $TIMESCALEDB_VERSION in $work"
  mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/sources.list.d"
  echo "deb-src http://deb.debian.org/debian trixie main" > "$work/apt/sources.list"
  APT_OPTS=(
    -o "Dir::Etc::SourceList=$work/apt/sources.list"
    -o "Dir::Etc::SourceParts=$work/apt/sources.list.d"
    -o "Dir::State::Lists=$work/apt/lists"
    -o "Dir::Cache=$work/apt/cache"
    -o "APT::Sandbox::User=root"
  )
  apt-get "${APT_OPTS[@]}" update -qq
  (cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only "timescaledb=$TIMESCALEDB_VERSION*" >/dev/null 2>&1 \
     || (cd "$work" && apt-get "${APT_OPTS[@]}" source --download-only timescaledb))
  (cd "$work" && dpkg-source -x --no-check ./timescaledb_*.dsc src >/dev/null)
  (cd "$work/src" && ./bootstrap -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
       -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$PG_CONFIG" >/dev/null \
     && cd build && make -s -j"$(nproc)" >/dev/null && $SUDO make -s install >/dev/null)
  rm -rf "$work"
  [ -f "$PKGLIBDIR/timescaledb.so" ] || { echo "timescaledb build failed" >&2; exit 1; }
  log "timescaledb: installed into $PKGLIBDIR"
fi

fi

# ---- 3. Python virtual environment with the project ----------------------------------------
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  log "venv: creating $VENV"
  "$PY" -m venv "$VENV"
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp="$VENV/.patroli-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  log "venv: installing the project with its dev extras"
  pip_log="$VENV/pip-install.log"
  if ! { "$VENV/bin/pip" install -q --upgrade pip && "$VENV/bin/pip" install -q -e "$ROOT[dev]"; } >"$pip_log" 2>&1; then
    cat "$pip_log" >&2
    exit 1
  fi
  touch "$stamp"
else
  log "venv: up to date"
fi
# ---- 4. The console: dashboards/web built by esbuild into dashboards/static/console (never committed) ----
# A full install rebuilds when a source is newer than the build; --venv-only (make demo) only when missing.
WEB="$ROOT/dashboards/web"
BUILT="$ROOT/dashboards/static/console/console.js"
OFFICER_BUILT="$ROOT/dashboards/static/officer/officer.js"  # the officer's page (/m), built by the same build.mjs
if [ ! -f "$BUILT" ] || [ ! -f "$OFFICER_BUILT" ] || { [ "$VENV_ONLY" -eq 0 ] && [ -n "$(find "$WEB/src" "$WEB/officer" "$WEB/build.mjs" "$WEB/index.html" "$WEB/package-lock.json" -newer "$BUILT" 2>/dev/null | head -1)" ]; }; then
  if ! command -v npm >/dev/null; then
    echo "npm not found: install Node.js 18+ and npm to build the console (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
  if [ ! -d "$WEB/node_modules" ] || [ "$WEB/package-lock.json" -nt "$WEB/node_modules/.package-lock.json" ]; then
    log "console: npm ci"
    (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  log "console: building"
  (cd "$WEB" && node build.mjs)
else
  log "console: up to date"
fi
log "done"

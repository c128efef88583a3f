"""`python -m dashboards`: serve the dashboards alone (see dashboards.server.main)."""

from dashboards.server import main

main()

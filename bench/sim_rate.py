"""Load-generator benchmark (issue #4): how fast `firmware_sim.load` can publish against a real Mosquitto.

Run ``python -m bench.sim_rate [--units 1000] [--seconds 10] [--connections 4] [--qos 1]``. Publishes flat out
(no throttle) and writes ``bench/results/sim_rate.json`` with units, sent, acked (PUBACKs), rate_per_s (sent per
second of sending), errors, seconds, connections and qos. Benchmarks that drive the tracker must offer less than
this rate, or they measure the generator instead.
"""

from __future__ import annotations

import argparse
import time

from bench.common import write_results
from firmware_sim.load import run_load
from patroli.localservers import start_mosquitto


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--qos", type=int, default=1, choices=(0, 1, 2))
    args = parser.parse_args()

    broker = start_mosquitto()
    try:
        t0 = time.monotonic()
        s = run_load(
            "127.0.0.1",
            broker.port,
            units=args.units,
            rate_per_s=0,
            duration_s=args.seconds,
            qos=args.qos,
            connections=args.connections,
        )
        print(f"sent {s.sent:,} in {s.seconds:.2f} s ({time.monotonic() - t0:.1f} s with setup and drain)")
    finally:
        broker.stop()
    write_results(
        "sim_rate",
        {
            "units": s.units,
            "connections": s.connections,
            "qos": s.qos,
            "sent": s.sent,
            "acked": s.acked,
            "errors": s.errors,
            "seconds": round(s.seconds, 3),
            "rate_per_s": round(s.rate_per_s),
        },
    )


if __name__ == "__main__":
    main()

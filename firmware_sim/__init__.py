"""firmware_sim: a fleet of simulated patrol radios and handhelds, and the benchmarks' load generator.

It never imports tracker, dispatch or dashboards, and writes NMEA with its own encoder, so that what the
tracker decodes was not produced by the code it is tested against.

Modules, one job each:
* `city`, `streets`, `geo`: the cities (facts) and the street grid the simulator makes up for them;
* `calibration`: speed/acceleration/stop figures measured from real drive traces, and the code to measure;
* `movement`: how cars, motorbikes and handhelds move (patrol, respond to an incident);
* `receiver`, `nmea_encode`: what a GNSS receiver reports and how it prints it (NMEA 2.3 / 4.1);
* `faults`: count-controlled faults (bad checksums, garbage, truncation, clock skew, duplicates, bursts);
* `device`: one radio without I/O (`SimDevice`, `DeviceConfig`, `DispatchBehaviour`);
* `buffer`: store and forward while the link is down;
* `link`, `fleet`: MQTT sessions on one asyncio loop, and the runner of N radios (`Fleet`);
* `load`: the pre-encoded firehose for benchmarks (`run_load`);
* `cli`: `patroli sim`.
"""

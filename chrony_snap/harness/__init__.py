"""The harness: what `chrony-snap demo`, the tests and the benchmarks run
around the product -- never on the per-second path.

* `sandbox`: a real, private chronyd on loopback and real NTP traffic;
* `traffic`: the demo's trickle of synthetic clients;
* `nginx`: a private nginx serving a web root with the production site block.
"""

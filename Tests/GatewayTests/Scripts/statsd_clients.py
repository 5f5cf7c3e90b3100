"""Sends StatsD as an application would, with the official DogStatsD client (`datadog`) and the
`statsd` client, and writes what the gateway must report for one flush interval.

usage: statsd_clients.py PORT EXPECTED.json

Sample rates are honoured by the clients themselves (they drop samples at random); the random source is
seeded and watched, so the script knows which samples were sent. Percentiles are computed with Python's
statistics module (method 'inclusive' is numpy's default linear method); a series with more samples than
the gateway keeps exactly gets the bounds of the stated 1 % error around the samples at the rank.
"""

import json
import math
import random
import statistics
import sys

import datadog.dogstatsd.base as dd_base
import statsd.client.base as sd_base
from datadog.dogstatsd import DogStatsd
from statsd import StatsClient

port = int(sys.argv[1])
expected_path = sys.argv[2]
rng = random.Random(21)
draws = []


def watched():
    value = rng.random()
    draws.append(value)
    return value


# Both clients draw random() to sample; they read it through these names.
dd_base.random = watched
sd_base.random = type("R", (), {"random": staticmethod(watched)})

dog = DogStatsd(host="127.0.0.1", port=port, disable_telemetry=True, origin_detection_enabled=False)
plain = StatsClient("127.0.0.1", port)
lines = 0
checks = []


# The gateway names series as Telegraf does (metric_separator "_"): "dd.requests" is stored as "dd_requests".
def expect(metric, labels, value):
    checks.append({"metric": metric.replace(".", "_"), "labels": labels, "value": value})


def expect_between(metric, labels, low, high):
    checks.append({"metric": metric.replace(".", "_"), "labels": labels, "low": low, "high": high})


def sent(rate):
    """Whether the call just made sent its sample (both clients drop it when random() > rate)."""
    if rate == 1:
        return True
    return draws[-1] <= rate


# Counters with sample rates.
dd_total = 0.0
for i in range(400):
    dog.increment("dd.requests", 2, sample_rate=0.5, tags=["env:test", "canary"])
    if sent(0.5):
        lines += 1
        dd_total += 2 / 0.5
expect("dd.requests_value", {"env": "test", "canary": "true", "metric_type": "counter"}, dd_total)

py_total = 0.0
for i in range(300):
    plain.incr("py.hits", 3, rate=0.25)
    if sent(0.25):
        lines += 1
        py_total += 3 / 0.25
expect("py.hits_value", {"metric_type": "counter"}, py_total)

# Gauges: a value, then deltas (statsd's gauge(delta=True)); DogStatsD gauges keep the last value.
plain.gauge("py.load", 100)
plain.gauge("py.load", 5, delta=True)
plain.gauge("py.load", -12, delta=True)
lines += 3
expect("py.load_value", {"metric_type": "gauge"}, 93)
for v in [7, 3, 11]:
    dog.gauge("dd.queue", v, tags=["queue:mail"])
    lines += 1
expect("dd.queue_value", {"queue": "mail", "metric_type": "gauge"}, 11)

# Sets: distinct members.
members = [f"user{rng.randrange(60)}" for _ in range(400)]
for m in members:
    plain.set("py.users", m)
    lines += 1
expect("py.users_value", {"metric_type": "set"}, len(set(members)))
for m in members[:100]:
    dog.set("dd.visitors", m)
    lines += 1
expect("dd.visitors_value", {"metric_type": "set"}, len(set(members[:100])))


def expect_stats(name, labels, samples, exact=True):
    lab = dict(labels)
    expect(f"{name}_count", lab, len(samples))
    expect(f"{name}_lower", lab, min(samples))
    expect(f"{name}_upper", lab, max(samples))
    expect(f"{name}_sum", lab, math.fsum(samples))
    expect(f"{name}_mean", lab, statistics.fmean(samples))
    expect(f"{name}_stddev", lab, statistics.pstdev(samples))
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    ordered = sorted(samples)
    for p, field in [(50, "median"), (50, "50_percentile"), (90, "90_percentile"), (99, "99_percentile")]:
        if exact:
            expect(f"{name}_{field}", lab, cuts[p - 1])
        else:
            rank = p / 100 * (len(ordered) - 1)
            expect_between(
                f"{name}_{field}", lab, ordered[math.floor(rank)] * 0.99, ordered[math.ceil(rank)] * 1.01)


# Timings (statsd client: ms with 6 decimals), histograms and distributions (DogStatsD).
timings = [round(rng.lognormvariate(3, 1), 3) for _ in range(500)]
for v in timings:
    plain.timing("py.rt", v)
    lines += 1
expect_stats("py.rt", {"metric_type": "timing"}, timings)

sizes = [float(rng.randrange(1, 5000)) for _ in range(300)]
for v in sizes:
    dog.histogram("dd.size", v, tags=["route:/api"])
    lines += 1
expect_stats("dd.size", {"route": "/api", "metric_type": "histogram"}, sizes)

# More samples than the gateway keeps exactly (timing_samples 1024): the sketch's stated error.
latencies = [round(rng.lognormvariate(1, 1.5), 4) for _ in range(3000)]
for v in latencies:
    dog.distribution("dd.latency", v)
    lines += 1
expect_stats("dd.latency", {"metric_type": "distribution"}, latencies, exact=False)

dog.flush()
dog.close_socket()
plain.close() if hasattr(plain, "close") else None
with open(expected_path, "w") as f:
    json.dump({"lines": lines, "checks": checks}, f)
print(lines)

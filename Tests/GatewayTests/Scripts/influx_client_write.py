"""Writes points to the gateway with the official InfluxDB Python client's batching write API.

Usage: influx_client_write.py URL COUNT EXPECTED_FILE
Prints one JSON line: {"success": points acknowledged, "errors": [...], "retries": n}.
Every point is also written, as the client serialised it, to EXPECTED_FILE.
"""
import json
import sys

from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import WriteOptions

url, count, expected_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
summary = {"success": 0, "errors": [], "retries": 0}


def on_success(conf, data):
    summary["success"] += data.count(b"\n") + 1 if isinstance(data, bytes) else str(data).count("\n") + 1


def on_error(conf, data, exception):
    summary["errors"].append(str(exception)[:300])


def on_retry(conf, data, exception):
    summary["retries"] += 1


points = []
base = 1_700_000_000_000_000_000
for i in range(count):
    p = (
        Point("client_test")
        .tag("host", "client-%d" % (i % 7))
        .tag("route", "GET:/v%d" % (i % 13))
        .field("value", i * 0.5 + 0.25)
        .field("count", i)
        .field("ok", i % 2 == 0)
        .field("label", 'say "hi" %d, ok\\' % i)
        .time(base + i * 1000, WritePrecision.NS)
    )
    points.append(p)

with open(expected_path, "w") as out:
    for p in points:
        out.write(p.to_line_protocol() + "\n")

with InfluxDBClient(url=url, token="test-token", org="test-org") as client:
    with client.write_api(
        write_options=WriteOptions(batch_size=5000, flush_interval=1000, max_retries=0),
        success_callback=on_success,
        error_callback=on_error,
        retry_callback=on_retry,
    ) as write_api:
        write_api.write(bucket="test-bucket", record=points)

print(json.dumps(summary))

"""A crash-report processor speaking the gateway's jobdir API, for the end-to-end test.

Usage: jobdir_processor.py BASE_URL NAME OUT_FILE [FAIL_EVERY]

Checks in, then claims jobs until none is queued anywhere, reading each job's json (it must name
the job's uuid) and dump, and reports each one done (every FAIL_EVERY-th as failed). Writes one
line per job it finished to OUT_FILE: "<uuid> <success>". Any unexpected answer ends it with exit 1.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

base, name, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
fail_every = int(sys.argv[4]) if len(sys.argv) > 4 else 0
url = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)


def call(method, path, body=None):
    payload = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if payload else {}
    for attempt in range(5):
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, (json.loads(data) if data else None)
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            time.sleep(0.1 * (attempt + 1))
    raise SystemExit(f"{name}: {method} {path}: no answer")


status, _ = call("POST", f"/api/v1/jobdir/processors/{name}/check-in", {"instance": str(os.getpid())})
if status != 200:
    raise SystemExit(f"{name}: check-in answered {status}")
done = 0
idle = 0
with open(out_path, "w") as out:
    while True:
        status, job = call("POST", f"/api/v1/jobdir/claim?processor={name}")
        if status == 204:
            status, queued = call("GET", "/api/v1/jobdir/jobs?state=queued&limit=1")
            if status != 200:
                raise SystemExit(f"{name}: jobs answered {status}")
            if not queued["jobs"]:
                idle += 1
                if idle >= 3:
                    break
            time.sleep(0.05)
            continue
        if status != 200:
            raise SystemExit(f"{name}: claim answered {status}: {job}")
        idle = 0
        with open(job["json_path"]) as f:
            meta = json.load(f)
        if meta.get("uuid") != job["uuid"]:
            raise SystemExit(f"{name}: {job['json_path']} names {meta.get('uuid')}, not {job['uuid']}")
        with open(job["dump_path"], "rb") as f:
            f.read()
        done += 1
        success = not (fail_every and done % fail_every == 0)
        status, answer = call(
            "POST", f"/api/v1/jobdir/jobs/{job['uuid']}/done?processor={name}",
            {"success": success, "message": f"processed by {name}"})
        if status != 200:
            raise SystemExit(f"{name}: done answered {status}: {answer}")
        out.write(f"{job['uuid']} {str(success).lower()}\n")
        if done % 500 == 0:
            call("POST", f"/api/v1/jobdir/processors/{name}/check-in", {"instance": str(os.getpid())})
print(json.dumps({"processor": name, "done": done}))

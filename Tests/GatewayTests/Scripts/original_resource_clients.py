"""The original resource server's clients, step by step, against the gateway.

Usage: original_resource_clients.py BASE_URL
The collector's PUT of collected usage (its payload shape: "data" entries with "timestamp",
"value", "process_name", "type_data", and "ipaddress"), then the alarm client's reads: it decodes
get-all twice (json.loads(response.json())) and indexes [0] as memory and [1] as CPU; get-all/<ip>
the same; get-all-detailed once, a list of memory values per process.
Prints one JSON object with what each step saw.
"""
import json
import sys
import time

import requests

base = sys.argv[1]
out = {}

# The collector (micro_service_ressource_usage_collector.py): both metrics per process, stamped
# with time.time() when the process was read (two passes of "db", 5 s apart).
payload = {"data": []}
now = time.time()
for age, name, mem, cpu in [(10, "db", 10.0, 1.5), (5, "db", 20.0, 2.5), (5, "hot", 85.0, 3.0), (5, "ünï", 1.0, 0.0)]:
    payload["data"].append({"timestamp": now - age, "value": mem, "process_name": name, "type_data": "mem"})
    payload["data"].append({"timestamp": now - age, "value": cpu, "process_name": name, "type_data": "cpu"})
    payload["ipaddress"] = "10.8.8.8"
response = requests.put(base + "/ressources-usage/save-all", json=payload)
out["put"] = {"status": response.status_code, "body": response.json()}

# The alarm client (micro_service_ressource_usage_alarm.py).
deadline = time.time() + 20
while True:
    response = requests.get(base + "/ressources-usage/get-all")
    json_response = response.json()
    dict_json_response = json.loads(json_response)
    if len(dict_json_response) >= 3 or time.time() > deadline:
        break
    time.sleep(0.1)
out["get_all_type"] = type(json_response).__name__
out["get_all"] = dict_json_response
out["alerts"] = sorted(key for key in dict_json_response.keys()
                       if dict_json_response[key][0] > 80.0 or dict_json_response[key][1] > 80.0)

response = requests.get(base + "/ressources-usage/get-all/10-8-8-8")
out["get_all_ip"] = json.loads(response.json())
response = requests.get(base + "/ressources-usage/get-all/10-9-9-9")
out["get_all_other_ip"] = json.loads(response.json())

response = requests.get(base + "/ressources-usage/get-all-detailed")
out["detailed"] = response.json()
print(json.dumps(out))

"""The replaced connector's parser: xmltodict on the whole document.
Prints one JSON line."""
import json, os, resource, sys, time
import xmltodict

path = sys.argv[1]
start = time.perf_counter()
with open(path, "rb") as f:
    doc = xmltodict.parse(f.read())
hosts = doc["HOST_LIST_VM_DETECTION_OUTPUT"]["RESPONSE"].get("HOST_LIST", {}).get("HOST", [])
if isinstance(hosts, dict):
    hosts = [hosts]
dets = 0
for h in hosts:
    d = h.get("DETECTION_LIST", {}).get("DETECTION", [])
    dets += 1 if isinstance(d, dict) else len(d)
secs = time.perf_counter() - start
size = os.path.getsize(path) / 1e6
print(json.dumps({"impl": "xmltodict (whole document)", "mb": size, "seconds": secs, "mb_per_s": size / secs, "hosts": len(hosts),
                  "detections": dets, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))

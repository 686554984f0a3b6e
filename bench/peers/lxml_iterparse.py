"""The fastest peer parser: lxml iterparse with element clearing, as the
Qualys Splunk add-on parses host list detections. Prints one JSON line."""
import json, resource, sys, time
from lxml import etree

path = sys.argv[1]
start = time.perf_counter()
hosts = dets = 0
for _, host in etree.iterparse(path, events=("end",), tag="HOST", huge_tree=True):
    record = {}
    for child in host:
        if child.tag == "DETECTION_LIST":
            detections = []
            for d in child:
                detections.append({f.tag: f.text for f in d})
            record["DETECTIONS"] = detections
            dets += len(detections)
        elif child.tag == "TAGS":
            record["TAGS"] = [t.findtext("NAME") for t in child]
        else:
            record[child.tag] = child.text
    hosts += 1
    host.clear()
    while host.getprevious() is not None:
        del host.getparent()[0]
secs = time.perf_counter() - start
size = __import__("os").path.getsize(path) / 1e6
print(json.dumps({"impl": "lxml iterparse", "mb": size, "seconds": secs, "mb_per_s": size / secs, "hosts": hosts,
                  "detections": dets, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))

#!/usr/bin/env bash
# Measures qualysbridge's performance targets side by side and prints one
# table: detection decoding (ours, encoding/xml per host, lxml iterparse,
# xmltodict) on the same generated file, memory on a 1 GB stream, and the
# CAR connector at 2,000 and 20,000 hosts against fakes in another process,
# also one call at a time and under issue 20's latency model.
#
#   bash bench/run.sh            # full run (about 5 minutes on 2 cores)
#   BENCH_MB=50 bash bench/run.sh  # smaller decode file, quicker
#   BENCH_100K=1 bash bench/run.sh # also 100,000 hosts (the fakes need ~12 GB)
#   BENCH_ONLY=latency bash bench/run.sh # only the latency runs (about two minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
BENCH_MB=${BENCH_MB:-200}     # decode comparison file size
STREAM_MB=${STREAM_MB:-1000}  # memory test stream size
DETS=30
hosts_for_mb() { echo $(( $1 * 1000000 / 21300 )); } # ~21.3 KB per host at 30 detections

echo "== building tools" >&2
go build -o "$out/gen" ./bench/gen
go build -o "$out/decode" ./bench/decode
go build -o "$out/fakes" ./bench/fakes
go build -o "$out/car-connector" ./examples/car-connector

PY=/usr/bin/python3
peers_ok=1
if ! "$PY" -c 'import lxml, xmltodict' 2>/dev/null; then
  echo "== installing python3-lxml and python3-xmltodict (Debian) for the peer parsers" >&2
  if command -v apt-get >/dev/null; then
    (apt-get install -y python3-lxml python3-xmltodict >/dev/null 2>&1 ||
      (apt-get update >/dev/null 2>&1 && apt-get install -y python3-lxml python3-xmltodict >/dev/null 2>&1)) || true
  fi
  "$PY" -c 'import lxml, xmltodict' 2>/dev/null || { peers_ok=0; echo "!! peer parsers unavailable: lxml/xmltodict could not be installed; their rows are left out" >&2; }
fi
TIME=/usr/bin/time
[ -x "$TIME" ] || { apt-get install -y time >/dev/null 2>&1 || true; }

file="$out/detections_${BENCH_MB}mb.xml"
[ -n "${BENCH_ONLY:-}" ] || [ -f "$file" ] || "$out/gen" -hosts "$(hosts_for_mb "$BENCH_MB")" -detections $DETS -o "$file"

results="$out/results.jsonl"
: > "$results"
only=${BENCH_ONLY:-}
if [ -z "$only" ]; then
echo "== decoding $file" >&2
"$out/decode" -impl ours -file "$file" >> "$results"
"$out/decode" -impl encoding/xml -file "$file" >> "$results"
if [ $peers_ok = 1 ]; then
  "$PY" bench/peers/lxml_iterparse.py "$file" >> "$results"
  "$PY" bench/peers/xmltodict_parse.py "$file" >> "$results"
fi
echo "== decoding a ${STREAM_MB} MB stream from a pipe (memory)" >&2
"$out/gen" -hosts "$(hosts_for_mb "$STREAM_MB")" -detections $DETS -o - 2>/dev/null | "$out/decode" -impl ours -file - |
  sed 's/"impl":"ours"/"impl":"ours, 1 GB stream"/' >> "$results"
fi

connector() { # hosts label [fakes flags...] [-- connector flags...] -> one JSON line
  local hosts=$1 label=$2 fifo="$out/fakes.in" envf="$out/fakes.env" stats="$out/fakes.stats.json"
  shift 2
  local fflags=() cflags=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do fflags+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  cflags=("$@")
  rm -f "$fifo" "$stats"; mkfifo "$fifo"
  "$out/fakes" -hosts "$hosts" -detections $DETS -stats "$stats" "${fflags[@]}" < "$fifo" > "$envf" &
  local fpid=$!
  exec 9>"$fifo"
  until grep -q READY=1 "$envf" 2>/dev/null; do sleep 0.2; done
  # shellcheck disable=SC1090
  . "$envf"
  local wd; wd=$(mktemp -d)
  local start end
  start=$(date +%s.%N)
  QUALYS_PASSWORD=$QUALYS_PASSWORD CAR_API_KEY=$CAR_API_KEY CAR_PASSWORD=$CAR_PASSWORD \
    "$TIME" -f '%M %U %S' -o "$out/time.txt" "$out/car-connector" -qualys_url "$QUALYS_URL" -qualys_gateway "$QUALYS_GATEWAY" \
    -username "$QUALYS_USER" -url "$CAR_URL" -verify_ssl=false -working_dir "$wd" -json "${cflags[@]}" > "$out/summary.json" 2> "$out/connector.log"
  end=$(date +%s.%N)
  exec 9>&-
  wait $fpid || true
  read -r rss_kb utime stime < "$out/time.txt"
  "$PY" - "$hosts" "$rss_kb" "$utime" "$stime" "$start" "$end" "$out/summary.json" "$label" "$stats" <<'PY'
import json, math, sys
hosts, rss, ut, st, start, end, path, label, stats = sys.argv[1:]
s = json.load(open(path))
wall = float(end) - float(start)
calls = s.get("qualys_calls") or {}
row = {"impl": f"connector, {label}", "hosts": int(hosts), "seconds": wall, "cpu_seconds": float(ut) + float(st),
       "peak_rss_mb": int(rss) / 1024, "hosts_per_s": int(hosts) / wall, "qualys_calls": calls}
# The floor of a run under the latency model: the time the busiest API needs
# to deliver its answers with its concurrency limit always in use, each call
# waiting its time to first byte: (calls x ttfb + bytes / rate) / limit.
apis = json.load(open(stats))
car = apis.pop("car", None)
if car:
    row["car"] = car
floors = {}
for api, a in apis.items():
    lat = a["latency"]
    if not lat["ttfb_seconds"] and not lat["bytes_per_second"]:
        continue
    limit = a.get("concurrency_limit") or 1
    pace = a["bytes"] / lat["bytes_per_second"] if lat["bytes_per_second"] else 0
    floors[api] = {"floor_s": (a["calls"] * lat["ttfb_seconds"] + pace) / limit, "bytes_only_s": pace / limit,
                   "calls": a["calls"], "mb": a["bytes"] / 1e6, "limit": limit, "peak_concurrency": a["peak_concurrency"]}
if floors:
    busiest = max(floors, key=lambda k: floors[k]["floor_s"])
    row["floor"] = dict(floors[busiest], api=busiest)
print(json.dumps(row))
PY
}
if [ -z "$only" ]; then
echo "== connector at 2,000 and 20,000 hosts (fakes in another process)" >&2
connector 2000 "2,000 hosts" >> "$results"
connector 20000 "20,000 hosts" >> "$results"
connector 20000 "20,000 hosts, -overlap=false" -- -overlap=false >> "$results"
fi
echo "== connector at 20,000 hosts under issue 20's latency model, CAR in process and 50 ms away (about two minutes)" >&2
connector 20000 "20,000 hosts, latency" -latency >> "$results"
connector 20000 "20,000 hosts, latency, CAR 50 ms" -latency -car_latency 50ms >> "$results"
if [ "${BENCH_100K:-0}" = 1 ] && [ -z "$only" ]; then
  echo "== connector at 100,000 hosts (the fakes need about 12 GB; about 4 minutes)" >&2
  connector 100000 "100,000 hosts" >> "$results"
fi

"$PY" - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
dec = {r["impl"]: r for r in rows if "mb_per_s" in r}
ours = dec.get("ours")
print("\n| measurement | MB | MB/s | vs ours | allocs/detection | peak RSS MB |")
print("|---|---:|---:|---:|---:|---:|")
for r in rows:
    if "mb_per_s" not in r:
        continue
    ratio = ours["mb_per_s"] / r["mb_per_s"] if ours else 0
    a = r.get("allocs_per_detection")
    print(f"| {r['impl']} | {r['mb']:.0f} | {r['mb_per_s']:.0f} | {ratio:.1f}x | {a:.1f} |" if a else
          f"| {r['impl']} | {r['mb']:.0f} | {r['mb_per_s']:.0f} | {ratio:.1f}x | - |", f" {r['peak_rss_mb']:.0f} |")
con = [r for r in rows if r["impl"].startswith("connector")]
if con:
    print("\n| connector run (full import) | hosts/s | wall s | CPU s | CPU ms/host | peak RSS MB | Qualys calls per API |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in con:
        calls = ", ".join(f"{'/'.join(k.rstrip('/').split('/')[-3:])}={v}" for k, v in sorted(r["qualys_calls"].items()))
        print(f"| {r['impl']} | {r['hosts_per_s']:.0f} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | {1000 * r['cpu_seconds'] / r['hosts']:.2f} | {r['peak_rss_mb']:.0f} | {calls} |")
    for r in con:
        f = r.get("floor")
        if f:
            print(f"\n{r['impl']}: floor = (calls x ttfb + bytes / rate) / limit on {f['api']} = {f['floor_s']:.1f} s "
                  f"({f['calls']} calls, {f['mb']:.0f} MB, limit {f['limit']}, peak {f['peak_concurrency']} in flight); "
                  f"wall / floor = {r['seconds'] / f['floor_s']:.2f} (target <= 1.15); bytes alone at the limit: {f['bytes_only_s']:.1f} s")
    for r in con:
        c = r.get("car")
        if c:
            req = c["requests"]
            imports, polls = req.get("POST imports", 0), req.get("GET importstatus", 0)
            rest = ", ".join(f"{k}={v}" for k, v in sorted(req.items()) if k not in ("POST imports", "GET importstatus"))
            print(f"\n{r['impl']}: CAR {c['latency_seconds'] * 1000:.0f} ms per request; {imports} imports, {polls} status polls; other: {rest}")
    print("\npeak RSS, every run: target <= 64 MB: " + ", ".join(f"{r['peak_rss_mb']:.0f}" for r in con))
if ours:
    for name, target in (("lxml iterparse", 1.0), ("xmltodict (whole document)", 3.0), ("encoding/xml", 1.0)):
        if name in dec:
            print(f"ours / {name}: {ours['mb_per_s'] / dec[name]['mb_per_s']:.1f}x (target >= {target:.0f}x)")
PY

#!/usr/bin/env bash
# build-static.sh: the one static build of the three programs. The
# Dockerfile's build stage, the release script and CI all call it, so the
# binary CI checks is built the way the image's is.
#
#   deploy/build-static.sh [-o DIR] [-t GOOS/GOARCH] [PROGRAM ...]
#
# PROGRAM is car-connector, threatq-operation or qualys-export (default: all
# three). DIR defaults to dist/GOOS_GOARCH; the target to the machine's.
# The version stamped into the binaries (what -version prints) is $VERSION,
# else `git describe --tags --always --dirty`, else "devel".
#
# The binaries are static (CGO_ENABLED=0, so Go's own DNS resolver and no
# libc: they run on a distroless or scratch image), reproducible (-trimpath,
# no build paths, no VCS stamp that differs between a clone and a tarball)
# and stripped of symbol tables (-s -w).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

out=""
target=""
while [ $# -gt 0 ]; do
  case "$1" in
    -o) out="$2"; shift 2 ;;
    -o=*) out="${1#*=}"; shift ;;
    -t) target="$2"; shift 2 ;;
    -t=*) target="${1#*=}"; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-static.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
programs=("$@")
if [ ${#programs[@]} -eq 0 ]; then
  programs=(car-connector threatq-operation qualys-export)
fi

goos="$(go env GOOS)"
goarch="$(go env GOARCH)"
if [ -n "$target" ]; then
  case "$target" in
    */*) goos="${target%/*}"; goarch="${target#*/}" ;;
    *) echo "build-static.sh: -t takes GOOS/GOARCH, not $target" >&2; exit 2 ;;
  esac
fi
out="${out:-$root/dist/${goos}_${goarch}}"

version="${VERSION:-}"
if [ -z "$version" ] && command -v git >/dev/null 2>&1 && git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  version="$(git -C "$root" describe --tags --always --dirty 2>/dev/null || true)"
fi
version="${version:-devel}"
case "$version" in
  *[!A-Za-z0-9._+-]*) echo "build-static.sh: VERSION $version has characters other than letters, digits and ._+-" >&2; exit 2 ;;
esac

mkdir -p "$out"
for p in "${programs[@]}"; do
  case "$p" in
    car-connector|threatq-operation|qualys-export) ;;
    *) echo "build-static.sh: unknown program $p (car-connector, threatq-operation, qualys-export)" >&2; exit 2 ;;
  esac
  exe=""
  [ "$goos" = windows ] && exe=".exe"
  (
    cd "$root"
    CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/qualysbridge/qualysbridge/examples/internal/cli.stamped=$version" \
      -o "$out/$p$exe" "./examples/$p"
  )
  echo "$out/$p$exe ($version, $goos/$goarch)"
done

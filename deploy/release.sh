#!/usr/bin/env bash
# release.sh: builds the three programs for every release target through
# build-static.sh and writes SHA256SUMS beside them.
#
#   VERSION=v1.2.3 deploy/release.sh [-o DIR] [GOOS/GOARCH ...]
#
# Targets default to linux/amd64, linux/arm64, darwin/arm64 and
# windows/amd64; DIR to dist/release. Files are named
# PROGRAM_VERSION_GOOS_GOARCH[.exe]. CI runs it for one target and checks
# the sums with sha256sum -c.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

out="$root/dist/release"
case "${1:-}" in
  -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
if [ "${1:-}" = "-o" ]; then out="$2"; shift 2; fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(linux/amd64 linux/arm64 darwin/arm64 windows/amd64)
fi

version="${VERSION:-}"
if [ -z "$version" ] && command -v git >/dev/null 2>&1 && git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  version="$(git -C "$root" describe --tags --always --dirty 2>/dev/null || true)"
fi
export VERSION="${version:-devel}"

rm -rf "$out"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  goos="${t%/*}"
  goarch="${t#*/}"
  "$here/build-static.sh" -o "$work/$goos-$goarch" -t "$t" >/dev/null
  for f in "$work/$goos-$goarch"/*; do
    name="$(basename "$f")"
    base="${name%.exe}"
    ext=""
    [ "$base" != "$name" ] && ext=".exe"
    mv "$f" "$out/${base}_${VERSION}_${goos}_${goarch}${ext}"
  done
done
(
  cd "$out"
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum -- * > SHA256SUMS
  else
    shasum -a 256 -- * > SHA256SUMS
  fi
)
echo "release $VERSION in $out:"
cat "$out/SHA256SUMS"

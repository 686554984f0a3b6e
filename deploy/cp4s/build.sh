#!/usr/bin/env bash
# build.sh: builds the car-connector image and deploys it into Cloud Pak for
# Security, with the arguments of IBM's deployment/build.sh:
#
#   deploy/cp4s/build.sh local|remote [-t IMAGE_TAG] [-v CONNECTOR_VERSION] [-r REMOTE_REGISTRY] [-n NAMESPACE] [-d]
#
#   local   build isc-car-connector-qualys:IMAGE_TAG, push nothing
#   remote  build and push to REMOTE_REGISTRY, or without -r to the CP4S
#           OpenShift cluster's registry (oc login first). Without -r this
#           exposes the cluster's image registry on its default route (oc
#           patch configs.imageregistry.operator.openshift.io/cluster
#           defaultRoute=true): a cluster-wide change; give -r to avoid it
#   -d      after a remote build, apply the Connector resource
#           (connector.yaml with the image and CONNECTOR_VERSION) in NAMESPACE
#
# IMAGE_TAG defaults to the version deploy/build-static.sh stamps (git
# describe), CONNECTOR_VERSION to 1.0.0.0 as IBM's. The connection form is
# configurations/config.json and lang_en.json beside this script, already in
# the merged form IBM's build.sh produces; the image carries them where
# IBM's does, in /usr/src/app/configurations.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

tag=""
connector_version="1.0.0.0"
registry=""
namespace=""
deploy=""
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) tag="$2"; shift 2 ;;
    -t=*) tag="${1#*=}"; shift ;;
    -v) connector_version="$2"; shift 2 ;;
    -v=*) connector_version="${1#*=}"; shift ;;
    -r) registry="$2"; shift 2 ;;
    -r=*) registry="${1#*=}"; shift ;;
    -n) namespace="$2"; shift 2 ;;
    -n=*) namespace="${1#*=}"; shift ;;
    -d) deploy=yes; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
    *) positional+=("$1"); shift ;;
  esac
done
mode="${positional[0]:-}"
case "$mode" in
  local|remote) ;;
  *) echo "build.sh: the first argument is the mode, local or remote" >&2; exit 2 ;;
esac
# IBM's script takes the connector's name second; only qualys is built here.
if [ -n "${positional[1]:-}" ] && [ "${positional[1]}" != qualys ]; then
  echo "build.sh: this repository builds the qualys connector, not ${positional[1]}" >&2
  exit 2
fi

for cmd in docker git; do
  command -v "$cmd" >/dev/null || { echo "build.sh: $cmd is needed" >&2; exit 1; }
done
version="${VERSION:-$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo devel)}"
tag="${tag:-$version}"
image="isc-car-connector-qualys"

if [ "$mode" = local ]; then
  docker build -f "$here/../Dockerfile" --build-arg VERSION="$version" -t "$image:$tag" "$root"
  echo "built $image:$tag"
  exit 0
fi

for cmd in kubectl oc; do
  command -v "$cmd" >/dev/null || { echo "build.sh: $cmd is needed for remote" >&2; exit 1; }
done
if [ -z "$namespace" ]; then
  namespace="$(kubectl config view --minify --output 'jsonpath={..namespace}')"
fi
if [ -z "$registry" ]; then
  # The cluster's own registry, exposed by its default route.
  oc patch configs.imageregistry.operator.openshift.io/cluster --patch '{"spec":{"defaultRoute":true}}' --type=merge
  route="$(oc get route default-route -n openshift-image-registry --template='{{ .spec.host }}')"
  oc whoami -t | docker login -u "$(oc whoami)" --password-stdin "$route"
  push="$route/$namespace/$image:$tag"
  pull="image-registry.openshift-image-registry.svc:5000/$namespace/$image:$tag"
else
  push="$registry/$image:$tag"
  pull="$push"
fi
docker build -f "$here/../Dockerfile" --build-arg VERSION="$version" -t "$push" "$root"
docker push "$push"
echo "pushed $push"

if [ -n "$deploy" ]; then
  sed -e "s|^  version: .*|  version: \"$connector_version\"|" \
      -e "s|^  image: .*|  image: $pull|" "$here/connector.yaml" |
    kubectl apply -n "$namespace" -f -
  echo "applied Connector car-qualys ($pull, $connector_version) in $namespace"
fi

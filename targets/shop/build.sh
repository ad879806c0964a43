#!/usr/bin/env bash
# Builds the shop images from chaos-base:bookworm. Safe to run again: docker reuses its cache.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base_image="chaos-base:bookworm"

if ! docker info >/dev/null 2>&1; then
  echo "build.sh: cannot reach a Docker engine (is dockerd running? is DOCKER_HOST right?)" >&2
  exit 1
fi
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  echo "build.sh: base image $base_image is missing; build it with the project's setup scripts first" >&2
  exit 1
fi

build() {
  local tag="$1" dockerfile="$2"; shift 2
  echo "build.sh: building $tag"
  local output
  # The legacy builder works on every engine here (no buildx needed); its deprecation
  # notice is noise, so output is shown only when a build fails.
  # --pull=false: the base exists only locally, no registry is asked.
  if ! output="$(DOCKER_BUILDKIT=0 docker build --pull=false -t "$tag" -f "$here/$dockerfile" "$@" "$here" 2>&1)"; then
    echo "$output" >&2
    echo "build.sh: building $tag failed" >&2
    exit 1
  fi
}

build chaos-shop-redis:1 redis/Dockerfile
build chaos-shop-inventory:1 inventory/Dockerfile
build chaos-shop-api:v1 api/Dockerfile --build-arg API_VERSION=v1
build chaos-shop-api:v2 api/Dockerfile --build-arg API_VERSION=v2
echo "build.sh: done: chaos-shop-redis:1 chaos-shop-inventory:1 chaos-shop-api:v1 chaos-shop-api:v2"

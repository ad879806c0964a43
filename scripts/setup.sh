#!/usr/bin/env bash
# Prepares a machine for chaos: Python venv, a Docker engine, the images the harness needs,
# chromium for report screenshots; ends with `chaos doctor`.
#
# Idempotent: a second run changes nothing and takes seconds. A Docker engine that already
# answers is used as it is; only as root on Debian does this script install or start one.
#
# Usage: scripts/setup.sh [--venv-only]
# Environment:
#   CHAOS_PYTHON         interpreter for the venv (default: first python3.x >= 3.11 on PATH)
#   CHAOS_DEBIAN_MIRROR  mirror for debootstrap (default: the one apt uses for bookworm)
#   CHAOS_DOCKERD_FLAGS  extra flags for a dockerd this script starts
#   CHAOS_SKIP_CHROMIUM  set to 1 to leave chromium alone
set -euo pipefail

# Bump when the way the base rootfs is built changes (the package list is hashed by itself).
BASE_RECIPE_VERSION=2
# Bump when the way the helper image or its libfaketime is built changes.
HELPER_RECIPE_VERSION=1
# Bump when the way the HTTP link proxy image is built changes.
HTTP_PROXY_RECIPE_VERSION=1

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO/.venv"
PY="$VENV/bin/python"
CACHE="$REPO/.cache"
LOGS="$CACHE/logs"
DOCKERD_LOG=/var/log/chaos-dockerd.log
DOCKERD_WAIT_SECONDS=60
SETUP_RUN_LABEL="chaos.run=setup-$$"

say() { printf 'setup: %s\n' "$*"; }
ok() { printf 'setup: %s ... ok%s\n' "$1" "${2:+ ($2)}"; }
note() { printf 'setup: %s ... note: %s\n' "$1" "$2"; }
die() {
    printf 'setup: error: %s\n' "$*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null; }

sha256_of() {
    if command -v sha256sum >/dev/null; then sha256sum | cut -c1-64; else shasum -a 256 | cut -c1-64; fi
}

# Runs a command with its output in a log file; on failure shows the tail and stops.
run_logged() {
    local name=$1
    shift
    local log="$LOGS/$name.log"
    if ! "$@" >"$log" 2>&1; then
        tail -n 25 "$log" | sed 's/^/    /' >&2
        die "$name failed (full log: $log)"
    fi
}

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" = 0 ]; then
        run_logged apt-update apt-get update
        APT_UPDATED=1
    fi
    run_logged "apt-install-$1" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "$@"
}

# ---------------------------------------------------------------- venv

pick_python() {
    if [ -n "${CHAOS_PYTHON:-}" ]; then
        echo "$CHAOS_PYTHON"
        return
    fi
    local candidate
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    die "Python 3.11 or newer is needed: install it (Debian: apt-get install python3) or set CHAOS_PYTHON"
}

ensure_venv() {
    if [ ! -x "$PY" ]; then
        local python
        python=$(pick_python)
        say "venv: creating $VENV with $python"
        if ! "$python" -m venv "$VENV" >/dev/null 2>&1; then
            rm -rf "$VENV"
            if ! is_root || ! is_debian; then
                die "'$python -m venv' failed: install the venv module (Debian: python3-venv)"
            fi
            apt_install python3-venv
            "$python" -m venv "$VENV"
        fi
    fi
    local stamp="$VENV/.chaos-pyproject.sha256" wanted
    wanted=$(sha256_of <"$REPO/pyproject.toml")
    if [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ] && "$PY" -c 'import chaos' 2>/dev/null; then
        ok "python venv" "$("$PY" -V 2>&1), dependencies unchanged"
        return
    fi
    say "venv: installing chaos with dev extras (pip install -e '.[dev]')"
    run_logged pip-install "$PY" -m pip install --disable-pip-version-check -e "${REPO}[dev]"
    echo "$wanted" >"$stamp"
    ok "python venv" "$("$PY" -V 2>&1), dependencies installed"
}

load_image_names() {
    eval "$("$PY" -m chaos.images --shell)"
}

# ---------------------------------------------------------------- docker compose

compose_answers() {
    local version
    version=$("$@" version --short 2>/dev/null) || return 1
    version=${version#v}
    [ "${version%%.*}" -ge 2 ] 2>/dev/null
}

# The harness reads compose files through Compose's own `config`. A user's `docker compose` (v2+) is
# used as it is; otherwise Compose is built once from the Go module proxy into .cache.
ensure_compose() {
    local bin_dir="$CACHE/compose-v$COMPOSE_VERSION" bin
    bin="$bin_dir/docker-compose"
    if [ -n "${CHAOS_COMPOSE:-}" ]; then
        # shellcheck disable=SC2086 # CHAOS_COMPOSE may be a command with words, e.g. "docker compose"
        compose_answers $CHAOS_COMPOSE || die "CHAOS_COMPOSE=$CHAOS_COMPOSE does not answer 'version' as Compose v2+"
        ok "docker compose" "CHAOS_COMPOSE=$CHAOS_COMPOSE"
        return
    fi
    if command -v docker >/dev/null && compose_answers docker compose; then
        ok "docker compose" "$(docker compose version --short 2>/dev/null) (docker compose plugin)"
        return
    fi
    if command -v docker-compose >/dev/null && compose_answers docker-compose; then
        ok "docker compose" "$(docker-compose version --short 2>/dev/null) (docker-compose on PATH)"
        return
    fi
    if [ -x "$bin" ] && [ "$("$bin" version --short 2>/dev/null)" = "$COMPOSE_VERSION" ]; then
        ok "docker compose" "$COMPOSE_VERSION built from Go source"
        return
    fi
    local go
    go=$(command -v go || echo /usr/local/go/bin/go)
    [ -x "$go" ] || die "no docker compose v2+ found and Go is missing: install the docker compose plugin, or Go >= 1.24 to build it"
    say "docker compose: building Compose $COMPOSE_VERSION from Go source (first run only, about 2 minutes)"
    local src modcache="$CACHE/go/mod"
    src=$(env GOMODCACHE="$modcache" GOFLAGS=-modcacherw "$go" mod download -json \
        "$COMPOSE_GO_MODULE@v$COMPOSE_VERSION" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])') ||
        die "could not download $COMPOSE_GO_MODULE@v$COMPOSE_VERSION from the Go module proxy"
    local work
    work=$(mktemp -d)
    cp -r "$src/." "$work/"
    chmod -R u+w "$work"
    # Built as the main module: its go.mod has replace/exclude directives that `go install` refuses.
    run_logged go-build-compose env -C "$work" GOMODCACHE="$modcache" GOCACHE="$CACHE/go/build" \
        GOFLAGS=-modcacherw CGO_ENABLED=0 "$go" build -trimpath \
        -ldflags "-s -w -X $COMPOSE_GO_MODULE/internal.Version=v$COMPOSE_VERSION" -o "$bin" ./cmd
    rm -rf "$work"
    [ "$("$bin" version --short 2>/dev/null)" = "$COMPOSE_VERSION" ] ||
        die "the Compose binary built at $bin does not report version $COMPOSE_VERSION"
    ok "docker compose" "$COMPOSE_VERSION built from Go source"
}

# ---------------------------------------------------------------- docker engine

docker_server_version() {
    command -v docker >/dev/null && timeout 20 docker info --format '{{.ServerVersion}}' 2>/dev/null
}

# Flags for a dockerd we start ourselves, decided by probing this kernel once per start.
dockerd_flags() {
    local flags=()
    if [ -d /var/lib/docker/overlay2 ]; then
        : # an earlier dockerd already runs overlay2 here
    elif [ -d /var/lib/docker/vfs ] || ! overlay_mount_works; then
        # overlay fails inside some containers and on some filesystems; vfs always works (slower, bigger)
        flags+=(--storage-driver=vfs)
    fi
    if ! iptables -t nat -L -n >/dev/null 2>&1; then
        # without iptables containers still reach each other on a network, just not the outside
        flags+=(--iptables=false)
    fi
    # shellcheck disable=SC2206 # the user's extra flags are split on purpose
    flags+=(${CHAOS_DOCKERD_FLAGS:-})
    echo "${flags[*]:-}"
}

overlay_mount_works() {
    mkdir -p /var/lib
    local probe result=1
    probe=$(mktemp -d /var/lib/chaos-overlay-probe.XXXXXX)
    mkdir "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
    if mount -t overlay overlay \
        -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" 2>/dev/null; then
        umount "$probe/merged"
        result=0
    fi
    rm -rf "$probe"
    return "$result"
}

# A killed process stays a zombie until its parent reaps it; that is not a running engine.
pid_alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
    local state
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || true)
    [ "$state" != Z ] && [ "$state" != X ]
}

# A dockerd or containerd that died without cleaning up leaves pid files and sockets that
# make the next start refuse or hang.
clear_stale_engine_files() {
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    pid_alive "$pid" && return 0
    rm -f /var/run/docker.pid /var/run/docker.sock
    pid=$(cat /var/run/docker/containerd/containerd.pid 2>/dev/null || true)
    if ! pid_alive "$pid"; then
        rm -f /var/run/docker/containerd/containerd.pid /var/run/docker/containerd/containerd.sock \
            /var/run/docker/containerd/containerd.sock.ttrpc /var/run/docker/containerd/containerd-debug.sock
    fi
}

launch_dockerd() {
    clear_stale_engine_files
    local flags
    flags=$(dockerd_flags)
    say "docker engine: starting dockerd ${flags:+($flags) }in the background, log $DOCKERD_LOG" >&2
    # Exited containerd shims are reparented to PID 1, which in CI sandboxes often never reaps
    # them; tini as a subreaper above dockerd adopts and reaps them instead.
    local reaper=()
    if command -v docker-init >/dev/null; then
        reaper=(docker-init -s --)
    elif command -v tini >/dev/null; then
        reaper=(tini -s --)
    fi
    # setsid + nohup + closed descriptors: dockerd must outlive this script and its terminal,
    # and must not hold our lock files open.
    # shellcheck disable=SC2086
    setsid nohup "${reaper[@]}" dockerd $flags </dev/null >>"$DOCKERD_LOG" 2>&1 8>&- 9>&- &
    echo $!
}

start_dockerd() {
    local lock=/run/lock/chaos-dockerd.lock
    mkdir -p "$(dirname "$lock")"
    exec 9>"$lock"
    flock -w 90 9 || die "another setup is starting dockerd (lock $lock held for 90 s)"
    local pid launched=0 waited=0
    pid=$(cat /var/run/docker.pid 2>/dev/null || true)
    if pid_alive "$pid"; then
        say "docker engine: dockerd (pid $pid) is running but not answering yet; waiting"
    else
        pid=$(launch_dockerd)
        launched=1
    fi
    until docker_server_version >/dev/null; do
        if ! pid_alive "$pid"; then
            if [ "$launched" = 1 ]; then
                tail -n 15 "$DOCKERD_LOG" | sed 's/^/    /' >&2
                die "dockerd exited during start (log: $DOCKERD_LOG)"
            fi
            say "docker engine: dockerd (pid $pid) went away"
            pid=$(launch_dockerd)
            launched=1
        fi
        if [ "$waited" -ge "$DOCKERD_WAIT_SECONDS" ]; then
            die "dockerd did not answer within ${DOCKERD_WAIT_SECONDS} s (log: $DOCKERD_LOG)"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    exec 9>&-
}

ensure_docker_engine() {
    local version
    if version=$(docker_server_version); then
        ok "docker engine" "$version"
        return
    fi
    local complaint
    complaint=$(timeout 20 docker info 2>&1 || true)
    if [[ "${complaint,,}" == *"permission denied"* ]]; then
        die "this user may not use the Docker engine: run 'sudo usermod -aG docker $USER', log in again, then 'make setup'"
    fi
    if [ -n "${DOCKER_HOST:-}" ]; then
        die "no Docker engine answers at DOCKER_HOST=$DOCKER_HOST: start it, or unset DOCKER_HOST to use the local one"
    fi
    if ! is_root || ! is_debian; then
        die "no Docker engine answers: start Docker (e.g. 'sudo systemctl start docker' or Docker Desktop) and run 'make setup' again; on Debian, 'sudo make setup' installs and starts one"
    fi
    if ! command -v dockerd >/dev/null; then
        say "docker engine: installing Debian's docker.io"
        apt_install docker.io
    fi
    start_dockerd
    ok "docker engine" "$(docker_server_version)"
}

# ---------------------------------------------------------------- images

image_present() { docker image inspect "$1" >/dev/null 2>&1; }
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

registry_answers() {
    command -v curl >/dev/null || return 1
    local code
    code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "https://$1/v2/" 2>/dev/null || true)
    [ "$code" = 200 ] || [ "$code" = 401 ]
}

# Built with the same flags as the official image (static, version stamped in).
build_toxiproxy_binary() {
    local bin_dir="$CACHE/toxiproxy-$TOXIPROXY_VERSION"
    local bin="$bin_dir/server"
    if [ -x "$bin" ] && [ "$("$bin" -version 2>/dev/null)" = "toxiproxy-server version $TOXIPROXY_VERSION" ]; then
        echo "$bin"
        return
    fi
    local go
    go=$(command -v go || echo /usr/local/go/bin/go)
    [ -x "$go" ] || die "no registry answers and Go is missing: install Go >= 1.23 (https://go.dev/dl) to build Toxiproxy, or make ghcr.io reachable"
    say "toxiproxy image: building toxiproxy $TOXIPROXY_VERSION from Go source (first run only)" >&2
    run_logged go-install-toxiproxy env \
        GOBIN="$bin_dir" GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" \
        GOFLAGS=-modcacherw CGO_ENABLED=0 \
        "$go" install -trimpath \
        -ldflags "-s -w -X $TOXIPROXY_GO_MODULE.Version=$TOXIPROXY_VERSION" \
        "$TOXIPROXY_GO_MODULE/cmd/server@v$TOXIPROXY_VERSION"
    echo "$bin"
}

import_toxiproxy_image() {
    local bin stage
    bin=$(build_toxiproxy_binary)
    stage=$(mktemp -d)
    install -m 0755 "$bin" "$stage/toxiproxy"
    # One file, like the official FROM-scratch image, so the same tag means the same thing.
    tar --owner=0 --group=0 --numeric-owner -C "$stage" -c toxiproxy |
        docker import \
            --change 'ENTRYPOINT ["/toxiproxy"]' \
            --change 'CMD ["-host=0.0.0.0"]' \
            --change "EXPOSE $TOXIPROXY_API_PORT" \
            --change "LABEL org.opencontainers.image.version=$TOXIPROXY_VERSION chaos.built-by=setup" \
            --message "toxiproxy $TOXIPROXY_VERSION built from Go source by chaos setup" \
            - "$TOXIPROXY_IMAGE" >/dev/null
    rm -rf "$stage"
}

ensure_toxiproxy_image() {
    if image_present "$TOXIPROXY_IMAGE"; then
        ok "toxiproxy image" "$TOXIPROXY_IMAGE present"
        return
    fi
    local how
    if registry_answers ghcr.io && timeout 120 docker pull -q "$TOXIPROXY_IMAGE" >/dev/null 2>&1; then
        how="pulled"
    else
        import_toxiproxy_image
        how="built from Go source"
    fi
    local said
    said=$(docker run --rm --label chaos.managed=true --label "$SETUP_RUN_LABEL" \
        "$TOXIPROXY_IMAGE" -version 2>&1) ||
        die "$TOXIPROXY_IMAGE does not run: $said"
    case "$said" in
    *"$TOXIPROXY_VERSION"*) ;;
    *) die "$TOXIPROXY_IMAGE reports '$said', expected version $TOXIPROXY_VERSION" ;;
    esac
    ok "toxiproxy image" "$TOXIPROXY_IMAGE $how, runs"
}

base_recipe_hash() {
    printf 'v%s suite=%s variant=minbase packages=%s' \
        "$BASE_RECIPE_VERSION" "$BASE_SUITE" "$BASE_PACKAGES" | sha256_of | cut -c1-16
}

ROOTFS=""
remove_rootfs() {
    [ -n "$ROOTFS" ] && [ -d "$ROOTFS" ] || return 0
    # debootstrap mounts proc/sys inside the target; a failed run can leave them mounted
    awk -v root="$ROOTFS" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r mounted; do umount -l "$mounted" 2>/dev/null || true; done
    rm -rf --one-file-system "$ROOTFS"
    ROOTFS=""
}

build_base_with_debootstrap() {
    local recipe=$1 mirror
    mirror=${CHAOS_DEBIAN_MIRROR:-$("$PY" "$REPO/scripts/debian_mirror.py" "$BASE_SUITE" || echo http://deb.debian.org/debian)}
    mkdir -p "$CACHE/debootstrap-debs"
    ROOTFS=$(mktemp -d /var/tmp/chaos-rootfs.XXXXXX)
    trap remove_rootfs EXIT
    say "base image: debootstrap $BASE_SUITE from $mirror (about a minute)"
    run_logged debootstrap debootstrap --variant=minbase --include="$BASE_PACKAGES" \
        --cache-dir="$CACHE/debootstrap-debs" "$BASE_SUITE" "${ROOTFS:?}" "$mirror"
    # Apt caches and host identity do not belong in an image; Docker supplies hostname and DNS.
    rm -rf "${ROOTFS:?}"/var/cache/apt/archives/*.deb "${ROOTFS:?}"/var/cache/apt/*.bin \
        "${ROOTFS:?}"/var/lib/apt/lists/* "${ROOTFS:?}"/var/log/*.log "${ROOTFS:?}"/var/log/apt/* \
        "${ROOTFS:?}"/dev/* "${ROOTFS:?}"/tmp/* "${ROOTFS:?}"/etc/resolv.conf
    : >"${ROOTFS:?}/etc/hostname"
    : >"${ROOTFS:?}/etc/machine-id"
    # Manuals and translations are a fifth of the image and nothing here reads them;
    # copyright files stay, as in Debian's own slim images.
    rm -rf "${ROOTFS:?}"/usr/share/man/* "${ROOTFS:?}"/usr/share/info/*
    find "${ROOTFS:?}/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    find "${ROOTFS:?}/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "${ROOTFS:?}/usr/share/doc" -mindepth 1 -type d -empty -delete
    tar --numeric-owner -C "${ROOTFS:?}" -c . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["/bin/bash"]' \
            --change "LABEL $RECIPE_LABEL=$recipe" \
            --message "debootstrap --variant=minbase $BASE_SUITE + $BASE_PACKAGES (chaos setup)" \
            - "$BASE_IMAGE" >/dev/null
    remove_rootfs
    trap - EXIT
}

# For machines with a registry but no root (Docker Desktop, CI runners): same packages on
# Debian's own slim image.
build_base_from_registry() {
    local recipe=$1
    say "base image: docker build from debian:$BASE_SUITE-slim"
    run_logged docker-build-base docker build --label "$RECIPE_LABEL=$recipe" -t "$BASE_IMAGE" - <<EOF
FROM debian:$BASE_SUITE-slim
RUN apt-get update \\
 && apt-get install -y --no-install-recommends ${BASE_PACKAGES//,/ } \\
 && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8
CMD ["/bin/bash"]
EOF
}

build_base_image() {
    local recipe=$1
    if is_root && { command -v debootstrap >/dev/null || { is_debian && apt_install debootstrap; }; }; then
        build_base_with_debootstrap "$recipe"
    elif registry_answers registry-1.docker.io; then
        build_base_from_registry "$recipe"
    else
        die "cannot build $BASE_IMAGE: needs root with debootstrap (Debian: 'sudo make setup') or a reachable Docker Hub"
    fi
}

ensure_base_image() {
    local recipe current previous
    recipe=$(base_recipe_hash)
    current=$(docker image inspect --format "{{ index .Config.Labels \"$RECIPE_LABEL\" }}" "$BASE_IMAGE" 2>/dev/null || true)
    previous=$(image_id "$BASE_IMAGE")
    if [ "$current" = "$recipe" ]; then
        ok "base image" "$BASE_IMAGE present, recipe $recipe"
    else
        if [ -n "$previous" ]; then
            say "base image: recipe changed (${current:-none} -> $recipe), rebuilding"
        fi
        build_base_image "$recipe"
        ok "base image" "$BASE_IMAGE built, recipe $recipe"
    fi
    if [ -n "$previous" ] && [ "$previous" != "$(image_id "$BASE_IMAGE")" ] &&
        [ "$(docker image inspect --format '{{len .RepoTags}}' "$previous" 2>/dev/null)" = 0 ]; then
        # No --force: an old base that containers or child images still use stays until they go.
        docker image rm "$previous" >/dev/null 2>&1 || true
    fi
}

# ---------------------------------------------------------------- libfaketime and the helper image

faketime_paths() {
    FAKETIME_DIR="$CACHE/faketime"
    FAKETIME_TARBALL="$FAKETIME_DIR/faketime_${FAKETIME_SOURCE_VERSION}.orig.tar.xz"
    FAKETIME_LIB="$FAKETIME_DIR/$FAKETIME_SOURCE_VERSION/libfaketime.so.1"
}

tarball_verified() { [ -f "$1" ] && [ "$(sha256_of <"$1")" = "$FAKETIME_ORIG_SHA256" ]; }

# Debian's source package, through apt with a private configuration (the host's apt is left
# alone): one deb-src entry for the suite that packages the snapshot we need. The .dsc and
# .debian.tar.xz may answer 404; only the upstream tarball is used and its sha256 is pinned,
# so apt's exit code is not what decides.
fetch_faketime_source() {
    tarball_verified "$FAKETIME_TARBALL" && return 0
    local mirror apt_dir
    mirror=${CHAOS_DEBIAN_MIRROR:-$("$PY" "$REPO/scripts/debian_mirror.py" "$BASE_SUITE" || echo http://deb.debian.org/debian)}
    mkdir -p "$FAKETIME_DIR"
    if command -v apt-get >/dev/null && [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
        apt_dir="$FAKETIME_DIR/apt"
        mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
        echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $FAKETIME_SOURCE_SUITE main" \
            >"$apt_dir/sources.list"
        local apt_options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Debug::NoLocking=1
            -o "APT::Sandbox::User=$(id -un)")
        say "libfaketime: fetching Debian $FAKETIME_SOURCE_SUITE's source of faketime $FAKETIME_SOURCE_VERSION"
        run_logged faketime-apt-update apt-get "${apt_options[@]}" update
        (cd "$FAKETIME_DIR" && apt-get "${apt_options[@]}" source --download-only faketime) \
            >"$LOGS/faketime-apt-source.log" 2>&1 || true
        rm -rf "$apt_dir" # the suite's source index (10 MB) is needed once
    else
        say "libfaketime: no apt here; fetching the source tarball from $mirror"
        curl -fsS -m 120 -o "$FAKETIME_TARBALL" \
            "$mirror/pool/main/f/faketime/faketime_${FAKETIME_SOURCE_VERSION}.orig.tar.xz" ||
            die "could not download faketime_${FAKETIME_SOURCE_VERSION}.orig.tar.xz from $mirror"
    fi
    rm -f "$FAKETIME_DIR"/*.dsc "$FAKETIME_DIR"/*.debian.tar.*
    [ -f "$FAKETIME_TARBALL" ] ||
        die "Debian $FAKETIME_SOURCE_SUITE has no faketime_${FAKETIME_SOURCE_VERSION}.orig.tar.xz (log: $LOGS/faketime-apt-source.log); update FAKETIME_SOURCE_VERSION and FAKETIME_ORIG_SHA256 in chaos/images.py"
    if ! tarball_verified "$FAKETIME_TARBALL"; then
        rm -f "$FAKETIME_TARBALL"
        die "the faketime source tarball does not match its pinned sha256 $FAKETIME_ORIG_SHA256 (removed it)"
    fi
}

build_faketime_library() {
    local stamp="$FAKETIME_LIB.source-sha256"
    if [ -f "$FAKETIME_LIB" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$FAKETIME_ORIG_SHA256" ]; then
        return 0
    fi
    fetch_faketime_source
    if ! command -v make >/dev/null || ! command -v cc >/dev/null; then
        { is_root && is_debian; } || die "building libfaketime needs a C compiler and make (Debian: apt-get install gcc make libc6-dev)"
        apt_install gcc make libc6-dev
    fi
    local work
    work=$(mktemp -d)
    tar -xJf "$FAKETIME_TARBALL" -C "$work" --strip-components=1
    say "libfaketime: building $FAKETIME_SOURCE_VERSION (make -C src)"
    run_logged faketime-make make -C "$work/src" libfaketime.so.1
    mkdir -p "$(dirname "$FAKETIME_LIB")"
    install -m 0644 "$work/src/libfaketime.so.1" "$FAKETIME_LIB"
    echo "$FAKETIME_ORIG_SHA256" >"$stamp"
    rm -rf "$work"
}

helper_recipe_hash() {
    printf 'v%s base=%s faketime=%s lib=%s path=%s' "$HELPER_RECIPE_VERSION" "$(image_id "$BASE_IMAGE")" \
        "$FAKETIME_SOURCE_VERSION" "$(sha256_of <"$FAKETIME_LIB")" "$FAKETIME_LIBRARY" | sha256_of | cut -c1-16
}

# chaos-helper = chaos-base + libfaketime at FAKETIME_LIBRARY. Its recipe label hashes the base
# image id and the library, so a run with nothing changed only compares two strings.
ensure_helper_image() {
    faketime_paths
    build_faketime_library
    local recipe current previous context said
    recipe=$(helper_recipe_hash)
    current=$(docker image inspect --format "{{ index .Config.Labels \"$RECIPE_LABEL\" }}" "$HELPER_IMAGE" 2>/dev/null || true)
    if [ "$current" = "$recipe" ]; then
        ok "helper image" "$HELPER_IMAGE present, recipe $recipe"
        return
    fi
    previous=$(image_id "$HELPER_IMAGE")
    context=$(mktemp -d)
    cp "$FAKETIME_LIB" "$context/libfaketime.so.1"
    printf '%s\n' "FROM $BASE_IMAGE" \
        "COPY libfaketime.so.1 $FAKETIME_LIBRARY" \
        "LABEL $RECIPE_LABEL=$recipe chaos.faketime=$FAKETIME_SOURCE_VERSION" >"$context/Dockerfile"
    # The legacy builder works on every engine (no buildx); --pull=false: the base is local only.
    run_logged docker-build-helper env DOCKER_BUILDKIT=0 docker build --pull=false -t "$HELPER_IMAGE" "$context"
    rm -rf "$context"
    # ld.so only warns when a preload fails: look for the warning.
    said=$(docker run --rm --label chaos.managed=true --label "$SETUP_RUN_LABEL" --network none "$HELPER_IMAGE" \
        sh -c "LD_PRELOAD=$FAKETIME_LIBRARY FAKETIME=+0 /bin/true 2>&1") || die "$HELPER_IMAGE does not run: $said"
    [ -z "$said" ] || die "libfaketime does not load in $HELPER_IMAGE: $said"
    if [ -n "$previous" ] && [ "$previous" != "$(image_id "$HELPER_IMAGE")" ] &&
        [ "$(docker image inspect --format '{{len .RepoTags}}' "$previous" 2>/dev/null)" = 0 ]; then
        docker image rm "$previous" >/dev/null 2>&1 || true
    fi
    ok "helper image" "$HELPER_IMAGE built, recipe $recipe, libfaketime $FAKETIME_SOURCE_VERSION"
}

# ---------------------------------------------------------------- the HTTP link proxy image

http_proxy_recipe_hash() {
    printf 'v%s base=%s mitmproxy=%s home=%s' "$HTTP_PROXY_RECIPE_VERSION" "$(image_id "$BASE_IMAGE")" \
        "$MITMPROXY_VERSION" "$HTTP_PROXY_HOME" | sha256_of | cut -c1-16
}

# chaos-http-proxy = chaos-base + mitmproxy (reverse mode, driven by the addon in chaos/httpproxy, which is
# copied in when a link's container is created). The wheels come from PyPI through pip on this machine
# (same Debian and Python as the base), then install offline inside the build: the base needs no pip and
# no network. Rebuilt only when its recipe label differs.
ensure_http_proxy_image() {
    local recipe current previous context said
    recipe=$(http_proxy_recipe_hash)
    current=$(docker image inspect --format "{{ index .Config.Labels \"$RECIPE_LABEL\" }}" "$HTTP_PROXY_IMAGE" 2>/dev/null || true)
    if [ "$current" = "$recipe" ]; then
        ok "http proxy image" "$HTTP_PROXY_IMAGE present, recipe $recipe"
        return
    fi
    previous=$(image_id "$HTTP_PROXY_IMAGE")
    context=$(mktemp -d)
    say "http proxy image: fetching mitmproxy $MITMPROXY_VERSION wheels"
    run_logged http-proxy-wheels "$PY" -m pip wheel --quiet --wheel-dir "$context/wheels" \
        "mitmproxy==$MITMPROXY_VERSION" pip
    printf '%s\n' "FROM $BASE_IMAGE" \
        "COPY wheels /tmp/wheels" \
        "RUN python3 \$(ls /tmp/wheels/pip-*.whl)/pip install --quiet --no-index --no-compile --find-links /tmp/wheels --target $HTTP_PROXY_HOME/lib mitmproxy==$MITMPROXY_VERSION && rm -rf /tmp/wheels" \
        "ENV PYTHONPATH=$HTTP_PROXY_HOME/lib" \
        "LABEL $RECIPE_LABEL=$recipe chaos.mitmproxy=$MITMPROXY_VERSION" >"$context/Dockerfile"
    run_logged docker-build-http-proxy env DOCKER_BUILDKIT=0 docker build --pull=false -t "$HTTP_PROXY_IMAGE" "$context"
    rm -rf "$context"
    said=$(docker run --rm --label chaos.managed=true --label "$SETUP_RUN_LABEL" --network none "$HTTP_PROXY_IMAGE" \
        python3 -c 'import mitmproxy.version as v; print(v.VERSION)' 2>&1) || die "$HTTP_PROXY_IMAGE does not run: $said"
    [ "$said" = "$MITMPROXY_VERSION" ] || die "$HTTP_PROXY_IMAGE has mitmproxy '$said', expected $MITMPROXY_VERSION"
    if [ -n "$previous" ] && [ "$previous" != "$(image_id "$HTTP_PROXY_IMAGE")" ] &&
        [ "$(docker image inspect --format '{{len .RepoTags}}' "$previous" 2>/dev/null)" = 0 ]; then
        docker image rm "$previous" >/dev/null 2>&1 || true
    fi
    ok "http proxy image" "$HTTP_PROXY_IMAGE built, recipe $recipe, mitmproxy $MITMPROXY_VERSION"
}

ensure_shop_images() {
    local build="$REPO/targets/shop/build.sh"
    if [ ! -f "$build" ]; then
        note "shop images" "targets/shop/build.sh not found, skipped"
        return
    fi
    say "shop images: running targets/shop/build.sh"
    bash "$build"
    ok "shop images"
}

# ---------------------------------------------------------------- chromium

find_chromium() {
    local candidate
    for candidate in chromium chromium-browser google-chrome google-chrome-stable; do
        command -v "$candidate" && return 0
    done
    return 1
}

ensure_chromium() {
    if [ "${CHAOS_SKIP_CHROMIUM:-0}" = 1 ]; then
        note "chromium" "skipped (CHAOS_SKIP_CHROMIUM=1)"
        return
    fi
    local browser
    if ! browser=$(find_chromium); then
        if ! is_root || ! is_debian; then
            note "chromium" "not found; tests that screenshot reports will be skipped (install chromium to run them)"
            return
        fi
        say "chromium: installing Debian's chromium (used to screenshot reports in tests)"
        apt_install chromium
        browser=$(find_chromium)
    fi
    ok "chromium" "$("$browser" --version 2>/dev/null | head -n 1)"
}

# ---------------------------------------------------------------- main

main() {
    local venv_only=0
    case "${1:-}" in
    "") ;;
    --venv-only) venv_only=1 ;;
    *) die "usage: scripts/setup.sh [--venv-only]" ;;
    esac

    mkdir -p "$LOGS"
    if command -v flock >/dev/null; then
        exec 8>"$CACHE/setup.lock"
        flock -w 900 8 || die "another setup runs in this checkout"
    fi

    ensure_venv
    load_image_names
    ensure_compose
    [ "$venv_only" = 1 ] && return 0
    ensure_docker_engine
    ensure_toxiproxy_image
    ensure_base_image
    ensure_helper_image
    ensure_http_proxy_image
    ensure_shop_images
    ensure_chromium

    say "checking with chaos doctor"
    exec 8>&-
    exec "$VENV/bin/chaos" doctor
}

# Sourcing the file (tests, debugging) defines the steps without running them.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi

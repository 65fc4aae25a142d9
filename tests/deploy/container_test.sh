#!/usr/bin/env bash
# container_test.sh: builds deploy/Dockerfile with Debian's podman and runs
# the image the way deploy/k8s/base runs it, then checks it from the host.
#
# What it checks, one line each (and one JUnit <testcase> each):
#   - the host has podman, runc, debootstrap, curl, ... (installs what is
#     missing) and the debian:bookworm / bookworm-slim base images (makes
#     them with debootstrap from this machine's apt mirror if absent: no
#     image registry is needed);
#   - the image builds (podman build --format docker, from the repo root);
#   - its config matches the StatefulSet (numeric non-root user, entrypoint,
#     stop signal, ports, data volume);
#   - it starts under the StatefulSet's securityContext and limits (uid/gid
#     and fsGroup, read-only root with no extra tmpfs, all capabilities
#     dropped, no_new_privs, the RuntimeDefault-like seccomp profile,
#     memory/cpu limits) with the ConfigMap's environment, on a volume
#     directory prepared the way fsGroup prepares one, and says so in its
#     first log line;
#   - gRPC health (the readiness probe's service, and the server's) is
#     SERVING; the startup and liveness probes' HTTP paths answer 200;
#   - an HTTP PUT (curl) creates a resource, a GET with If-None-Match on its
#     ETag answers 304; etagctl puts and gets one over gRPC; the image's own
#     etagctl takes a checkpoint (the `kubectl exec` route) and its
#     etagd-gateway loads;
#   - `podman stop --time=<terminationGracePeriodSeconds>` during a stream
#     of writes: SIGTERM, a logged drain, exit code 0 within the grace;
#   - a new container on the same volume serves the data written before,
#     with the same ETags (including every write acknowledged during the
#     drain);
#   - the README's `docker run` (named volume, image defaults) serves too.
#
# Cost, measured on 2 cores: about 5.5 minutes cold (base images from
# debootstrap ~45 s; image build ~4.5 min, of which the in-image cold bazel
# build ~2 min and apt ~1 min; installing missing host packages adds
# ~20 s). Warm, with the images cached: ~15 s when the source tree is
# unchanged, ~25 s when only files the binaries do not depend on changed
# (the build stage's Bazel caches persist in podman's cache mount), more
# when C++ changed (bazel rebuilds what depends on it). The container checks
# themselves take ~10 s. The debootstrap tarball stays in --cache_dir, the
# images in podman's store.
#
# Needs root (rootful podman; runc, since crun cannot run on this kind of
# cgroup v1 hybrid host) and the Debian apt mirror. All traffic goes to
# 127.0.0.1: ports are published on 127.0.0.1 only, on free ports that
# podman picks. Containers, the volume and the scratch directory are removed
# at the end; images are kept. Every wait is bounded.
#
# Usage (the clients are the host-side binaries from bazel):
#   tests/deploy/container_test.sh \
#     --etagctl=bazel-bin/client/etagctl \
#     --health_check=bazel-bin/tests/deploy/grpc_health_check \
#     [--junit=PATH] [--image=etagd:test] [--no_build] [--cache_dir=DIR]
#
# The last line of output is "N passed, N failed"; the exit status is 0 only
# when every check passed (2 for a usage error).

# "A && B || fail" is meant; Go templates in single quotes are podman's.
# shellcheck disable=SC2015,SC2016
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly repo

usage() {
  cat >&2 <<EOF
usage: $0 [flags]
  --etagctl=PATH       host-side etagctl (bazel build //client:etagctl);
                       default: $repo/bazel-bin/client/etagctl if present
  --health_check=PATH  host-side grpc_health_check
                       (bazel build //tests/deploy:grpc_health_check);
                       default: $repo/bazel-bin/tests/deploy/grpc_health_check
  --junit=PATH         also write a JUnit XML report there
  --image=NAME         the image to build and test (default etagd:test)
  --no_build           test NAME as it is, without building it
  --cache_dir=DIR      where the debootstrap tarball is kept
                       (default /var/cache/etagd-container-test)
EOF
  exit 2
}

etagctl="$repo/bazel-bin/client/etagctl"
health_check="$repo/bazel-bin/tests/deploy/grpc_health_check"
junit=""
image="etagd:test"
build=1
cache_dir="/var/cache/etagd-container-test"
for arg in "$@"; do
  case "$arg" in
    --etagctl=*) etagctl="${arg#*=}" ;;
    --health_check=*) health_check="${arg#*=}" ;;
    --junit=*) junit="${arg#*=}" ;;
    --image=*) image="${arg#*=}" ;;
    --no_build) build=0 ;;
    --cache_dir=*) cache_dir="${arg#*=}" ;;
    -h|--help) usage ;;
    *) echo "container_test: unknown argument: $arg" >&2; usage ;;
  esac
done
for client in "$etagctl" "$health_check"; do
  if [ ! -x "$client" ]; then
    echo "container_test: $client is not an executable; build it with bazel and pass its path (--etagctl, --health_check)" >&2
    usage
  fi
done
etagctl="$(realpath "$etagctl")"
health_check="$(realpath "$health_check")"
if [ -n "$junit" ]; then
  case "$junit" in /*) ;; *) junit="$PWD/$junit" ;; esac
fi
if [ ! -f "$repo/deploy/Dockerfile" ]; then
  echo "container_test: no deploy/Dockerfile in $repo (run the script from the source tree)" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "container_test: needs root (rootful podman, runc, debootstrap)" >&2
  exit 2
fi

readonly k8s="$repo/deploy/k8s/base"
readonly run_id="$$"
readonly names=("etagd-ct-$run_id-a" "etagd-ct-$run_id-b" "etagd-ct-$run_id-readme")
readonly volume="etagd-ct-$run_id-volume"
work="$(mktemp -d /var/tmp/etagd-container-test.XXXXXX)"
readonly work
# runc, not crun (crun: "cgroups in hybrid mode not supported" on a cgroup
# v1 hybrid host); runc cannot raise rlimits there, so containers get these;
# netavark (installed below), whatever CNI files Debian's podman ships.
export CONTAINERS_CONF="$work/containers.conf"
cat > "$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"

[network]
network_backend = "netavark"
EOF

load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
  for name in "${names[@]}"; do
    timeout 60 podman rm --force --time=0 "$name" >/dev/null 2>&1
  done
  timeout 60 podman volume rm --force "$volume" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Helpers -----------------------------------------------------------------

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
seconds() { printf '%d.%03d' $(( $1 / 1000 )) $(( $1 % 1000 )); }

# podman with a bound on every call (the build has its own).
pod() { timeout 120 podman "$@"; }

# Host-side clients run with a clean environment: no proxy variables (all
# traffic stays on 127.0.0.1) and no ETAGD_* settings from the caller.
client() { timeout 30 env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
http() { curl --silent --show-error --noproxy '*' --max-time 10 "$@"; }

fail_msg=""
fail() { fail_msg="$*"; return 1; }

case_names=()
case_status=()
case_msgs=()
case_ms=()

# run_check NAME FUNCTION: runs FUNCTION in this shell (checks share state)
# and records its outcome; FUNCTION returns non-zero after fail "why".
run_check() {
  local name="$1" fn="$2" start elapsed
  fail_msg=""
  echo "RUN  $name"
  start="$(now_ms)"
  if "$fn"; then
    elapsed=$(( $(now_ms) - start ))
    case_status+=(passed); case_msgs+=("")
    echo "PASS $name ($(seconds "$elapsed")s)"
  else
    elapsed=$(( $(now_ms) - start ))
    case_status+=(failed); case_msgs+=("${fail_msg:-failed}")
    echo "FAIL $name ($(seconds "$elapsed")s): ${fail_msg:-failed}"
  fi
  case_names+=("$name"); case_ms+=("$elapsed")
}

xml_escape() {
  printf '%s' "$1" | tr '\n\t' '  ' | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' \
    -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' -e "s/'/\&apos;/g"
}

write_junit() {
  local path="$1" i failures=0 total_ms=0
  for i in "${!case_names[@]}"; do
    [ "${case_status[$i]}" = failed ] && failures=$((failures + 1))
    total_ms=$((total_ms + case_ms[i]))
  done
  mkdir -p "$(dirname "$path")"
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    printf '<testsuites tests="%d" failures="%d" errors="0" time="%s">\n' \
      "${#case_names[@]}" "$failures" "$(seconds "$total_ms")"
    printf '  <testsuite name="tests/deploy/container_test" tests="%d" failures="%d" errors="0" skipped="0" time="%s">\n' \
      "${#case_names[@]}" "$failures" "$(seconds "$total_ms")"
    for i in "${!case_names[@]}"; do
      local attrs
      attrs="name=\"$(xml_escape "${case_names[$i]}")\" classname=\"container_test\" time=\"$(seconds "${case_ms[$i]}")\""
      if [ "${case_status[$i]}" = passed ]; then
        echo "    <testcase $attrs/>"
      else
        echo "    <testcase $attrs>"
        echo "      <failure message=\"$(xml_escape "${case_msgs[$i]}")\">$(xml_escape "${case_msgs[$i]}")</failure>"
        echo "    </testcase>"
      fi
    done
    echo '  </testsuite>'
    echo '</testsuites>'
  } > "$path"
}

# The first HTTP header named $2 in the header dump $1, without the CR.
header() { sed -n "s/^$2: *//Ip" "$1" | tr -d '\r' | head -1; }

# --- The checks ----------------------------------------------------------------

host_ready=0
image_ready=0

HostPrerequisites() {
  local packages=(podman runc netavark aardvark-dns iptables debootstrap
                  debian-archive-keyring curl python3 python3-yaml) missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    { timeout 600 apt-get update -q \
        && DEBIAN_FRONTEND=noninteractive timeout 1200 \
             apt-get install -y --no-install-recommends "${missing[@]}"; \
    } > "$work/apt.log" 2>&1 \
      || { tail -20 "$work/apt.log"; fail "apt-get install ${missing[*]} failed (log above)"; return; }
  fi
  pod info --format '{{.Host.OCIRuntime.Name}}' > "$work/info.log" 2> "$work/info.err" \
    || { cat "$work/info.err"; fail "podman info failed (log above)"; return; }
  [ "$(cat "$work/info.log")" = runc ] \
    || { fail "podman's runtime is $(cat "$work/info.log"), not runc"; return; }
  host_ready=1
}

# The mirror this machine's apt uses for bookworm, from sources.list(.d).
apt_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                       if ($(i + 1) == "bookworm") { print $i; exit } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822 stanzas, separated by blank lines.
    awk 'BEGIN { RS = ""; FS = "\n" }
         { types = ""; uris = ""; suites = ""
           for (i = 1; i <= NF; i++) {
             if ($i ~ /^Types:/) types = $i
             if ($i ~ /^URIs:/) uris = $i
             if ($i ~ /^Suites:/) suites = $i
           }
           if (types ~ /[ \t]deb([ \t]|$)/ && (suites " ") ~ /[ \t]bookworm[ \t]/) {
             split(uris, u, /[ \t]+/); print u[2]; exit
           } }' "$f"
  done
}

# The security archive URI, if this machine uses one.
apt_security() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -v '^[[:space:]]*#' | grep -o 'http[s]*://[^ ]*debian-security[^ ]*' | head -1
}

BaseImages() {
  [ "$host_ready" = 1 ] || { fail "not run: host prerequisites missing"; return; }
  local have_full=0 have_slim=0
  pod image exists debian:bookworm && have_full=1
  pod image exists debian:bookworm-slim && have_slim=1
  if [ "$have_full" = 0 ] && [ "$have_slim" = 0 ]; then
    local tarball="$cache_dir/bookworm-minbase.tar"
    if [ ! -s "$tarball" ]; then
      local mirror security rootfs
      mirror="$(apt_mirror | head -1)"
      [ -n "$mirror" ] || { fail "no bookworm mirror in /etc/apt/sources.list{,.d}"; return; }
      security="$(apt_security)"
      echo "no debian:bookworm image: debootstrap --variant=minbase bookworm from $mirror"
      mkdir -p "$cache_dir"
      rootfs="$(mktemp -d "$cache_dir/rootfs.XXXXXX")"
      timeout 1200 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" \
          > "$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log"; rm -rf "$rootfs"
             fail "debootstrap failed (log above)"; return; }
      # Like the official image: the updates (and security) suites, and no
      # package lists or downloaded packages in the image.
      rm -f "$rootfs/etc/apt/sources.list" "$rootfs"/var/cache/apt/archives/*.deb \
            "$rootfs"/var/cache/apt/*.bin
      find "$rootfs/var/lib/apt/lists" -type f -delete
      {
        printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror"
        if [ -n "$security" ]; then
          printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$security"
        fi
      } > "$rootfs/etc/apt/sources.list.d/debian.sources"
      tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball" \
        || { rm -rf "$rootfs" "$tarball.tmp"; fail "could not write $tarball"; return; }
      rm -rf "$rootfs"
    fi
    timeout 300 podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' "$tarball" debian:bookworm > "$work/import.log" 2>&1 \
      || { cat "$work/import.log"; fail "podman import $tarball failed (log above)"; return; }
    have_full=1
  fi
  if [ "$have_full" = 0 ]; then pod tag debian:bookworm-slim debian:bookworm || { fail "podman tag failed"; return; }; fi
  if [ "$have_slim" = 0 ]; then pod tag debian:bookworm debian:bookworm-slim || { fail "podman tag failed"; return; }; fi
}

build_seconds=""
ImageBuilds() {
  [ "$host_ready" = 1 ] || { fail "not run: host prerequisites missing"; return; }
  if [ "$build" = 0 ]; then
    pod image exists "$image" || { fail "--no_build, and there is no image $image"; return; }
    image_ready=1
    return
  fi
  local start
  start="$(now_ms)"
  # --pull=never: no registry is needed (or reachable); the bases are local.
  (cd "$repo" && timeout 3600 podman build --pull=never --format docker \
      -f deploy/Dockerfile -t "$image" .) > "$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; fail "podman build failed (log above)"; return; }
  build_seconds="$(seconds $(( $(now_ms) - start )))"
  echo "image build took ${build_seconds}s"
  image_ready=1
}

# Set by read_manifests (python3 prints them from the YAML).
m_run_uid="" m_run_gid="" m_fs_group="" m_read_only_root="" m_no_new_privs=""
m_cap_drop="" m_cap_add="" m_seccomp="" m_grace="" m_grpc_port="" m_http_port=""
m_readiness_service="" m_startup_path="" m_startup_budget="" m_liveness_path=""
m_memory_limit="" m_cpu_limit="" m_data_mount="" m_cfg_grpc_listen=""
m_cfg_http_listen="" m_cfg_data_dir="" m_cfg_checkpoint_dir=""

# Reads what the container needs from the base manifests: the StatefulSet's
# securityContext, grace period, ports, probes and limits, and the
# ConfigMap's data (written as an env file).
read_manifests() {
  python3 - "$k8s" "$work/configmap.env" > "$work/manifest.sh" <<'PY' || return 1
import shlex, sys, yaml

base, env_path = sys.argv[1], sys.argv[2]
sts = yaml.safe_load(open(base + "/statefulset.yaml"))
cm = yaml.safe_load(open(base + "/configmap.yaml"))
pod = sts["spec"]["template"]["spec"]
ctr = next(c for c in pod["containers"] if c["name"] == "etagd")
psc, csc = pod.get("securityContext", {}), ctr.get("securityContext", {})

def sc(key, default=None):
    return csc.get(key, psc.get(key, default))

def quantity(q):  # Kubernetes memory quantity -> bytes
    q = str(q)
    for suffix, factor in (("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30),
                           ("Ti", 2**40), ("k", 10**3), ("M", 10**6),
                           ("G", 10**9), ("T", 10**12)):
        if q.endswith(suffix):
            return int(float(q[:-len(suffix)]) * factor)
    return int(q)

def cpu(q):
    q = str(q)
    return str(int(q[:-1]) / 1000) if q.endswith("m") else q

assert cm["metadata"]["name"] in [e["configMapRef"]["name"]
                                  for e in ctr["envFrom"] if "configMapRef" in e]
with open(env_path, "w") as env:
    for key, value in cm["data"].items():
        env.write("%s=%s\n" % (key, value))
ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
data_mount = next(m["mountPath"] for m in ctr["volumeMounts"]
                  if m["name"] == sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"])
caps = sc("capabilities", {})
values = {
    "run_uid": sc("runAsUser"),
    "run_gid": sc("runAsGroup"),
    "fs_group": psc.get("fsGroup", ""),
    "read_only_root": str(bool(sc("readOnlyRootFilesystem", False))).lower(),
    "no_new_privs": str(sc("allowPrivilegeEscalation", True) is False).lower(),
    "cap_drop": ",".join(caps.get("drop", [])),
    "cap_add": ",".join(caps.get("add", [])),
    "seccomp": sc("seccompProfile", {}).get("type", ""),
    "grace": pod.get("terminationGracePeriodSeconds", 30),
    "grpc_port": ports["grpc"],
    "http_port": ports["http"],
    "readiness_service": ctr["readinessProbe"]["grpc"].get("service", ""),
    "startup_path": ctr["startupProbe"]["httpGet"]["path"],
    "startup_budget": ctr["startupProbe"].get("periodSeconds", 10)
                      * ctr["startupProbe"].get("failureThreshold", 3),
    "liveness_path": ctr["livenessProbe"]["httpGet"]["path"],
    "memory_limit": quantity(ctr["resources"]["limits"]["memory"]),
    "cpu_limit": cpu(ctr["resources"]["limits"]["cpu"]),
    "data_mount": data_mount,
}
for key in ("GRPC_LISTEN", "HTTP_LISTEN", "DATA_DIR", "CHECKPOINT_DIR"):
    values["cfg_" + key.lower()] = cm["data"]["ETAGD_" + key]
for key, value in values.items():
    print("m_%s=%s" % (key, shlex.quote(str(value))))
PY
  # shellcheck disable=SC1090,SC1091
  source "$work/manifest.sh"
}

ImageConfigMatchesManifests() {
  [ "$image_ready" = 1 ] || { fail "not run: no image"; return; }
  read_manifests || { fail "could not read $k8s (python3-yaml)"; return; }
  local user entrypoint stop ports volumes
  user="$(pod image inspect --format '{{.Config.User}}' "$image")"
  entrypoint="$(pod image inspect --format '{{json .Config.Entrypoint}}' "$image")"
  stop="$(pod image inspect --format '{{.Config.StopSignal}}' "$image")"
  ports="$(pod image inspect --format '{{range $k, $v := .Config.ExposedPorts}}{{$k}} {{end}}' "$image")"
  volumes="$(pod image inspect --format '{{range $k, $v := .Config.Volumes}}{{$k}} {{end}}' "$image")"
  # runAsNonRoot: the kubelet only accepts a numeric, non-zero image user.
  [ "$m_run_uid" != 0 ] || { fail "the StatefulSet runs as root"; return; }
  [ "$user" = "$m_run_uid:$m_run_gid" ] \
    || { fail "image user is '$user', the StatefulSet runs as $m_run_uid:$m_run_gid"; return; }
  [ "$entrypoint" = '["/usr/local/bin/etagd"]' ] \
    || { fail "entrypoint is $entrypoint, not exec-form /usr/local/bin/etagd"; return; }
  [ "$stop" = SIGTERM ] || { fail "stop signal is '$stop', not SIGTERM"; return; }
  [[ " $ports" == *" $m_grpc_port/tcp "* && " $ports" == *" $m_http_port/tcp "* ]] \
    || { fail "exposed ports '$ports' lack $m_grpc_port/tcp or $m_http_port/tcp"; return; }
  [[ " $volumes" == *" $m_data_mount "* ]] \
    || { fail "image volumes '$volumes' lack $m_data_mount"; return; }
  [ "$m_seccomp" = RuntimeDefault ] \
    || { fail "seccompProfile is '$m_seccomp'; this test maps only RuntimeDefault (podman's default profile)"; return; }
}

# Runs the image like the StatefulSet does, with DIR at the data mount.
# Sets grpc_port and http_port (on 127.0.0.1) for it.
grpc_port=""
http_port=""
run_like_statefulset() {
  local name="$1" dir="$2" args=()
  args+=(--user "$m_run_uid:$m_run_gid")
  [ -n "$m_fs_group" ] && args+=(--group-add "$m_fs_group")
  [ "$m_read_only_root" = true ] && args+=(--read-only --read-only-tmpfs=false)
  local cap
  for cap in ${m_cap_drop//,/ }; do args+=(--cap-drop="$cap"); done
  for cap in ${m_cap_add//,/ }; do args+=(--cap-add="$cap"); done
  [ "$m_no_new_privs" = true ] && args+=(--security-opt=no-new-privileges)
  args+=(--memory="$m_memory_limit" --cpus="$m_cpu_limit")
  args+=(--env-file "$work/configmap.env")
  args+=(-v "$dir:$m_data_mount")
  start_container "$name" "${args[@]}"
}

# start_container NAME ARGS...: podman run -d, ports published on free
# 127.0.0.1 ports; waits (within the startup probe's budget) for /readyz.
start_container() {
  local name="$1"; shift
  grpc_port=""; http_port=""
  pod run -d --pull=never --name "$name" \
      -p "127.0.0.1::$m_grpc_port" -p "127.0.0.1::$m_http_port" \
      "$@" "$image" > "$work/$name.run" 2>&1 \
    || { cat "$work/$name.run"; fail "podman run failed (output above)"; return; }
  grpc_port="$(pod port "$name" "$m_grpc_port/tcp" | head -1)"; grpc_port="${grpc_port##*:}"
  http_port="$(pod port "$name" "$m_http_port/tcp" | head -1)"; http_port="${http_port##*:}"
  [ -n "$grpc_port" ] && [ -n "$http_port" ] \
    || { fail "podman port gave no host ports"; return; }
  local deadline=$((SECONDS + m_startup_budget)) code
  while :; do
    code="$(http -o /dev/null -w '%{http_code}' --max-time 2 \
              "http://127.0.0.1:$http_port$m_startup_path" 2>/dev/null)"
    [ "$code" = 200 ] && return 0
    if [ "$(pod inspect --format '{{.State.Running}}' "$name")" != true ]; then
      pod logs "$name" 2>&1 | tail -20
      fail "$name exited before it was ready (exit code $(pod inspect --format '{{.State.ExitCode}}' "$name"); log above)"
      return
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      pod logs "$name" 2>&1 | tail -20
      fail "$m_startup_path not 200 within the startup probe's ${m_startup_budget}s (last: $code)"
      return
    fi
    sleep 0.2
  done
}

data_dir=""
first_up=0
StartsLikeTheStatefulSet() {
  [ "$image_ready" = 1 ] && [ -n "$m_run_uid" ] \
    || { fail "not run: no image or manifests"; return; }
  # What fsGroup makes of a fresh volume: root's, group fsGroup, setgid,
  # group-writable; the image's own /var/lib/etagd is hidden by it, as a
  # PersistentVolume hides it.
  data_dir="$work/volume"
  install -d -o 0 -g "${m_fs_group:-$m_run_gid}" -m 2770 "$data_dir"
  run_like_statefulset "${names[0]}" "$data_dir" || return
  first_up=1
  local first
  first="$(pod logs "${names[0]}" 2>&1 | head -1)"
  [[ "$first" == *"serving gRPC on $m_cfg_grpc_listen and HTTP on $m_cfg_http_listen; data in $m_cfg_data_dir"* ]] \
    || { fail "first log line does not name the ConfigMap's addresses and data dir: $first"; return; }
}

RunsUnprivileged() {
  [ "$first_up" = 1 ] || { fail "not run: the container did not start"; return; }
  local pid status
  pid="$(pod inspect --format '{{.State.Pid}}' "${names[0]}")"
  status="$(cat "/proc/$pid/status")" || { fail "cannot read /proc/$pid/status"; return; }
  # A /proc/PID/status field's values, separated by single spaces.
  field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' <<< "$status"; }
  [ "$(field Uid)" = "$m_run_uid $m_run_uid $m_run_uid $m_run_uid" ] \
    || { fail "uids are '$(field Uid)', not $m_run_uid"; return; }
  [ "$(field Gid)" = "$m_run_gid $m_run_gid $m_run_gid $m_run_gid" ] \
    || { fail "gids are '$(field Gid)', not $m_run_gid"; return; }
  if [ -n "$m_fs_group" ]; then
    [[ " $(field Groups) " == *" $m_fs_group "* ]] \
      || { fail "supplementary groups '$(field Groups)' lack fsGroup $m_fs_group"; return; }
  fi
  if [ "$m_cap_drop" = ALL ] && [ -z "$m_cap_add" ]; then
    local c
    for c in CapInh CapPrm CapEff CapBnd CapAmb; do
      [ "$(field "$c")" = 0000000000000000 ] || { fail "$c is $(field "$c"), not empty"; return; }
    done
  fi
  if [ "$m_no_new_privs" = true ]; then
    [ "$(field NoNewPrivs)" = 1 ] || { fail "NoNewPrivs is $(field NoNewPrivs)"; return; }
  fi
  [ "$(field Seccomp)" = 2 ] || { fail "no seccomp filter (Seccomp: $(field Seccomp))"; return; }
}

RootFilesystemReadOnly() {
  [ "$first_up" = 1 ] || { fail "not run: the container did not start"; return; }
  [ "$m_read_only_root" = true ] || return 0
  local pid mounts
  pid="$(pod inspect --format '{{.State.Pid}}' "${names[0]}")"
  mounts="$(awk '{ print $5, $6 }' "/proc/$pid/mountinfo")" \
    || { fail "cannot read /proc/$pid/mountinfo"; return; }
  [[ ",$(awk '$1 == "/" { print $2 }' <<< "$mounts")," == *,ro,* ]] \
    || { fail "/ is mounted '$(awk '$1 == "/" { print $2 }' <<< "$mounts")'"; return; }
  # Kubernetes adds no writable /tmp, /var/tmp or /run; etagd must not need one.
  local dir
  for dir in /tmp /var/tmp /run; do
    ! awk '{ print $1 }' <<< "$mounts" | grep -qx "$dir" \
      || { fail "$dir is a mount in the container (--read-only-tmpfs?)"; return; }
  done
  [[ ",$(awk -v d="$m_data_mount" '$1 == d { print $2 }' <<< "$mounts")," == *,rw,* ]] \
    || { fail "$m_data_mount is not mounted read-write"; return; }
}

GrpcHealthServing() {
  [ "$first_up" = 1 ] || { fail "not run: the container did not start"; return; }
  local service out
  for service in "$m_readiness_service" ""; do
    out="$(client "$health_check" "127.0.0.1:$grpc_port" "$service" 2>&1)" \
      || { fail "health of '$service': $out"; return; }
    [ "$out" = SERVING ] || { fail "health of '$service': $out"; return; }
  done
}

HttpProbesAnswer() {
  [ "$first_up" = 1 ] || { fail "not run: the container did not start"; return; }
  local path code
  for path in "$m_startup_path" "$m_liveness_path"; do
    code="$(http -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port$path")"
    [ "$code" = 200 ] || { fail "GET $path: $code"; return; }
  done
}

readonly http_name="container-test/http"
readonly http_value="written over HTTP by container_test $run_id"
http_etag=""
HttpPutAndConditionalGet() {
  [ "$first_up" = 1 ] || { fail "not run: the container did not start"; return; }
  local url="http://127.0.0.1:$http_port/v1/resources/$http_name" code body
  code="$(http -o /dev/null -D "$work/put.hdr" -w '%{http_code}' -X PUT \
            -H 'Content-Type: text/plain' --data-binary "$http_value" "$url")"
  [ "$code" = 201 ] || { fail "PUT: $code"; return; }
  http_etag="$(header "$work/put.hdr" ETag)"
  [ -n "$http_etag" ] || { fail "PUT answered no ETag"; return; }
  body="$(http -D "$work/get.hdr" "$url")"
  [ "$body" = "$http_value" ] || { fail "GET returned '$body'"; return; }
  [ "$(header "$work/get.hdr" ETag)" = "$http_etag" ] \
    || { fail "GET's ETag $(header "$work/get.hdr" ETag) is not the PUT's $http_etag"; return; }
  code="$(http -o /dev/null -D "$work/cond.hdr" -w '%{http_code}' \
            -H "If-None-Match: $http_etag" "$url")"
  [ "$code" = 304 ] || { fail "GET If-None-Match: $http_etag: $code, not 304"; return; }
  [ "$(header "$work/cond.hdr" ETag)" = "$http_etag" ] \
    || { fail "the 304 carries ETag $(header "$work/cond.hdr" ETag), not $http_etag"; return; }
}

readonly grpc_name="container-test/grpc"
readonly grpc_value="written over gRPC by container_test $run_id"
grpc_etag=""
EtagctlPutGetOverGrpc() {
  [ "$first_up" = 1 ] || { fail "not run: the container did not start"; return; }
  local out content
  out="$(client "$etagctl" --target="127.0.0.1:$grpc_port" put "$grpc_name" \
           --value="$grpc_value" 2>&1)" || { fail "etagctl put: $out"; return; }
  [ "$(head -1 <<< "$out")" = created ] || { fail "etagctl put: $out"; return; }
  grpc_etag="$(sed -n 's/^etag: //p' <<< "$out")"
  content="$(client "$etagctl" --target="127.0.0.1:$grpc_port" get "$grpc_name" \
               2> "$work/etagctl-get.err")" \
    || { fail "etagctl get: $(cat "$work/etagctl-get.err")"; return; }
  [ "$content" = "$grpc_value" ] || { fail "etagctl get returned '$content'"; return; }
  [ "$(sed -n 's/^etag: //p' "$work/etagctl-get.err")" = "$grpc_etag" ] \
    || { fail "etagctl get's etag is not the put's $grpc_etag"; return; }
}

# `kubectl exec etagd-0 -- etagctl checkpoint ...` (deploy/README.md): the
# image's own clients load their libraries and reach etagd in the pod.
ImageClientsRun() {
  [ "$first_up" = 1 ] || { fail "not run: the container did not start"; return; }
  local out
  out="$(pod exec "${names[0]}" etagctl checkpoint container-test 2>&1)" \
    || { fail "etagctl checkpoint in the container: $out"; return; }
  [ "$(head -1 <<< "$out")" = "checkpoint: $m_cfg_checkpoint_dir/container-test" ] \
    || { fail "etagctl checkpoint: $out"; return; }
  local on_host="$data_dir/${m_cfg_checkpoint_dir#"$m_data_mount"/}/container-test"
  [ -s "$on_host/CURRENT" ] || { fail "no checkpoint at $on_host on the volume"; return; }
  [ "$(stat -c %u "$on_host")" = "$m_run_uid" ] \
    || { fail "the checkpoint is owned by uid $(stat -c %u "$on_host")"; return; }
  # --help exits 1 (Abseil's); what matters is that it runs at all.
  out="$(pod exec "${names[0]}" etagd-gateway --help 2>&1)"
  [[ "$out" == *"Usage: etagd-gateway"* ]] || { fail "etagd-gateway --help: $out"; return; }
}

# A stream of HTTP PUTs, load/1, load/2, ..., until $work/load.stop exists
# (or 60s): one "N CURL_EXIT HTTP_CODE ETAG" line each in $work/load.txt.
write_load() {
  local i=0 out rc deadline=$((SECONDS + 60))
  : > "$work/load.txt"
  while [ ! -e "$work/load.stop" ] && [ "$SECONDS" -lt "$deadline" ]; do
    i=$((i + 1))
    out="$(http -o /dev/null -D "$work/load.hdr" -w '%{http_code}' --max-time 5 \
             -X PUT --data-binary "load $i" \
             "http://127.0.0.1:$http_port/v1/resources/load/$i" 2>/dev/null)"
    rc=$?
    echo "$i $rc $out $(header "$work/load.hdr" ETag)" >> "$work/load.txt"
    rm -f "$work/load.hdr"
    [ "$rc" = 0 ] || sleep 0.05
  done
}

stopped=0
SigtermDrainsAndExitsZero() {
  [ "$first_up" = 1 ] || { fail "not run: the container did not start"; return; }
  write_load &
  load_pid=$!
  local deadline=$((SECONDS + 30))
  # Stop in the middle of the stream: once 20 writes have been answered.
  while [ "$(awk '$3 == 201' "$work/load.txt" 2>/dev/null | wc -l)" -lt 20 ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      touch "$work/load.stop"; wait "$load_pid"; load_pid=""
      fail "the load got no 20 writes answered in 30s"; return
    fi
    sleep 0.1
  done
  local start elapsed_ms rc
  start="$(now_ms)"
  timeout $((m_grace + 30)) podman stop --time="$m_grace" "${names[0]}" > "$work/stop.log" 2>&1
  rc=$?
  elapsed_ms=$(( $(now_ms) - start ))
  touch "$work/load.stop"
  wait "$load_pid"; load_pid=""
  stopped=1
  echo "podman stop took $(seconds "$elapsed_ms")s (grace ${m_grace}s); writes sent: $(wc -l < "$work/load.txt"), by curl exit/HTTP status: $(awk '{ print $2 "/" $3 }' "$work/load.txt" | sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }')"
  [ "$rc" = 0 ] || { fail "podman stop: $(cat "$work/stop.log")"; return; }
  local exit_code oom log
  exit_code="$(pod inspect --format '{{.State.ExitCode}}' "${names[0]}")"
  oom="$(pod inspect --format '{{.State.OOMKilled}}' "${names[0]}")"
  log="$(pod logs "${names[0]}" 2>&1)"
  [ "$exit_code" = 0 ] || { fail "exit code $exit_code (OOM killed: $oom); log: $(tail -3 <<< "$log")"; return; }
  [ "$elapsed_ms" -lt $((m_grace * 1000)) ] \
    || { fail "stopping took $(seconds "$elapsed_ms")s, the grace is ${m_grace}s"; return; }
  [[ "$log" == *"received SIGTERM; finishing calls in flight"* ]] \
    || { fail "the log shows no SIGTERM drain: $(tail -3 <<< "$log")"; return; }
  [[ "$log" == *"stopped; database closed"* ]] \
    || { fail "the log does not show the database closed: $(tail -3 <<< "$log")"; return; }
}

DataSurvivesRestart() {
  [ "$stopped" = 1 ] || { fail "not run: the first container was not stopped"; return; }
  run_like_statefulset "${names[1]}" "$data_dir" || return
  local url="http://127.0.0.1:$http_port/v1/resources/$http_name" body code content
  if [ -n "$http_etag" ]; then
    body="$(http -D "$work/get2.hdr" "$url")"
    [ "$body" = "$http_value" ] || { fail "after restart, GET $http_name returned '$body'"; return; }
    [ "$(header "$work/get2.hdr" ETag)" = "$http_etag" ] \
      || { fail "after restart, ETag $(header "$work/get2.hdr" ETag), before $http_etag"; return; }
    code="$(http -o /dev/null -w '%{http_code}' -H "If-None-Match: $http_etag" "$url")"
    [ "$code" = 304 ] || { fail "after restart, If-None-Match: $http_etag answered $code"; return; }
  else
    fail "the HTTP write before the restart had failed"; return
  fi
  if [ -n "$grpc_etag" ]; then
    content="$(client "$etagctl" --target="127.0.0.1:$grpc_port" get "$grpc_name" \
                 2> "$work/etagctl-get2.err")" \
      || { fail "after restart, etagctl get: $(cat "$work/etagctl-get2.err")"; return; }
    [ "$content" = "$grpc_value" ] || { fail "after restart, etagctl get returned '$content'"; return; }
    [ "$(sed -n 's/^etag: //p' "$work/etagctl-get2.err")" = "$grpc_etag" ] \
      || { fail "after restart, the gRPC resource's etag changed"; return; }
  else
    fail "the gRPC write before the restart had failed"; return
  fi
  # Every write acknowledged up to the stop, with the ETag it was given.
  local i rc status etag
  while read -r i rc status etag; do
    [ "$status" = 201 ] || continue
    body="$(http -D "$work/load2.hdr" "http://127.0.0.1:$http_port/v1/resources/load/$i")"
    [ "$body" = "load $i" ] && [ "$(header "$work/load2.hdr" ETag)" = "$etag" ] \
      || { fail "acknowledged write load/$i ($etag) is gone or changed after restart: '$body' $(header "$work/load2.hdr" ETag)"; return; }
  done < "$work/load.txt"
  timeout $((m_grace + 30)) podman stop --time="$m_grace" "${names[1]}" > /dev/null 2>&1
  [ "$(pod inspect --format '{{.State.ExitCode}}' "${names[1]}")" = 0 ] \
    || { fail "the second container exited with $(pod inspect --format '{{.State.ExitCode}}' "${names[1]}")"; return; }
}

# deploy/README.md's `docker run`: a named volume, the image's own ENV, no
# security flags. The volume starts as a copy of the image's /var/lib/etagd.
ReadmeDockerRunWithNamedVolume() {
  [ "$image_ready" = 1 ] && [ -n "$m_run_uid" ] \
    || { fail "not run: no image or manifests"; return; }
  pod volume create "$volume" > /dev/null || { fail "podman volume create failed"; return; }
  start_container "${names[2]}" -v "$volume:/var/lib/etagd" || return
  local code mountpoint
  code="$(http -o /dev/null -w '%{http_code}' -X PUT --data-binary readme \
            "http://127.0.0.1:$http_port/v1/resources/readme")"
  [ "$code" = 201 ] || { fail "PUT: $code"; return; }
  mountpoint="$(pod volume inspect --format '{{.Mountpoint}}' "$volume")"
  [ "$(stat -c %u:%g "$mountpoint")" = "$m_run_uid:$m_run_gid" ] \
    || { fail "the named volume is owned by $(stat -c %u:%g "$mountpoint")"; return; }
  timeout $((m_grace + 30)) podman stop --time="$m_grace" "${names[2]}" > /dev/null 2>&1
  [ "$(pod inspect --format '{{.State.ExitCode}}' "${names[2]}")" = 0 ] \
    || { fail "exit code $(pod inspect --format '{{.State.ExitCode}}' "${names[2]}") after podman stop"; return; }
}

# --- Main ----------------------------------------------------------------------

script_start="$(now_ms)"
run_check HostPrerequisites HostPrerequisites
run_check BaseImages BaseImages
run_check ImageBuilds ImageBuilds
# From here on, nothing may leave 127.0.0.1 (the build needed the mirror).
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY grpc_proxy no_proxy NO_PROXY
run_check ImageConfigMatchesManifests ImageConfigMatchesManifests
run_check StartsLikeTheStatefulSet StartsLikeTheStatefulSet
run_check RunsUnprivileged RunsUnprivileged
run_check RootFilesystemReadOnly RootFilesystemReadOnly
run_check GrpcHealthServing GrpcHealthServing
run_check HttpProbesAnswer HttpProbesAnswer
run_check HttpPutAndConditionalGet HttpPutAndConditionalGet
run_check EtagctlPutGetOverGrpc EtagctlPutGetOverGrpc
run_check ImageClientsRun ImageClientsRun
run_check SigtermDrainsAndExitsZero SigtermDrainsAndExitsZero
run_check DataSurvivesRestart DataSurvivesRestart
run_check ReadmeDockerRunWithNamedVolume ReadmeDockerRunWithNamedVolume

passed=0
failed=0
for s in "${case_status[@]}"; do
  if [ "$s" = passed ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
[ -n "$junit" ] && write_junit "$junit"
echo "container_test took $(seconds $(( $(now_ms) - script_start )))s${build_seconds:+ (image build ${build_seconds}s)}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

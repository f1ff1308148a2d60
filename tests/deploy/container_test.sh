#!/usr/bin/env bash
# The container image builds, is reproducible, and runs: deploy/container/build (two builds,
# one digest), then inside the image `heraldd --version`, `heraldd serve` as uid 65532 on a
# read-only root with /tmp the only writable path, answering /healthz and /readyz against
# the test PostgreSQL, `heraldctl health` answering SERVING, and SIGTERM ending it with 0.
#   tests/deploy/container_test.sh [BUILD_DIR]     (or BUILD_DIR=…; default: build)
# Needs root, buildah (deploy/dev/packages.txt) and HERALD_TEST_DATABASE_URL (an admin DSN;
# the test makes and drops its own database) and the mail fixtures in tests/data. Everything runs in this machine's network
# namespace on 127.0.0.x ports it picks: no network namespace is ever created.
# Outside CI a missing prerequisite skips (exit 77); with CI=true it fails.
set -euo pipefail
export LC_ALL=C
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-${BUILD_DIR:-$root/build}}
db_name=herald_image_smoke

skip() {
  if [ "${CI:-}" = "true" ]; then
    echo "FAILED: $* (CI never skips the image test)"
    exit 1
  fi
  echo "SKIPPED: $*"
  exit 77
}
command -v buildah >/dev/null || skip "buildah is missing (deploy/dev/install-packages)"
[ "$(id -u)" -eq 0 ] || skip "needs root (buildah's chroot isolation, mounts)"
[ -n "${HERALD_TEST_DATABASE_URL:-}" ] || skip "HERALD_TEST_DATABASE_URL is not set"
[ -x "$build/heraldd" ] || skip "$build/heraldd is not built"
for tool in curl psql unshare chroot python3; do
  command -v "$tool" >/dev/null || skip "$tool is missing"
done

state=$(mktemp -d /var/tmp/herald-image-test.XXXXXX)
bh=(buildah --root "$state/storage" --runroot "$state/run" --storage-driver vfs)
ctr=""
pid=""
admin_dsn=$HERALD_TEST_DATABASE_URL
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  if [ -n "$ctr" ]; then
    "${bh[@]}" umount "$ctr" >/dev/null 2>&1 || true
    "${bh[@]}" rm "$ctr" >/dev/null 2>&1 || true
  fi
  "${bh[@]}" rmi --all --force >/dev/null 2>&1 || true
  psql -X -q "$admin_dsn" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT

passed=0
failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
fail() {
  echo "FAILED: $1"
  failed=$((failed + 1))
}
# expect DESCRIPTION COMMAND…: ok when the command succeeds, FAILED otherwise.
expect() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
fatal() {
  fail "$1"
  [ -f "$state/heraldd.log" ] && { echo "--- heraldd's log (last 40 lines)"; tail -40 "$state/heraldd.log"; }
  echo "$passed passed, $failed failed"
  exit 1
}

# --- build ----------------------------------------------------------------------------
# HERALD_IMAGE_REPRO=0 (one build) is for a developer's quicker loop; CI always checks.
repro=${HERALD_IMAGE_REPRO:-1}
[ "${CI:-}" = "true" ] && repro=1
t0=$(date +%s)
HERALD_IMAGE_STATE=$state HERALD_IMAGE_ARCHIVE=$state/herald.oci.tar HERALD_IMAGE_REPRO=$repro \
  "$root/deploy/container/build" "$build" | tee "$state/build.out" \
  || fatal "deploy/container/build (the build or its reproducibility check) failed"
build_s=$(($(date +%s) - t0))
if [ "$repro" = 1 ]; then
  expect "two builds give one image digest" grep -q '^reproducible: ' "$state/build.out"
fi
# shellcheck source=/dev/null
. "$state/image.env"
t1=$(date +%s)

# --- the image's configuration -------------------------------------------------------------
cfg() { "${bh[@]}" inspect --type image --format "$1" "$IMAGE"; }
user=$(cfg '{{.OCIv1.Config.User}}')
entry=$(cfg '{{range .OCIv1.Config.Entrypoint}}{{.}} {{end}}')
cmd=$(cfg '{{range .OCIv1.Config.Cmd}}{{.}} {{end}}')
created=$(cfg '{{.OCIv1.Created}}')
expect "runs as 65532:65532 (USER $user)" [ "$user" = "65532:65532" ]
expect "entrypoint heraldd, command serve ($entry/ $cmd)" \
  [ "$entry$cmd" = "/usr/local/bin/heraldd serve " ]
expect "created at the epoch, --timestamp 0 ($created)" [ "${created#1970-01-01}" != "$created" ]
label=$(cfg '{{index .OCIv1.Config.Labels "org.opencontainers.image.version"}}')
expect "version label $label" [ "$label" = "$IMAGE_VERSION" ]

ctr=$("${bh[@]}" from --pull=never --name "herald-smoke-$$" "$IMAGE")
# Never a network namespace: --network host with chroot isolation.
brun=("${bh[@]}" run --isolation chroot --network host "$ctr" --)

# --- heraldd --version inside the image --------------------------------------------------
v=$("${brun[@]}" /usr/local/bin/heraldd --version 2>&1) || fatal "heraldd --version failed in the image: $v"
expect "heraldd --version in the image: $v" [ "$v" = "heraldd $IMAGE_VERSION" ]

# --- a database of the test's own ----------------------------------------------------------
PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 "$admin_dsn" -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" \
  -c "CREATE DATABASE $db_name" >/dev/null || fatal "could not create $db_name"
base=${admin_dsn%%\?*}
query=${admin_dsn#"$base"}
db_dsn="${base%/*}/$db_name$query"

# --- free ports on a loopback address of the test's choosing ---------------------------------
addr=127.0.0.$((20 + RANDOM % 200))
read -r p_grpc p_json p_http p_ops p_mail < <(python3 - "$addr" <<'EOF'
import socket, sys
socks = []
for _ in range(5):
    s = socket.socket()
    s.bind((sys.argv[1], 0))
    socks.append(s)
print(*[s.getsockname()[1] for s in socks])
EOF
)

# --- heraldd serve: uid 65532, read-only root, /tmp the only writable path ----------------
# buildah run has no read-only root, so the container's tree is run here as a runtime would:
# a mount namespace only (the host's network namespace, no other), the tree bind-mounted
# read-only, a tmpfs on /tmp, the usual /dev nodes and /proc, then chroot to 65532 and the
# image's own entrypoint, command and environment. unshare and sh exec in turn, so $! is
# heraldd's PID.
rootfs=$("${bh[@]}" mount "$ctr")
mapfile -t argv < <(cfg '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}{{range .OCIv1.Config.Cmd}}{{println .}}{{end}}')
mapfile -t image_env < <(cfg '{{range .OCIv1.Config.Env}}{{println .}}{{end}}')
suppression_key=smoke1:$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
mail_secret=smoke-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
# shellcheck disable=SC2016 # the inner script's variables are its own positional arguments
env -i "${image_env[@]}" \
  HERALD_DATABASE_URL="$db_dsn" \
  HERALD_SUPPRESSION_KEYS="$suppression_key" \
  HERALD_GRPC_LISTEN="$addr:$p_grpc" \
  HERALD_JSON_API_LISTEN="$addr:$p_json" \
  HERALD_HTTP_LISTEN="$addr:$p_http" \
  HERALD_OPS_LISTEN="$addr:$p_ops" \
  HERALD_INBOUND_MAIL_LISTEN="$addr:$p_mail" \
  HERALD_INBOUND_MAIL_SECRET="$mail_secret" \
  HERALD_PUBLIC_BASE_URL="http://$addr:$p_http" \
  unshare --mount --propagation private -- /bin/sh -c '
    set -e
    r=$1; ids=$2; shift 2
    mount --bind "$r" "$r"
    mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$r/tmp"
    mount -t tmpfs -o nosuid,noexec,mode=755 tmpfs "$r/dev"
    for d in null zero full random urandom; do
      : >"$r/dev/$d"
      mount --bind "/dev/$d" "$r/dev/$d"
    done
    mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
    mount -o remount,bind,ro "$r/dev"
    mount -o remount,bind,ro "$r"
    exec chroot --userspec="$ids" --groups="${ids#*:}" "$r" "$@"
  ' sh "$rootfs" "$user" "${argv[@]}" >"$state/heraldd.log" 2>&1 &
pid=$!

ready=""
deadline=$(($(date +%s) + 90))
while [ "$(date +%s)" -lt "$deadline" ]; do
  kill -0 "$pid" 2>/dev/null || { pid=""; fatal "heraldd exited before it was ready"; }
  h=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$addr:$p_ops/healthz" || true)
  r=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$addr:$p_ops/readyz" || true)
  if [ "$h" = 200 ] && [ "$r" = 200 ]; then ready=1; break; fi
  sleep 0.5
done
[ -n "$ready" ] || fatal "no 200 from /healthz and /readyz on $addr:$p_ops within 90 s (last: $h, $r)"
ok "/healthz and /readyz answer 200 on $addr:$p_ops"

# What runs is heraldd, as 65532, in this machine's network namespace, on a read-only root.
comm=$(cat "/proc/$pid/comm")
expect "PID $pid is heraldd ($comm)" [ "$comm" = heraldd ]
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
expect "heraldd runs as uid 65532 (real, effective, saved, fs: $uids)" \
  [ "$uids" = "65532 65532 65532 65532" ]
expect "heraldd shares this machine's network namespace" \
  [ "$(readlink "/proc/$pid/ns/net")" = "$(readlink /proc/self/ns/net)" ]
root_mount=$(awk '$2 == "/"' "/proc/$pid/mounts")
expect "heraldd's root is read-only ($root_mount)" grep -qE "^[^ ]+ / [^ ]+ ro[, ]" <<<"$root_mount"
m=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$addr:$p_ops/metrics" || true)
expect "/metrics answers 200 ($m)" [ "$m" = 200 ]

# --- heraldctl inside the image ------------------------------------------------------------------
if h=$("${brun[@]}" /usr/local/bin/heraldctl --addr "$addr:$p_grpc" health 2>&1) && [[ "$h" == *SERVING* ]]; then
  ok "heraldctl health in the image: $h"
else
  fail "heraldctl health in the image: $h"
fi

# --- iconv inside the image: mail in KOI8-R and windows-1251 -----------------------------------
# The markers are only recognised once GMime has decoded the subject through the image's
# gconv modules; without them the mail would be "ignored". Fictional senders (fixtures).
for fixture in refuse_ru_koi8r_base64.eml:refusal_applied rectify_ru_cp1251_qp.eml:rectification_recorded; do
  file=${fixture%%:*}
  want=${fixture#*:}
  answer=$(curl -s --max-time 10 -H "Authorization: Bearer $mail_secret" \
    -H 'Content-Type: message/rfc822' --data-binary "@$root/tests/data/inbound_mail/$file" \
    "http://$addr:$p_mail/hooks/email/inbound" || true)
  expect "mail hook: $file decoded in the image ($answer)" \
    grep -q "\"outcome\": *\"$want\"" <<<"$answer"
done

# --- SIGTERM: finish and exit 0 ---------------------------------------------------------------
kill -TERM "$pid"
deadline=$(($(date +%s) + 30))
while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.2; done
if kill -0 "$pid" 2>/dev/null; then
  fatal "heraldd still running 30 s after SIGTERM"
fi
rc=0
wait "$pid" || rc=$?
pid=""
[ "$rc" -eq 0 ] || tail -20 "$state/heraldd.log"
expect "SIGTERM: heraldd exited $rc" [ "$rc" -eq 0 ]
refused=$(grep -iE "read-only file system|permission denied" "$state/heraldd.log" | head -3 || true)
expect "no write refused in heraldd's log${refused:+: $refused}" [ -z "$refused" ]

smoke_s=$(($(date +%s) - t1))
echo "image: $IMAGE $IMAGE_DIGEST; build ${build_s}s (two builds and the archive), smoke ${smoke_s}s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

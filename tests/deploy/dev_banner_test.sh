#!/usr/bin/env bash
# SEC-13: the dev run's banner says where the admin key is, never the key itself (banners end
# up in captured terminal logs and CI output).
set -euo pipefail
root=${1:?source dir}
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
key=devkey-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$key" >"$state/admin-key"
printf 'inbound-%s\n' "$key" >"$state/inbound-mail-secret"
out=$(HERALD_DEV_STATE=$state HERALD_DEV_ROOT=/src HERALD_DEV_GRPC=127.0.0.1:50051 HERALD_DEV_JSON=127.0.0.1:8082 \
  HERALD_DEV_HTTP=127.0.0.1:8080 HERALD_DEV_MAIL=127.0.0.1:8081 HERALD_DEV_OPS=127.0.0.1:9090 \
  HERALD_DEV_PG_PORT=55432 HERALD_DEV_SMTP_PORT=2525 "$root/deploy/dev/banner")
fail=0
check() { if ! eval "$2"; then echo "FAILED: $1"; fail=1; else echo "ok: $1"; fi; }
check "the key's value is not printed" '[[ "$out" != *"$key"* ]]'
check "the file holding the key is named" '[[ "$out" == *"$state/admin-key"* ]]'
check "the try-it line reads the key from its file" \
  '[[ "$out" == *"HERALDCTL_API_KEY=\$(cat $state/admin-key)"* ]]'
check "the ops listener is shown" '[[ "$out" == *"http://127.0.0.1:9090/healthz"* ]]'
check "the JSON API is shown" '[[ "$out" == *"http://127.0.0.1:8082/v1/"* ]]'
check "the JSON try-it line reads the key from its file" \
  '[[ "$out" == *"Bearer \$(cat $state/admin-key)"* ]]'
check "it says TLS is off and why that is allowed" \
  '[[ "$out" == *"TLS is off: every listener is plaintext on loopback only"* ]]'
# The run script itself never loads the key into a variable it could print.
check "deploy/dev/run never reads the admin key's value" \
  '! grep -nE "(cat|<)[^|;]*admin-key\"?\)" "$root/deploy/dev/run"'
exit $fail

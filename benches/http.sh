#!/usr/bin/env bash
# Measures Tessera's HTTP throughput with wrk and writes docs/BENCHMARKS.md.
#
# The server is pinned to CPU 0 and wrk to CPU 1 (taskset), with 16
# connections for DURATION seconds per endpoint: the JWKS, discovery, the
# client_credentials grant for each signing algorithm, the password grant
# (argon2id-bound) and the refresh_token grant with rotation. Everything
# runs on 127.0.0.1 against a throw-away SQLite database. Needs wrk
# (Debian package "wrk").
#
# Usage: benches/http.sh [DURATION_SECONDS]   (default 10)
set -euo pipefail

cd "$(dirname "$0")/.."
duration=${1:-10}
port=18089
output=docs/BENCHMARKS.md

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --release --locked --quiet
binary=target/release/tessera
work=$(mktemp -d)
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

export TESSERA_DATABASE_URL="sqlite://$work/bench.db"
export TESSERA_KEYS_DIR="$work/keys"
export TESSERA_LISTEN="127.0.0.1:$port"
export TESSERA_ISSUER="http://127.0.0.1:$port"
export TESSERA_HTTP_WORKERS=1
export TESSERA_HASH_WORKERS=1
export RUST_LOG=warn

"$binary" migrate >/dev/null
echo 'correct horse battery staple' | "$binary" user add bench >/dev/null
user_secret=$("$binary" client add web --scope read | sed -n 's/^client_secret: //p')
machine_secret=$("$binary" client add machine --grant client_credentials --scope read | sed -n 's/^client_secret: //p')
refresh_secret=$("$binary" client add refresh --grant password --grant refresh_token --scope read | sed -n 's/^client_secret: //p')

# wrk script that POSTs one fixed form body with HTTP Basic.
post_script() {
  local basic=$1 body=$2
  cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = "$body"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA
  echo "$work/post.lua"
}

# Prints the requests per second wrk measured, checking that no request
# failed (non-2xx/3xx responses or socket errors).
measure() {
  local report
  report=$(taskset -c 1 wrk -t1 -c16 -d"${duration}s" --latency "$@" 2>&1)
  if grep -qE "Non-2xx|Socket errors" <<<"$report"; then
    echo "wrk reported failed requests:" >&2
    echo "$report" >&2
    exit 1
  fi
  local rate p50 p99
  rate=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$report")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$report")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$report")
  echo "$rate | $p50 | $p99"
}

start_server() {
  TESSERA_SIGNING_ALG=$1 taskset -c 0 "$binary" serve 2>"$work/serve.log" &
  server_pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/.well-known/jwks.json" >/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not start:" >&2
  cat "$work/serve.log" >&2
  exit 1
}

stop_server() {
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

machine_basic=$(printf 'machine:%s' "$machine_secret" | base64 -w0)
user_basic=$(printf 'web:%s' "$user_secret" | base64 -w0)
rows=()

start_server ES256
rows+=("| GET /.well-known/jwks.json | $(measure "http://127.0.0.1:$port/.well-known/jwks.json") |")
rows+=("| GET /.well-known/openid-configuration | $(measure "http://127.0.0.1:$port/.well-known/openid-configuration") |")
script=$(post_script "$user_basic" "grant_type=password&username=bench&password=correct+horse+battery+staple")
rows+=("| POST /oauth2/token password grant, ES256 | $(measure -s "$script" "http://127.0.0.1:$port/oauth2/token") |")
stop_server

# Refresh: each use rotates the token, so every request must send the
# token its previous response returned. The script keeps a pool of 64
# families (more than the 16 connections) and returns each successor to it.
start_server ES256
refresh_pool=()
for _ in $(seq 64); do
  refresh_pool+=("$(curl -sf -u "refresh:$refresh_secret" "http://127.0.0.1:$port/oauth2/token" \
    -d grant_type=password -d username=bench --data-urlencode 'password=correct horse battery staple' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')")
done
refresh_basic=$(printf 'refresh:%s' "$refresh_secret" | base64 -w0)
{
  echo 'wrk.method = "POST"'
  echo 'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"'
  echo "wrk.headers[\"Authorization\"] = \"Basic $refresh_basic\""
  echo 'local pool = {'
  printf '  "%s",\n' "${refresh_pool[@]}"
  echo '}'
  cat <<'LUA'
request = function()
  local token = table.remove(pool)
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end
response = function(status, headers, body)
  local token = string.match(body, '"refresh_token":"([^"]+)"')
  if token then table.insert(pool, token) end
end
LUA
} > "$work/refresh.lua"
rows+=("| POST /oauth2/token refresh_token, ES256 | $(measure -s "$work/refresh.lua" "http://127.0.0.1:$port/oauth2/token") |")
stop_server

script=$(post_script "$machine_basic" "grant_type=client_credentials")
for alg in ES256 EdDSA RS256 PS256 ES384; do
  start_server "$alg"
  rows+=("| POST /oauth2/token client_credentials, $alg | $(measure -s "$script" "http://127.0.0.1:$port/oauth2/token") |")
  stop_server
done

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -n1)
section=$(mktemp)
{
  echo "Measured by \`benches/http.sh $duration\` on $(date -u +%Y-%m-%d): release build, one"
  echo "HTTP worker and one hashing worker, server pinned to one core and wrk"
  echo "(1 thread, 16 connections, ${duration} s per row) to the other, over 127.0.0.1,"
  echo "SQLite database. CPU: ${cpu:-unknown}, $(nproc) cores."
  echo
  echo "| request | requests/s | p50 latency | p99 latency |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "The password grant is bound by argon2id (m = 19 MiB, t = 2, p = 1) on the"
  echo "one hashing worker. client_credentials does one database read (the"
  echo "client), one HMAC-SHA256 and one signature, so its rate follows the"
  echo "signing speed of each algorithm. A refresh adds the refresh-token lookup"
  echo "and one write transaction (mark used, insert the successor) on SQLite."
  echo "Audit rows are written in batches by a background task and do not"
  echo "delay responses. The JWKS and discovery are served from"
  echo "memory. Rerun the script to compare on other hardware; the numbers"
  echo "vary by a few percent between runs."
} > "$section"

# Replace the HTTP section of the benchmark page, keeping the others.
[[ -f "$output" ]] || printf '# Benchmarks\n' > "$output"
python3 - "$output" "$section" <<'PY'
import sys
page_path, section_path = sys.argv[1], sys.argv[2]
page = open(page_path).read()
section = open(section_path).read().rstrip("\n")
start, end = "<!-- http:start -->", "<!-- http:end -->"
block = f"{start}\n{section}\n{end}"
if start in page and end in page:
    page = page[: page.index(start)] + block + page[page.index(end) + len(end):]
else:
    page = page.rstrip("\n") + "\n\n## HTTP throughput (issuer)\n\n" + block + "\n"
open(page_path, "w").write(page)
PY
rm -f "$section"
cat "$output"

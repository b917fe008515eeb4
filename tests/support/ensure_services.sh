#!/usr/bin/env bash
# Make sure the services the test suite talks to are up: start any that is down (with the
# machine's own start commands) and fail loudly if one still does not answer.
set -u

wait_for() {  # name, probe command
  local name=$1 probe=$2
  for _ in $(seq 1 30); do
    if eval "$probe" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  echo "ERROR: $name does not answer after 30s (probe: $probe)" >&2
  return 1
}

start_if_down() {  # name, probe command, start command
  local name=$1 probe=$2 start=$3
  if eval "$probe" >/dev/null 2>&1; then return 0; fi
  echo "$name is down: starting it"
  eval "$start" || { echo "ERROR: could not start $name with: $start" >&2; return 1; }
  wait_for "$name" "$probe"
}

pg_probe="pg_isready -q -h 127.0.0.1 -p 5432"
mysql_probe="mysqladmin --protocol=tcp -h 127.0.0.1 -P 3306 -uroot ping"
redis_probe="[ \"\$(redis-cli -h 127.0.0.1 -p 6379 ping)\" = PONG ]"

status=0
start_if_down PostgreSQL "$pg_probe" \
  'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' || status=1
start_if_down MariaDB "$mysql_probe" \
  'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd' || status=1
start_if_down Redis "$redis_probe" \
  'mkdir -p /var/lib/redis /var/log/redis && redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log' || status=1
exit $status

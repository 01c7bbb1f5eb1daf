#!/usr/bin/env bash
# Start the local services the test suite talks to, when they are down.
# Under CI=true a service that cannot be started fails the run; elsewhere its tests skip.
set -uo pipefail

up() { (echo > "/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

wait_for() {
  local port=$1 tries=${2:-60}
  for _ in $(seq "$tries"); do up "$port" && return 0; sleep 1; done
  return 1
}

start() {
  local name=$1 port=$2; shift 2
  if up "$port"; then echo "services: $name is up on $port"; return 0; fi
  echo "services: starting $name"
  "$@" >/dev/null 2>&1 || true
  if wait_for "$port" 90; then echo "services: $name started on $port"; return 0; fi
  echo "services: $name could not be started on port $port" >&2
  [ "${CI:-}" = "true" ] && return 1
  return 0
}

status=0
start postgres 5432 bash -c 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' || status=1
start mariadb 3306 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || status=1
start redis 6379 redis-server --daemonize yes --port 6379 --save "" --appendonly no || status=1
start rabbitmq 5672 rabbitmq-server -detached || status=1
exit $status

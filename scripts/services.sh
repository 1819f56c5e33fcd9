#!/usr/bin/env bash
# Installs and starts the services the scale-out tests need — PostgreSQL (Debian package)
# and an S3-compatible server (moto, from PyPI, in .venv) — on loopback, and prints the
# environment variables that point the tests at them (use: eval "$(scripts/services.sh)").
# Prints nothing to stdout when a service cannot be started; the tests then report a skip.
set -uo pipefail
cd "$(dirname "$0")/.."
log=target/services.log
mkdir -p target
{
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
  fi
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  pg_lsclusters | grep -q "^$version main" || pg_createcluster "$version" main
  pg_ctlcluster "$version" main start 2>/dev/null || true
  for _ in $(seq 50); do runuser -u postgres -- pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
  runuser -u postgres -- psql -q -h 127.0.0.1 -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anonlink') THEN CREATE ROLE anonlink LOGIN SUPERUSER PASSWORD 'anonlink'; END IF; END \$\$;" 2>/dev/null \
    || runuser -u postgres -- psql -q -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anonlink') THEN CREATE ROLE anonlink LOGIN SUPERUSER PASSWORD 'anonlink'; END IF; END \$\$;"
  runuser -u postgres -- createdb -O anonlink anonlink 2>/dev/null || true
  [ -x .venv/bin/moto_server ] || .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]"
  if ! curl -s -o /dev/null http://127.0.0.1:5151/; then
    nohup .venv/bin/moto_server -H 127.0.0.1 -p 5151 >target/moto.log 2>&1 &
    for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:5151/ && break; sleep 0.2; done
  fi
  curl -s -X PUT http://127.0.0.1:5151/anonlink-test >/dev/null
} >"$log" 2>&1
if PGPASSWORD=anonlink psql -q -h 127.0.0.1 -U anonlink -d anonlink -c 'SELECT 1' >/dev/null 2>&1; then
  echo "export ANONLINK_TEST_DATABASE_URL=postgres://anonlink:anonlink@127.0.0.1:5432/anonlink"
fi
if curl -s -o /dev/null http://127.0.0.1:5151/; then
  echo "export ANONLINK_TEST_S3_URL=s3://anonlink-test/ci"
  echo "export AWS_ENDPOINT_URL=http://127.0.0.1:5151 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1"
fi

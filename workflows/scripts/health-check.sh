#!/usr/bin/env bash
# Post-deploy health check: every URL must answer 2xx within a bounded number of tries.
#   bash health-check.sh URL...
#   HEALTH_CHECK_TRIES      tries per URL, the first one included (default 10)
#   HEALTH_CHECK_INTERVAL   seconds between two rounds (default 10)
#   HEALTH_CHECK_TIMEOUT    seconds one request may take (default 10)
# Each round tries the URLs that have not answered 2xx yet; redirects are not followed. Exits 1
# after the last round, naming every URL that failed and what it answered last.
set -euo pipefail

tries="${HEALTH_CHECK_TRIES:-10}"
interval="${HEALTH_CHECK_INTERVAL:-10}"
timeout="${HEALTH_CHECK_TIMEOUT:-10}"
for setting in "HEALTH_CHECK_TRIES=$tries" "HEALTH_CHECK_INTERVAL=$interval" "HEALTH_CHECK_TIMEOUT=$timeout"; do
  case "${setting#*=}" in
    "" | *[!0-9]* | 0) echo "::error::$setting must be a positive whole number" >&2; exit 2 ;;
  esac
done
if [ "$#" -eq 0 ]; then
  echo "usage: health-check.sh URL..." >&2
  exit 2
fi

pending=("$@")
declare -A last
for try in $(seq 1 "$tries"); do
  still=()
  for url in "${pending[@]}"; do
    status="$(curl --silent --show-error --output /dev/null --write-out '%{http_code}' \
      --max-time "$timeout" --connect-timeout "$timeout" "$url" 2>&1)" || true
    case "$status" in
      2[0-9][0-9])
        echo "healthy: $url (HTTP $status, try $try/$tries)"
        ;;
      *)
        # curl prints the HTTP code (000 when there was no answer) after any error message.
        last[$url]="$(printf '%s' "$status" | tr '\n' ' ')"
        echo "not healthy yet: $url (${last[$url]}, try $try/$tries)"
        still+=("$url")
        ;;
    esac
  done
  pending=("${still[@]}")
  if [ "${#pending[@]}" -eq 0 ]; then
    echo "All ${#} health checks passed."
    exit 0
  fi
  if [ "$try" -lt "$tries" ]; then
    sleep "$interval"
  fi
done

for url in "${pending[@]}"; do
  echo "::error title=Health check failed::$url did not answer 2xx after $tries tries (last: ${last[$url]})"
done
exit 1

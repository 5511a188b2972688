#!/usr/bin/env bash
# Deploy one Railway service from the checked-out repository and wait until Railway reports the
# new deployment SUCCESS (the service's own health check passed), so that the health checks
# after it test the new code, not the old.
#   bash railway-deploy.sh SERVICE ENVIRONMENT
#   RAILWAY_TOKEN             the environment's project token; the CLI reads it from here, so it
#                             never appears on a command line
#   RAILWAY_DEPLOY_TRIES      status checks before giving up (default 90)
#   RAILWAY_DEPLOY_INTERVAL   seconds between two checks (default 10)
# Railway's CLI (docs.railway.com/cli/deploying, /cli/deployment): `railway up --detach --json`
# uploads the current directory (the service's root directory setting picks its folder, as for
# a deploy from GitHub) and prints {"deploymentId": ...} without waiting; `railway deployment
# list --json` lists the service's deployments with their status (SUCCESS, FAILED, CRASHED,
# BUILDING, DEPLOYING, ...; Railway's schema has the full enum). railway-lib.sh, beside it,
# waits until the deployment is live.
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: railway-deploy.sh SERVICE ENVIRONMENT" >&2
  exit 2
fi
service="$1"
environment="$2"
# shellcheck source=railway-lib.sh source-path=SCRIPTDIR disable=SC1091  # followed with -x
source "$(dirname "${BASH_SOURCE[0]}")/railway-lib.sh"
railway_require_token "Railway's $environment environment"

started="$(railway up --service "$service" --environment "$environment" --detach --json \
  --message "GitHub Actions ${GITHUB_REPOSITORY:-}@${GITHUB_SHA:-}")"
deployment="$(printf '%s\n' "$started" | jq -rR 'fromjson? | objects | .deploymentId // empty' | tail -n 1)"
if [ -z "$deployment" ]; then
  echo "::error title=Railway did not start a deployment of $service::railway up printed no deploymentId"
  exit 1
fi
echo "Railway deployment $deployment of $service in $environment started."

# Railway's CLI lists the service's deployments with their status; one not listed yet waits.
listed_status() {
  railway deployment list --service "$service" --environment "$environment" --limit 20 --json |
    jq -r --arg id "$1" '.[] | select(.id == $id) | .status'
}
railway_wait_live "$service" "$deployment" listed_status

#!/usr/bin/env bash
# Sourced by railway-deploy.sh and railway-deploy-image.sh: waiting until a Railway deployment
# is live, and the GraphQL requests railway-deploy-image.sh makes. Defines functions only.
#   RAILWAY_DEPLOY_TRIES      status checks before giving up (default 90)
#   RAILWAY_DEPLOY_INTERVAL   seconds between two checks (default 10)
# Statuses are Railway's DeploymentStatus (its schema): SUCCESS, or SLEEPING for a slept
# Serverless service, is live; FAILED, CRASHED, REMOVED, REMOVING and SKIPPED end it; any other
# (INITIALIZING, QUEUED, WAITING, BUILDING, DEPLOYING, NEEDS_APPROVAL) is still on its way.
# GraphQL documents are single-quoted on purpose: their $names are GraphQL variables.
# shellcheck disable=SC2016

# railway_require_token WHOSE: stops the job, saying where the token goes, when RAILWAY_TOKEN is
# not set (WHOSE: the Railway environment whose project token it is).
railway_require_token() {
  if [ -z "${RAILWAY_TOKEN:-}" ]; then
    echo "::error title=RAILWAY_TOKEN is not set::Add the project token of $1 as the secret RAILWAY_TOKEN of this GitHub environment."
    exit 1
  fi
}

# railway_wait_live SERVICE DEPLOYMENT READER: calls `READER DEPLOYMENT`, which prints the
# deployment's status (empty while Railway does not list it yet), until the deployment is live
# (return 0) or ended, or the checks run out (return 1), with a GitHub error annotation.
railway_wait_live() {
  local service="$1" deployment="$2" reader="$3" tries="${RAILWAY_DEPLOY_TRIES:-90}"
  local interval="${RAILWAY_DEPLOY_INTERVAL:-10}" try status
  for try in $(seq 1 "$tries"); do
    status="$("$reader" "$deployment")" || return 1
    case "$status" in
      SUCCESS | SLEEPING)
        echo "Railway deployment $deployment of $service is live ($status)."
        return 0
        ;;
      FAILED | CRASHED | REMOVED | REMOVING | SKIPPED)
        echo "::error title=Railway deployment of $service failed::deployment $deployment is $status (railway logs --build $deployment shows why)"
        return 1
        ;;
    esac
    echo "deployment $deployment of $service: ${status:-not listed yet} (check $try/$tries)"
    if [ "$try" -lt "$tries" ]; then
      sleep "$interval"
    fi
  done
  echo "::error title=Railway deployment of $service timed out::deployment $deployment was not SUCCESS after $tries checks"
  return 1
}

# railway_headers TOKEN: a file holding the request headers, the project token among them
# (Project-Access-Token, docs.railway.com/reference/public-api), so that the token is never on
# a command line; removed when the script exits. Sets RAILWAY_HEADERS.
railway_headers() {
  RAILWAY_HEADERS="$(mktemp)"
  # shellcheck disable=SC2064  # the file's name is fixed now, on purpose
  trap "rm -f '$RAILWAY_HEADERS'" EXIT
  printf 'Project-Access-Token: %s\nContent-Type: application/json\n' "$1" >"$RAILWAY_HEADERS"
}

# railway_gql WHAT QUERY VARIABLES_JSON: the answer's data, from RAILWAY_API_URL (default
# backboard.railway.com) with RAILWAY_HEADERS; an error answer ends the script, naming WHAT.
railway_gql() {
  local api="${RAILWAY_API_URL:-https://backboard.railway.com/graphql/v2}" answer
  answer="$(jq -cn --arg query "$2" --argjson variables "$3" '{query: $query, variables: $variables}' |
    curl --silent --show-error --max-time 30 --retry 3 -H @"$RAILWAY_HEADERS" --data-binary @- "$api")" || {
    echo "::error title=Railway did not answer::$api"
    exit 1
  }
  if ! jq -e '(.errors // []) == [] and .data != null' >/dev/null <<<"$answer"; then
    echo "::error title=Railway refused a request for $1::$(jq -r '[.errors[]?.message] | join("; ")' <<<"$answer" 2>/dev/null || echo "an answer that is not JSON")"
    exit 1
  fi
  jq -c '.data' <<<"$answer"
}

# railway_status DEPLOYMENT: its status, as Railway's CLI reads it (railwayapp/cli
# src/gql/queries/strings/DeploymentStatus.graphql).
railway_status() {
  railway_gql "deployment $1" 'query($id: String!) { deployment(id: $id) { status } }' \
    "$(jq -cn --arg id "$1" '{id: $id}')" | jq -r '.deployment.status'
}

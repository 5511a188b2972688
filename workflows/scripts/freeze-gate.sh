#!/usr/bin/env bash
# Deploy freeze gate: runs before anything is installed, and again right before each platform
# step, so a freeze set while a deploy is under way stops it at its next step.
#   DEPLOY_FREEZE        the freeze as the job started (vars.DEPLOY_FREEZE); the rollback service
#                        sets it to true after an immediate rollback
#   DEPLOY_ENVIRONMENT   the GitHub environment
#   FREEZE_READ_TOKEN    a token that reads the environment's variables: the freeze is read again
#                        now from GitHub's REST API (GET /repos/{owner}/{repo}/environments/
#                        {environment_name}/variables/{name}, "Get an environment variable";
#                        404 when the variable does not exist). A job's `vars` are fixed when it
#                        starts, and the job's own GITHUB_TOKEN cannot read environments.
#   FREEZE_VARIABLE      the variable's name (default DEPLOY_FREEZE)
#   GITHUB_API_URL, GITHUB_REPOSITORY   set by the runner
# Exit 0 when the freeze is unset, empty or false, both as the job started and now; 1 when it is
# true (deploys are frozen), for any other value (a mistyped freeze never lets a deploy through),
# and when the current value cannot be read (nothing is deployed on a guess).
set -euo pipefail

environment="${DEPLOY_ENVIRONMENT:-this environment}"
name="${FREEZE_VARIABLE:-DEPLOY_FREEZE}"

judge() { # $1: the value, $2: when it was read
  case "$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" in
    "" | false) ;;
    true)
      echo "::error title=Deploys to $environment are frozen::$name is true ($2): the rollback service (or a person) froze deploys after a rollback. Nothing more was deployed. Once the cause is understood, lift the freeze (in the pipeline repository: python -m rollback unfreeze; or: gh variable set $name --env $environment --body false) and run this workflow again."
      exit 1
      ;;
    *)
      echo "::error title=$name is not true or false::$name of $environment is '$1' ($2). Nothing more was deployed: set it to true (frozen) or false."
      exit 1
      ;;
  esac
}

judge "${DEPLOY_FREEZE:-}" "when the job started"

if [ -z "${FREEZE_READ_TOKEN:-}" ]; then
  echo "::error title=FREEZE_READ_TOKEN is not set::The freeze of $environment cannot be read again, so nothing more was deployed. Add a token that reads this repository's environments (fine-grained: Environments read) as the secret FREEZE_READ_TOKEN of the environment."
  exit 1
fi
url="${GITHUB_API_URL:-https://api.github.com}/repos/${GITHUB_REPOSITORY:?}/environments/$environment/variables/$name"
body="$(mktemp)"
trap 'rm -f "$body"' EXIT
# The token goes to curl on its standard input (a config file), never on its command line.
status="$(printf 'header = "Authorization: Bearer %s"\n' "$FREEZE_READ_TOKEN" |
  curl --config - --silent --show-error --max-time 10 --retry 2 --output "$body" \
    --write-out '%{http_code}' --header 'Accept: application/vnd.github+json' \
    --header 'X-GitHub-Api-Version: 2022-11-28' "$url" 2>&1)" || true
case "$status" in
  200) now="$(jq -r '.value // ""' "$body")" ;;
  404) now="" ;; # never set: not frozen
  *)
    echo "::error title=The freeze of $environment cannot be read::GitHub answered '$status' for $name. Nothing more was deployed: check FREEZE_READ_TOKEN (Environments read on this repository) and run the workflow again."
    exit 1
    ;;
esac
judge "$now" "read just now"
echo "Deploy freeze: off for $environment."

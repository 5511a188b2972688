#!/usr/bin/env bash
# Deploy freeze gate: runs before anything is installed, and again right before each platform
# step, so a freeze set while a deploy is under way stops it at its next step.
#   DEPLOY_FREEZE        the freeze as the job started (vars.DEPLOY_FREEZE); the rollback service
#                        sets it to true after an immediate rollback, and when the error budget of
#                        a service level objective is spent
#   DEPLOY_ENVIRONMENT   the GitHub environment
#   FREEZE_READ_TOKEN    a token that reads the environment's variables: the freeze is read again
#                        now from GitHub's REST API (GET /repos/{owner}/{repo}/environments/
#                        {environment_name}/variables/{name}, "Get an environment variable";
#                        200 with value and updated_at, 404 when the variable does not exist). A
#                        job's `vars` are fixed when it starts, and the job's own GITHUB_TOKEN
#                        cannot read environments.
#   FREEZE_VARIABLE      the variable's name (default DEPLOY_FREEZE)
#   FREEZE_REASON_VARIABLE  why the freeze is on (default DEPLOY_FREEZE_REASON), set with it
#   GITHUB_API_URL, GITHUB_REPOSITORY   set by the runner
# Exit 0 when the freeze is unset, empty or false, both as the job started and now; 1 when it is
# true (deploys are frozen), for any other value (a mistyped freeze never lets a deploy through),
# and when the current value cannot be read (nothing is deployed on a guess).
# One exception: a commit marked as a reliability fix (a `Reliability-Fix: <why>` trailer on the
# commit being deployed) passes a freeze whose reason, read now, is an error budget's
# ("error-budget: ...") and was written with or after the freeze (an older reason is an earlier
# freeze's). Never an incident's freeze, a person's, or one whose reason cannot be read.
set -euo pipefail

environment="${DEPLOY_ENVIRONMENT:-this environment}"
name="${FREEZE_VARIABLE:-DEPLOY_FREEZE}"
reason_name="${FREEZE_REASON_VARIABLE:-DEPLOY_FREEZE_REASON}"
# The trailer's value on the checked-out commit (git interpret-trailers' rules; the key in any case).
fix="$(git log -1 --format='%(trailers:key=Reliability-Fix,valueonly,separator=%x20)' 2>/dev/null |
  tr -cd '[:print:]' | tr -d '%' | cut -c1-200 || true)"

frozen() { # $1: the value, $2: when it was read
  echo "::error title=Deploys to $environment are frozen::$name is true ($2): the rollback service (or a person) froze deploys after a rollback, or because an error budget is spent ($reason_name says which). Nothing more was deployed. Once the cause is understood, lift the freeze (in the pipeline repository: python -m rollback unfreeze; or: gh variable set $name --env $environment --body false) and run this workflow again. A reliability fix passes an error-budget freeze: end its commit message with a 'Reliability-Fix: <why>' trailer."
  exit 1
}

judge() { # $1: the value, $2: when it was read, $3: "fix" if a reliability fix may still pass
  case "$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')" in
    "" | false) ;;
    true) [ "${3:-}" = fix ] || frozen "$1" "$2" ;;
    *)
      echo "::error title=$name is not true or false::$name of $environment is '$1' ($2). Nothing more was deployed: set it to true (frozen) or false."
      exit 1
      ;;
  esac
}

# A reliability fix is judged on the freeze as it is now, below.
judge "${DEPLOY_FREEZE:-}" "when the job started" "${fix:+fix}"

if [ -z "${FREEZE_READ_TOKEN:-}" ]; then
  echo "::error title=FREEZE_READ_TOKEN is not set::The freeze of $environment cannot be read again, so nothing more was deployed. Add a token that reads this repository's environments (fine-grained: Environments read) as the secret FREEZE_READ_TOKEN of the environment."
  exit 1
fi
variables="${GITHUB_API_URL:-https://api.github.com}/repos/${GITHUB_REPOSITORY:?}/environments/$environment/variables"
body="$(mktemp)"
trap 'rm -f "$body" "$body.reason"' EXIT
read_variable() { # $1: its name, $2: where its JSON goes; prints the HTTP status
  # The token goes to curl on its standard input (a config file), never on its command line.
  printf 'header = "Authorization: Bearer %s"\n' "$FREEZE_READ_TOKEN" |
    curl --config - --silent --show-error --max-time 10 --retry 2 --output "$2" \
      --write-out '%{http_code}' --header 'Accept: application/vnd.github+json' \
      --header 'X-GitHub-Api-Version: 2022-11-28' "$variables/$1" 2>&1 || true
}
status="$(read_variable "$name" "$body")"
case "$status" in
  200) now="$(jq -r '.value // ""' "$body")" ;;
  404) now="" ;; # never set: not frozen
  *)
    echo "::error title=The freeze of $environment cannot be read::GitHub answered '$status' for $name. Nothing more was deployed: check FREEZE_READ_TOKEN (Environments read on this repository) and run the workflow again."
    exit 1
    ;;
esac
judge "$now" "read just now" "${fix:+fix}"
if [ "$(printf '%s' "$now" | tr '[:upper:]' '[:lower:]')" = true ]; then
  # Frozen, and this commit says it is a reliability fix: only an error budget's freeze lets it by.
  stamp='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
  frozen_at="$(jq -r '.updated_at // ""' "$body")"
  reason="" reason_at=""
  if [ "$(read_variable "$reason_name" "$body.reason")" = 200 ]; then
    reason="$(jq -r '.value // ""' "$body.reason")"
    reason_at="$(jq -r '.updated_at // ""' "$body.reason")"
  fi
  if [[ "$reason" != "error-budget: "* || ! "$frozen_at" =~ $stamp || ! "$reason_at" =~ $stamp ||
    "$reason_at" < "$frozen_at" ]]; then
    echo "::error title=Not an error-budget freeze::This commit is marked as a reliability fix ($fix), which passes only a freeze set because an error budget is spent; the freeze of $environment is another ($reason_name: $(printf '%s' "$reason" | tr -cd '[:print:]' | tr -d '%' | cut -c1-200))."
    frozen "$now" "read just now"
  fi
  echo "::notice title=Reliability fix deployed through an error-budget freeze::Reliability-Fix: $fix. Freeze: $(printf '%s' "$reason" | tr -cd '[:print:]' | tr -d '%' | cut -c1-300)"
  exit 0
fi
echo "Deploy freeze: off for $environment."

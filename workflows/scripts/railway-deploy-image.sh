#!/usr/bin/env bash
# Point one Railway service at the image the images job pushed for this commit and deploy it
# once, then wait until Railway reports the deployment SUCCESS: what CI built and tested is what
# runs, never a rebuild from source.
#   bash railway-deploy-image.sh SERVICE
#   IMAGE                     the image by digest: ghcr.io/owner/repo/service@sha256:...
#   RAILWAY_TOKEN             the environment's project token (it names the environment); sent
#                             as the Project-Access-Token header from a file, never on a
#                             command line (docs.railway.com/reference/public-api)
#   RAILWAY_API_URL           Railway's GraphQL endpoint (default backboard.railway.com)
#   RAILWAY_DEPLOY_TRIES      status checks before giving up (default 90)
#   RAILWAY_DEPLOY_INTERVAL   seconds between two checks (default 10)
# railway-lib.sh, beside it, holds the requests and the wait until the deployment is live.
# The requests are the converge tool's (components/railway/documents.py, which cites each):
# the instance's `source.image` staged (environmentStageChanges, as Railway's "Change Docker
# Image" patch), committed with skipDeploys (so that committing starts nothing), then one
# serviceInstanceDeployV2, which deploys the image the source names, and its status read.
# GraphQL documents are single-quoted on purpose: their $names are GraphQL variables.
# shellcheck disable=SC2016
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: railway-deploy-image.sh SERVICE" >&2
  exit 2
fi
service="$1"
tries="${RAILWAY_DEPLOY_TRIES:-90}"
interval="${RAILWAY_DEPLOY_INTERVAL:-10}"
# shellcheck source=railway-lib.sh source-path=SCRIPTDIR disable=SC1091  # followed with -x
source "$(dirname "${BASH_SOURCE[0]}")/railway-lib.sh"
if [ -z "${RAILWAY_TOKEN:-}" ]; then
  echo "::error title=RAILWAY_TOKEN is not set::Add the project token of this Railway environment as the secret RAILWAY_TOKEN of this GitHub environment."
  exit 1
fi
if ! [[ "${IMAGE:-}" =~ ^[a-z0-9.-]+(/[a-z0-9._-]+)+@sha256:[0-9a-f]{64}$ ]]; then
  echo "::error title=No image digest for $service::IMAGE must name the pushed image by digest (name@sha256:...), got '${IMAGE:-}'"
  exit 1
fi
railway_headers "$RAILWAY_TOKEN"

gql() { railway_gql "$service" "$@"; }

scope="$(gql 'query { projectToken { environmentId environment { name unmergedChangesCount serviceInstances(first: 500) { edges { node { serviceId serviceName } } } } } }' '{}')"
environment_id="$(jq -r '.projectToken.environmentId' <<<"$scope")"
environment="$(jq -r '.projectToken.environment.name' <<<"$scope")"
service_id="$(jq -r --arg name "$service" '[.projectToken.environment.serviceInstances.edges[].node | select(.serviceName == $name) | .serviceId] | first // empty' <<<"$scope")"
if [ -z "$service_id" ]; then
  echo "::error title=No service $service in Railway's $environment::The pipeline's pulumi up creates it; run it first."
  exit 1
fi
# A commit takes every staged change of the environment: never someone else's half-done work.
staged="$(jq -r '.projectToken.environment.unmergedChangesCount // 0' <<<"$scope")"
if [ "$staged" != "0" ]; then
  echo "::error title=Staged changes in Railway's $environment::$staged change(s) someone staged and did not deploy: deploy or discard them in Railway's dashboard, then re-run this job."
  exit 1
fi

patch="$(jq -cn --arg id "$service_id" --arg image "$IMAGE" '{services: {($id): {source: {image: $image}}}}')"
gql 'mutation($environmentId: String!, $input: EnvironmentConfig!) { environmentStageChanges(environmentId: $environmentId, input: $input, merge: true) { id } }' \
  "$(jq -cn --arg env "$environment_id" --argjson input "$patch" '{environmentId: $env, input: $input}')" >/dev/null
workflow="$(gql 'mutation($environmentId: String!, $message: String) { environmentPatchCommitStaged(environmentId: $environmentId, commitMessage: $message, skipDeploys: true) }' \
  "$(jq -cn --arg env "$environment_id" --arg message "$service: ${GITHUB_REPOSITORY:-}@${GITHUB_SHA:-}" '{environmentId: $env, message: $message}')" |
  jq -r '.environmentPatchCommitStaged')"
for try in $(seq 1 "$tries"); do
  status="$(gql 'query($id: String!) { workflowStatus(workflowId: $id) { status error } }' "$(jq -cn --arg id "$workflow" '{id: $id}')")"
  case "$(jq -r '.workflowStatus.status' <<<"$status")" in
    Complete) break ;;
    Error)
      echo "::error title=Railway did not apply the image of $service::$(jq -r '.workflowStatus.error // "no reason given"' <<<"$status")"
      exit 1
      ;;
  esac
  if [ "$try" -eq "$tries" ]; then
    echo "::error title=Railway did not apply the image of $service::still not applied after $tries checks"
    exit 1
  fi
  sleep "$interval"
done

deployment="$(gql 'mutation($serviceId: String!, $environmentId: String!) { serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId) }' \
  "$(jq -cn --arg service "$service_id" --arg env "$environment_id" '{serviceId: $service, environmentId: $env}')" |
  jq -r '.serviceInstanceDeployV2')"
echo "Railway deployment $deployment of $service ($IMAGE) in $environment started."
railway_wait_live "$service" "$deployment" railway_status || {
  # Railway documents images as name[:tag] only (docs/railway.md, "Pull by digest"): never
  # retried with a tag, which could be other bytes than the ones CI tested.
  echo "::error title=$service by digest did not deploy::$IMAGE did not go live; the deployment before it still runs. If its build log says Railway cannot pull the image by digest, this pipeline cannot ship built images to it (docs/railway.md, \"Pull by digest\")."
  exit 1
}

#!/usr/bin/env bash
# Point one Railway service at the image the images job pushed for this commit and deploy it
# once, then wait until Railway reports the deployment SUCCESS: what CI built and tested is what
# runs, never a rebuild from source.
#   bash railway-deploy-image.sh SERVICE
#   IMAGE                     the image by the tag the images job pushed for this commit:
#                             ghcr.io/owner/repo/service:<full commit sha>
#   IMAGE_DIGEST              the digest the images job pushed under that tag (sha256:...)
#   GITHUB_TOKEN              the job's token (packages: read), traded for a pull token of the
#                             image's repository; sent from a file, never on a command line
#   REGISTRY_URL              the registry's base URL (default https://<IMAGE's host>)
#   RAILWAY_TOKEN             the environment's project token (it names the environment); sent
#                             as the Project-Access-Token header from a file, never on a
#                             command line (docs.railway.com/reference/public-api)
#   RAILWAY_API_URL           Railway's GraphQL endpoint (default backboard.railway.com)
#   RAILWAY_DEPLOY_TRIES      status checks before giving up (default 90)
#   RAILWAY_DEPLOY_INTERVAL   seconds between two checks (default 10)
# By tag, not by digest: Railway documents its images as `name[:tag]` only (docs/railway.md,
# "Pull by digest"). The tag is bound to the digest CI built: the registry is asked what the tag
# points at before the image is set (a moved tag deploys nothing) and again once the deployment
# is live (a tag pushed over in between fails the job, saying what may run).
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
railway_require_token "this Railway environment"
# A name and a tag as the OCI distribution spec writes them (spec.md, "Pulling manifests").
if ! [[ "${IMAGE:-}" =~ ^([a-z0-9.-]+)/([a-z0-9._-]+(/[a-z0-9._-]+)*):([A-Za-z0-9_][A-Za-z0-9._-]{0,127})$ ]]; then
  echo "::error title=No image tag for $service::IMAGE must name the pushed image by its tag (name:tag), got '${IMAGE:-}'"
  exit 1
fi
host="${BASH_REMATCH[1]}" name="${BASH_REMATCH[2]}" tag="${BASH_REMATCH[4]}"
if ! [[ "${IMAGE_DIGEST:-}" =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "::error title=No image digest for $service::IMAGE_DIGEST must be the digest the images job pushed (sha256:...), got '${IMAGE_DIGEST:-}'"
  exit 1
fi
if [ -z "${GITHUB_TOKEN:-}" ]; then
  echo "::error title=GITHUB_TOKEN is not set::The deploy job reads what $IMAGE points at with its GITHUB_TOKEN (permissions: packages: read)."
  exit 1
fi
registry="${REGISTRY_URL:-https://$host}"
railway_headers "$RAILWAY_TOKEN"
REGISTRY_HEADERS="$(mktemp)"
# shellcheck disable=SC2064  # the files' names are fixed now, on purpose
trap "rm -f '$RAILWAY_HEADERS' '$REGISTRY_HEADERS'" EXIT

# tag_digest: sets `digest` to what IMAGE's tag points at now. First a pull token of the
# repository, traded for GITHUB_TOKEN with Basic auth at GHCR's token endpoint
# (https://ghcr.io/token?scope=repository:<name>:pull; github.com/CopilotKit/CopilotKit pull 5239);
# GITHUB_TOKEN reads the repository's packages with `packages: read` (docs.github.com/en/packages/
# managing-github-packages-using-github-actions-workflows/publishing-and-installing-a-package-
# with-github-actions). Then `HEAD /v2/<name>/manifests/<tag>` and its Docker-Content-Digest
# (github.com/opencontainers/distribution-spec spec.md, "Checking if content exists in the
# registry", where the header is a SHOULD: none is taken for a mismatch). Accept names the index
# types too: Buildx pushes an index, whose digest is the images job's output, and GHCR answers
# no index to a client that does not accept one (github.com/Mic92/niks3 issue 229). The tokens
# go in a header file that curl reads, never on a command line; a fresh one each time (they
# expire during a long deploy).
tag_digest() {
  local answer token
  printf 'Authorization: Basic %s\n' "$(printf 'x-access-token:%s' "$GITHUB_TOKEN" | base64 -w0)" >"$REGISTRY_HEADERS"
  answer="$(curl --silent --show-error --fail --max-time 30 --retry 3 -H @"$REGISTRY_HEADERS" \
    "$registry/token?scope=repository:$name:pull&service=$host")" || {
    echo "::error title=The registry refused a pull token for $name::$registry/token; the deploy job needs permissions: packages: read, and the package must grant this repository access."
    return 1
  }
  token="$(jq -r '.token // .access_token // empty' <<<"$answer" 2>/dev/null)" || token=""
  if [ -z "$token" ]; then
    echo "::error title=The registry gave no pull token for $name::$registry/token answered without one."
    return 1
  fi
  {
    printf 'Authorization: Bearer %s\n' "$token"
    printf 'Accept: %s\n' application/vnd.oci.image.index.v1+json application/vnd.oci.image.manifest.v1+json \
      application/vnd.docker.distribution.manifest.list.v2+json application/vnd.docker.distribution.manifest.v2+json
  } >"$REGISTRY_HEADERS"
  answer="$(curl --silent --show-error --fail --max-time 30 --retry 3 --head -H @"$REGISTRY_HEADERS" \
    "$registry/v2/$name/manifests/$tag")" || {
    echo "::error title=No $IMAGE in the registry::$registry did not answer its manifest (the images job pushes it)."
    return 1
  }
  digest="$(tr -d '\r' <<<"$answer" | sed -n 's/^docker-content-digest:[[:space:]]*//Ip' | tail -n 1)"
}

# Before anything changes in Railway: the tag still names the bytes CI built and tested.
tag_digest || exit 1
if [ "$digest" != "$IMAGE_DIGEST" ]; then
  echo "::error title=The tag of $service moved::$IMAGE points at ${digest:-no digest} now, not at $IMAGE_DIGEST, which the images job pushed and CI tested: someone pushed over the tag. Nothing was deployed; find who can push to the package and why, then re-run this workflow."
  exit 1
fi

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
  echo "::error title=$service did not deploy::$IMAGE did not go live; the deployment before it still runs."
  exit 1
}
# Railway pulled the tag somewhere between the two reads: if it moved, it may run other bytes.
tag_digest || {
  echo "::error title=$service is live, unchecked::Railway's deployment $deployment runs $IMAGE, but what the tag points at now could not be read: re-run this job to check it against $IMAGE_DIGEST."
  exit 1
}
if [ "$digest" != "$IMAGE_DIGEST" ]; then
  echo "::error title=$service may run an image CI did not test::Railway's deployment $deployment of $service is live from $IMAGE, and that tag now points at ${digest:-no digest}, not at $IMAGE_DIGEST, which the images job pushed and CI tested: someone pushed over the tag while Railway pulled it, so the deployment may run their image. Roll back to the deployment before (the rollback workflow), find who can push to the package and why, then re-run this workflow."
  exit 1
fi
echo "$service runs $IMAGE, still $IMAGE_DIGEST: what CI tested."

#!/usr/bin/env bash
# Deploy freeze gate: the first step of every deploy job, before anything deploys.
#   DEPLOY_FREEZE        the environment's freeze variable (vars.DEPLOY_FREEZE); the rollback
#                        service sets it to true after an immediate rollback
#   DEPLOY_ENVIRONMENT   the GitHub environment, for the message
# Exit 0 when the variable is unset, empty or false; 1 when it is true (deploys are frozen) and
# for any other value, so that a mistyped freeze never lets a deploy through.
set -euo pipefail

value="${DEPLOY_FREEZE:-}"
environment="${DEPLOY_ENVIRONMENT:-this environment}"
case "$(printf '%s' "$value" | tr '[:upper:]' '[:lower:]')" in
  "" | false)
    echo "Deploy freeze: off for $environment."
    ;;
  true)
    echo "::error title=Deploys to $environment are frozen::DEPLOY_FREEZE is true: the rollback service (or a person) froze deploys after a rollback. Nothing was deployed. Once the cause is understood, lift the freeze (in the pipeline repository: python -m rollback unfreeze; or: gh variable set DEPLOY_FREEZE --env $environment --body false) and run this workflow again."
    exit 1
    ;;
  *)
    echo "::error title=DEPLOY_FREEZE is not true or false::DEPLOY_FREEZE of $environment is '$value'. Nothing was deployed: set it to true (frozen) or false."
    exit 1
    ;;
esac

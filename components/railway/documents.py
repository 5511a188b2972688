"""Every GraphQL document the converge tool can send; tests validate each against the schema."""

from __future__ import annotations

# What apply and delete compare against in one environment, except variable values. `config` is
# the environment's serialized config (source, branch, deploy settings), the same shape as the
# patch apply commits; it is read, never logged. Volume.volumeInstances is deprecated, so volumes
# are read per environment.
_ENVIRONMENT = """
fragment EnvironmentView on Environment {
  id name unmergedChangesCount
  config(decryptVariables: false)
  serviceInstances(first: 500) {
    pageInfo { hasNextPage }
    edges { node {
      id serviceId serviceName
      source { repo image }
      latestDeployment { id status createdAt }
      domains { customDomains { id domain } serviceDomains { id domain } }
    } }
  }
  volumeInstances(first: 500) {
    pageInfo { hasNextPage }
    edges { node { id volumeId serviceId environmentId mountPath state createdAt } }
  }
}
"""

# An account or workspace token reads every environment: delete must know whether another
# environment runs the service before `serviceDelete`, which removes it from all of them.
OBSERVE = f"""
query Observe($projectId: String!) {{
  project(id: $projectId) {{
    id
    services(first: 500) {{ pageInfo {{ hasNextPage }} edges {{ node {{ id name }} }} }}
    environments(first: 100) {{
      pageInfo {{ hasNextPage }}
      edges {{ node {{ ...EnvironmentView }} }}
    }}
  }}
}}
{_ENVIRONMENT}"""

# A project token may read only its own environment: the token says which (`projectToken`).
OBSERVE_TOKEN_ENVIRONMENT = f"""
query ObserveTokenEnvironment {{
  projectToken {{ projectId environmentId environment {{ ...EnvironmentView }} }}
}}
{_ENVIRONMENT}"""

# The service's variables (values as written, references unrendered) and the deployments that
# run it now: Railway keeps one running deployment per service ("Singleton deploys",
# https://docs.railway.com/reference/deployments), filtered by status so that the answer's order
# does not matter. `meta` (`scalar DeploymentMeta`, untyped, schema.graphql:667) carries the
# commit a repository deployment built.
SERVICE_STATE = """
query ServiceState($projectId: String!, $environmentId: String!, $serviceId: String!) {
  variables(
    projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId, unrendered: true
  )
  deployments(
    input: {
      projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId,
      status: {in: [SUCCESS, SLEEPING]}
    },
    first: 10
  ) {
    edges { node { id status createdAt meta } }
  }
}
"""

# The variables the running deployment started with: a run killed between committing variables
# and its deploy leaves them different from the service's, and the rerun deploys.
RUNNING_DEPLOYMENT = """
query RunningDeployment($deploymentId: String!) {
  deploymentSnapshot(deploymentId: $deploymentId) { variables }
}
"""

DOMAINS = """
query Domains($projectId: String!, $environmentId: String!, $serviceId: String!) {
  domains(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId) {
    customDomains { id domain }
    serviceDomains { id domain }
  }
}
"""

DEPLOYMENTS = """
query Deployments($input: DeploymentListInput!) {
  deployments(input: $input, first: 50) {
    edges { node { id status createdAt canRollback } }
  }
}
"""

ENVIRONMENT_CREATE = """
mutation EnvironmentCreate($input: EnvironmentCreateInput!) {
  environmentCreate(input: $input) { id name }
}
"""

SERVICE_CREATE = """
mutation ServiceCreate($input: ServiceCreateInput!) {
  serviceCreate(input: $input) { id name }
}
"""

SERVICE_DELETE = """
mutation ServiceDelete($id: String!, $environmentId: String) {
  serviceDelete(id: $id, environmentId: $environmentId)
}
"""

CUSTOM_DOMAIN_CREATE = """
mutation CustomDomainCreate($input: CustomDomainCreateInput!) {
  customDomainCreate(input: $input) { id domain }
}
"""

CUSTOM_DOMAIN_DELETE = """
mutation CustomDomainDelete($id: String!) {
  customDomainDelete(id: $id)
}
"""

SERVICE_DOMAIN_CREATE = """
mutation ServiceDomainCreate($input: ServiceDomainCreateInput!) {
  serviceDomainCreate(input: $input) { id domain }
}
"""

SERVICE_DOMAIN_DELETE = """
mutation ServiceDomainDelete($id: String!) {
  serviceDomainDelete(id: $id)
}
"""

VOLUME_CREATE = """
mutation VolumeCreate($input: VolumeCreateInput!) {
  volumeCreate(input: $input) { id }
}
"""

# Always with environmentId (null would change every environment's instance of the volume)
# and, to keep it attached, serviceId (left out, Railway disconnects the volume).
VOLUME_INSTANCE_UPDATE = """
mutation VolumeInstanceUpdate(
  $volumeId: String!, $environmentId: String, $input: VolumeInstanceUpdateInput!
) {
  volumeInstanceUpdate(volumeId: $volumeId, environmentId: $environmentId, input: $input)
}
"""

# Source, settings and variables of one service in one environment, as one patch: staged
# (schema.graphql:1616), then committed without deploying (environmentPatchCommitStaged,
# skipDeploys: "Skip deploys for services affected by this patch", schema.graphql:1604-1609), so
# that apply deploys once, with everything in place. environmentPatchCommit (schema.graphql:1601)
# has no skipDeploys and deploys what it changes ("Any services that are affected will be
# redeployed", railwayapp/docs content/docs/deployments/staged-changes.md); serviceInstanceUpdate
# with an environment id changes every environment that is not a fork (schema.graphql:1886).
# Railway's CLI sends the same two documents (railwayapp/cli src/gql/mutations/strings/
# EnvironmentStageChanges.graphql, EnvironmentPatchCommitStaged.graphql).
ENVIRONMENT_STAGE_CHANGES = """
mutation EnvironmentStageChanges($environmentId: String!, $input: EnvironmentConfig!) {
  environmentStageChanges(environmentId: $environmentId, input: $input, merge: true) { id }
}
"""

ENVIRONMENT_PATCH_COMMIT_STAGED = """
mutation EnvironmentPatchCommitStaged($environmentId: String!, $commitMessage: String) {
  environmentPatchCommitStaged(
    environmentId: $environmentId, commitMessage: $commitMessage, skipDeploys: true
  )
}
"""

# environmentPatchCommitStaged returns a workflow id; Railway's CLI waits for it with this query
# (railwayapp/cli src/gql/queries/strings/WorkflowStatus.graphql, src/controllers/
# staged_changes.rs wait_for_commit_workflow) and, while it is not found, reads the staged patch.
WORKFLOW_STATUS = """
query WorkflowStatus($workflowId: String!) {
  workflowStatus(workflowId: $workflowId) { status error }
}
"""

ENVIRONMENT_STAGED_CHANGES = """
query EnvironmentStagedChanges($environmentId: String!) {
  environmentStagedChanges(environmentId: $environmentId) { id status lastAppliedError }
}
"""

# A build of the service's source with its current settings and variables: at `commitSha` (the
# commit that runs now, so that a settings change never puts branch HEAD over a rollback), or,
# without it, the source's latest (a new branch, an image).
DEPLOY = """
mutation ServiceInstanceDeploy($serviceId: String!, $environmentId: String!, $commitSha: String) {
  serviceInstanceDeployV2(
    serviceId: $serviceId, environmentId: $environmentId, commitSha: $commitSha
  )
}
"""

# `meta` (untyped, schema.graphql:667): the commit a deployment builds, to tell whether one
# Railway started by itself builds the code apply would.
DEPLOYMENT_STATUS = """
query DeploymentStatus($id: String!) {
  deployment(id: $id) { id status meta }
}
"""

DEPLOYMENT_LOGS = """
query DeploymentLogs($id: String!, $limit: Int!) {
  buildLogs(deploymentId: $id, limit: $limit) { message }
  deploymentLogs(deploymentId: $id, limit: $limit) { message }
}
"""

DEPLOYMENT_REMOVE = """
mutation DeploymentRemove($id: String!) {
  deploymentRemove(id: $id)
}
"""

# "The exact same code and build/deploy configuration" as the deployment it copies (docs.railway
# .com/guides/deployment-actions), with the service's variables of today ("Applying environment
# variable changes", docs.railway.com/cli/redeploy): for a service whose code only its deploy
# workflow ships, the one way to start its running code again with new variables.
REDEPLOY = """
mutation DeploymentRedeploy($id: String!) {
  deploymentRedeploy(id: $id) { id }
}
"""

# "deploymentCancel(id: String!): Boolean!" (schema.graphql:1548): stops a deployment in flight.
DEPLOYMENT_CANCEL = """
mutation DeploymentCancel($id: String!) {
  deploymentCancel(id: $id)
}
"""

DEPLOYMENT_ROLLBACK = """
mutation DeploymentRollback($id: String!) {
  deploymentRollback(id: $id)
}
"""

# The login Railway pulls a private image with ("Private Registries", railwayapp/docs
# content/docs/builds/private-registries.md; RegistryCredentialsInput, schema.graphql:3830, "Only
# available for Pro plan deployments"). No environment patch carries it (neither Railway's CLI,
# src/controllers/config/environment.rs, nor railwayapp/railway-skills
# skills/reference/environment-config.md names one), so it is this mutation, which "will
# updated in all environments that are not forks" (schema.graphql:1886-1890): every non-fork
# environment of the project gets the same login. Railway never returns it.
REGISTRY_CREDENTIALS = """
mutation ServiceInstanceRegistryCredentials(
  $serviceId: String!, $environmentId: String!, $input: ServiceInstanceUpdateInput!
) {
  serviceInstanceUpdate(serviceId: $serviceId, environmentId: $environmentId, input: $input)
}
"""

# Requests whose variables or answer hold variable values: an error answering one of them is
# never shown as Railway wrote it, since it may quote a value.
CARRY_VALUES = frozenset(
    {SERVICE_STATE, RUNNING_DEPLOYMENT, ENVIRONMENT_STAGE_CHANGES, REGISTRY_CREDENTIALS}
)

ALL: dict[str, str] = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper() and not name.startswith("_") and isinstance(value, str)
}

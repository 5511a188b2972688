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

VARIABLES = """
query Variables($projectId: String!, $environmentId: String!, $serviceId: String!) {
  variables(
    projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId, unrendered: true
  )
}
"""

# The variables and settings a deployment started with: a run killed between its variable
# upsert or settings commit and its deploy leaves them different from the service's, and the
# rerun deploys. `meta.serviceManifest` is the config the deployment was built from.
RUNNING_DEPLOYMENT = """
query RunningDeployment($deploymentId: String!) {
  deploymentSnapshot(deploymentId: $deploymentId) { variables }
  deployment(id: $deploymentId) { id meta }
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

VARIABLES_UPSERT = """
mutation VariableCollectionUpsert($input: VariableCollectionUpsertInput!) {
  variableCollectionUpsert(input: $input)
}
"""

VARIABLE_DELETE = """
mutation VariableDelete($input: VariableDeleteInput!) {
  variableDelete(input: $input)
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

# Instance settings and source of one environment. serviceInstanceUpdate with an environment id
# changes every environment that is not a fork (its schema description); a committed patch
# changes only `environmentId`.
ENVIRONMENT_PATCH_COMMIT = """
mutation EnvironmentPatchCommit(
  $environmentId: String!, $patch: EnvironmentConfig!, $commitMessage: String
) {
  environmentPatchCommit(
    environmentId: $environmentId, patch: $patch, commitMessage: $commitMessage
  )
}
"""

ENVIRONMENT_PATCH = """
query EnvironmentPatch($id: String!) {
  environmentPatch(id: $id) { id status lastAppliedError }
}
"""

DEPLOY = """
mutation ServiceInstanceDeploy($serviceId: String!, $environmentId: String!) {
  serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId)
}
"""

DEPLOYMENT_STATUS = """
query DeploymentStatus($id: String!) {
  deployment(id: $id) { id status }
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

# The same code again, with the service's current variables and settings: what apply does to a
# running service, so a rollback (or what the deploy workflow shipped) is never replaced by HEAD.
REDEPLOY = """
mutation DeploymentRedeploy($id: String!) {
  deploymentRedeploy(id: $id) { id }
}
"""

DEPLOYMENT_ROLLBACK = """
mutation DeploymentRollback($id: String!) {
  deploymentRollback(id: $id)
}
"""

# Requests whose variables or answer hold variable values: an error answering one of them is
# never shown as Railway wrote it, since it may quote a value.
CARRY_VALUES = frozenset({VARIABLES, RUNNING_DEPLOYMENT, VARIABLES_UPSERT})

ALL: dict[str, str] = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper() and not name.startswith("_") and isinstance(value, str)
}

"""Every GraphQL document the converge tool can send; tests validate each against the schema."""

from __future__ import annotations

_INSTANCE_FIELDS = """
  id serviceId healthcheckPath healthcheckTimeout startCommand numReplicas region
  restartPolicyType rootDirectory
  source { repo image }
  latestDeployment { id status createdAt }
  domains { customDomains { id domain } serviceDomains { id domain } }
"""

# One query gives everything apply and delete compare against, except variable values.
# Volume instances are read per environment: Volume.volumeInstances is deprecated.
OBSERVE = f"""
query Observe($projectId: String!) {{
  project(id: $projectId) {{
    id
    services(first: 500) {{ pageInfo {{ hasNextPage }} edges {{ node {{ id name }} }} }}
    environments(first: 100) {{
      pageInfo {{ hasNextPage }}
      edges {{ node {{
        id name
        serviceInstances(first: 500) {{ edges {{ node {{ {_INSTANCE_FIELDS} }} }} }}
        deploymentTriggers(first: 500) {{
          edges {{ node {{ id serviceId branch repository }} }}
        }}
        volumeInstances(first: 500) {{
          pageInfo {{ hasNextPage }}
          edges {{ node {{ id volumeId serviceId environmentId mountPath state createdAt }} }}
        }}
      }} }}
    }}
  }}
}}
"""

VARIABLES = """
query Variables($projectId: String!, $environmentId: String!, $serviceId: String!) {
  variables(
    projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId, unrendered: true
  )
}
"""

# The variables a deployment started with: a run killed between its variable upsert and its
# deploy leaves them different from the service's, and the rerun deploys.
RUNNING_VARIABLES = """
query RunningVariables($deploymentId: String!) {
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

SERVICE_INSTANCE_UPDATE = """
mutation ServiceInstanceUpdate(
  $serviceId: String!, $environmentId: String, $input: ServiceInstanceUpdateInput!
) {
  serviceInstanceUpdate(serviceId: $serviceId, environmentId: $environmentId, input: $input)
}
"""

TRIGGER_CREATE = """
mutation DeploymentTriggerCreate($input: DeploymentTriggerCreateInput!) {
  deploymentTriggerCreate(input: $input) { id }
}
"""

TRIGGER_UPDATE = """
mutation DeploymentTriggerUpdate($id: String!, $input: DeploymentTriggerUpdateInput!) {
  deploymentTriggerUpdate(id: $id, input: $input) { id }
}
"""

TRIGGER_DELETE = """
mutation DeploymentTriggerDelete($id: String!) {
  deploymentTriggerDelete(id: $id)
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

DEPLOY = """
mutation ServiceInstanceDeploy($serviceId: String!, $environmentId: String!) {
  serviceInstanceDeployV2(serviceId: $serviceId, environmentId: $environmentId)
}
"""

DEPLOYMENT_REMOVE = """
mutation DeploymentRemove($id: String!) {
  deploymentRemove(id: $id)
}
"""

DEPLOYMENT_ROLLBACK = """
mutation DeploymentRollback($id: String!) {
  deploymentRollback(id: $id)
}
"""

ALL: dict[str, str] = {
    name: value
    for name, value in dict(globals()).items()
    if name.isupper() and not name.startswith("_") and isinstance(value, str)
}

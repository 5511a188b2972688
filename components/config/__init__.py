"""The stack configuration: the one place where `Pulumi.<stack>.yaml` is validated.

Every key lives under the project namespace (`<Pulumi.yaml's name>:<key>`) and uses camelCase.
`load()` reads the raw values, validates them all at once and raises `ConfigError` with one
message listing every problem, its key path, what is allowed and the command that fixes it.
`schema` holds the models and the rules between keys, `errors` how problems are told,
`loading` where values come from.
"""

from components.config.errors import ConfigError, format_problems
from components.config.loading import (
    ACTING_SECRETS,
    ROOT,
    SECRET_KEYS,
    check_namespaces,
    load,
    project_name,
    raw_project_config,
    required_secrets,
    stored_in_plain,
    validate,
    validate_values,
)
from components.config.schema import (
    Environment,
    GitHubConfig,
    Product,
    RailwayConfig,
    RollbackConfig,
    Secrets,
    Service,
    StackConfig,
    TeamReviewer,
    UserReviewer,
    VercelConfig,
    VercelService,
    flag_variable,
)

__all__ = [
    "ACTING_SECRETS",
    "ROOT",
    "SECRET_KEYS",
    "ConfigError",
    "Environment",
    "GitHubConfig",
    "Product",
    "RailwayConfig",
    "RollbackConfig",
    "Secrets",
    "Service",
    "StackConfig",
    "TeamReviewer",
    "UserReviewer",
    "VercelConfig",
    "VercelService",
    "check_namespaces",
    "flag_variable",
    "format_problems",
    "load",
    "project_name",
    "raw_project_config",
    "required_secrets",
    "stored_in_plain",
    "validate",
    "validate_values",
]

"""Wires the components of one stack together and defines its outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from components.config import StackConfig
from components.github import GitHubEnvironment
from components.outputs import StackOutputs


def secret(value: Any) -> pulumi.Output[str]:
    """A config secret (pydantic `SecretStr`) as a Pulumi secret, without ever formatting it."""
    return pulumi.Output.secret(value.get_secret_value())


def _pick(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda outputs: outputs[key]


class Pipeline(pulumi.ComponentResource):
    outputs: pulumi.Output[dict[str, Any]]

    def __init__(
        self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("autonomica:index:Pipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.github = GitHubEnvironment(
            "github",
            config.github,
            secrets={
                "RAILWAY_TOKEN": secret(config.secrets.railway_token),
                "VERCEL_TOKEN": secret(config.secrets.vercel_token),
            },
            variables={
                "ENVIRONMENT": config.environment,
                "FRONTEND_URL": config.urls.frontend,
                "API_URL": config.urls.api,
                "WORKER_URL": config.urls.worker,
            },
            protect=config.is_production,
            opts=child,
        )

        gh = config.github
        self.outputs = pulumi.Output.all(
            environment=self.github.environment, reviewers=self.github.reviewer_ids
        ).apply(
            lambda resolved: StackOutputs(
                environment=config.environment,
                urls=config.urls.model_dump(),
                github={
                    "repository": gh.repository,
                    "environment": resolved["environment"],
                    "branch": gh.branch,
                    "deployment_branch_policy": gh.deployment_branch_policy,
                    "wait_timer": gh.wait_timer,
                    "reviewers": resolved["reviewers"],
                    "required_checks": gh.required_checks,
                },
            ).model_dump(mode="json", by_alias=True)
        )
        self.register_outputs({"outputs": self.outputs})

    def export(self) -> None:
        """Export each top-level field of `StackOutputs` as one stack output."""
        for field in StackOutputs.model_fields.values():
            key = field.alias
            assert key is not None
            pulumi.export(key, self.outputs.apply(_pick(key)))

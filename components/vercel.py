"""A Next.js service on Vercel: project, environment variables per target, domain."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumiverse_vercel as vercel

from components.config import VercelConfig

# Vercel's targets: `production` is the project's production branch; `preview` every other branch.
ALL_BRANCHES = ("production", "preview")


IGNORE_PRODUCTION_PUSHES = '[ "$VERCEL_ENV" = production ]'


@dataclass(frozen=True)
class Placement:
    """Where a stack's variables and domain land in Vercel."""

    targets: tuple[str, ...]
    git_branch: str | None = None


def placement(config: VercelConfig, is_production: bool, branch: str, sensitive: bool) -> Placement:
    """Targets per layout. Sensitive values never target `development`, so `vercel env pull`
    never writes a secret to a laptop."""
    if config.layout == "shared" and not is_production:
        # Staging lives in production's project as the preview deployments of its branch.
        return Placement(("preview",), git_branch=branch)
    if is_production:
        return Placement(("production",))
    return Placement(ALL_BRANCHES if sensitive else (*ALL_BRANCHES, "development"))


@dataclass(frozen=True)
class VercelServiceArgs:
    """One Vercel service of a stack. `variables` are public; `secrets` must be
    `Output.secret`s."""

    config: VercelConfig
    project: str  # the Vercel project's name
    root_directory: str
    repository: str
    branch: str
    domain: str
    is_production: bool
    variables: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


TYPE = "pipeline:vercel:Service"


class VercelService(pulumi.ComponentResource):
    project_id: pulumi.Output[str]
    team_id: pulumi.Output[str]
    domain: str

    def __init__(
        self, name: str, args: VercelServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        config, is_production, branch = args.config, args.is_production, args.branch
        provider = vercel.Provider(
            f"{name}-provider", team=config.team, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider, protect=is_production)

        if config.layout == "shared" and not is_production:
            production = pulumi.StackReference(
                f"{name}-production",
                stack_name=f"{pulumi.get_organization()}/{pulumi.get_project()}/production",
                opts=pulumi.ResourceOptions(parent=self),
            )
            # Production's outputs (contract 2.0.0): the same service there.
            there = production.require_output("services").apply(lambda s: s[name])
            self.project_id = there.apply(lambda f: str(f["projectId"]))
            self.team_id = there.apply(lambda f: str(f["teamId"]))
        else:
            project = vercel.Project(
                f"{name}-project",
                name=args.project,
                framework="nextjs",
                root_directory=args.root_directory,
                node_version=config.node_version,
                install_command="npm ci",
                build_command="npm run build",
                git_repository=vercel.ProjectGitRepositoryArgs(
                    type="github", repo=args.repository, production_branch=branch
                ),
                # Vercel's Ignored Build Step: exit 0 skips a git-triggered build. Production
                # is deployed only by the deploy workflow (`vercel deploy --prebuilt --prod`),
                # behind the environment's reviewers, wait timer and freeze; previews still build.
                ignore_command=IGNORE_PRODUCTION_PUSHES,
                vercel_authentication=vercel.ProjectVercelAuthenticationArgs(
                    deployment_type="standard_protection_new"
                ),
                # In the per-stack layout, previews belong to the staging project only.
                preview_deployments_disabled=is_production,
                opts=child,
            )
            self.project_id = project.id
            self.team_id = project.team_id

        on_project = child.merge(pulumi.ResourceOptions(delete_before_replace=True))
        for key, value, sensitive in sorted(
            [(k, v, False) for k, v in args.variables.items()]
            + [(k, v, True) for k, v in args.secrets.items()]
        ):
            where = placement(config, is_production, branch, sensitive)
            vercel.ProjectEnvironmentVariable(
                f"{name}-env-{key.lower()}",
                project_id=self.project_id,
                key=key,
                value=value,
                sensitive=sensitive,
                targets=list(where.targets),
                git_branch=where.git_branch,
                # Vercel refuses a second variable with the same key and target
                # (ENV_ALREADY_EXISTS), so a replacement deletes the old one first.
                opts=on_project,
            )

        self.domain = args.domain
        vercel.ProjectDomain(
            f"{name}-domain",
            project_id=self.project_id,
            domain=args.domain,
            git_branch=placement(config, is_production, branch, False).git_branch,
            opts=on_project,
        )
        self.register_outputs({"project_id": self.project_id, "domain": args.domain})

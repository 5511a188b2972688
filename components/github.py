"""The stack's GitHub deployment environment, its secrets and variables, its branch ruleset, and
the application repository's workflows committed on the branch (when the stack manages them)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_github as github

from components.config import GitHubConfig, TeamReviewer, UserReviewer

# GitHub's built-in repository role id for "Admin", used as a ruleset bypass actor.
ADMIN_ROLE_ID = 5
# The GitHub Actions app: a required check bound to it is satisfied only by a check run GitHub
# Actions reports, not by a status or another app's check of the same name. pulumi-github's
# `integration_id` is "the optional integration ID that this status check must originate from"
# (GitHub's REST description of a ruleset's required check); `gh api /apps/github-actions`
# answers id 15368, the same for everyone (integrations/terraform-provider-github#2474, the
# provider pulumi-github bridges).
GITHUB_ACTIONS_APP_ID = 15368
TYPE = "pipeline:github:Environment"


def _bypass_actors(config: GitHubConfig) -> list[github.RepositoryRulesetBypassActorArgs]:
    """Who may pass the checks and review rulesets, and how. Never anyone past the branch
    ruleset (no deleting, no force-pushing)."""
    actors = []
    if not config.enforce_admins:
        # Admins may merge a pull request past the rules, never push around them.
        actors.append(
            github.RepositoryRulesetBypassActorArgs(
                actor_type="RepositoryRole", actor_id=ADMIN_ROLE_ID, bypass_mode="pull_request"
            )
        )
    if config.workflows == "managed":
        # This stack's own App pushes the workflows straight to its branch: no pull request and
        # no check can come first for the commit that brings the checks themselves.
        actors.append(
            github.RepositoryRulesetBypassActorArgs(
                actor_type="Integration", actor_id=config.committer_app_id, bypass_mode="always"
            )
        )
    return actors


@dataclass(frozen=True)
class GitHubEnvironmentArgs:
    """`secrets` and `variables` map names to values that may be Outputs of other components;
    every secret value must already be an `Output.secret`. `files` (path -> content) are
    committed on the branch by this stack's GitHub App `config.committer_app_id`, which the
    branch's checks and review rulesets let push them."""

    config: GitHubConfig
    secrets: Mapping[str, pulumi.Input[str]]
    variables: Mapping[str, pulumi.Input[str]]
    files: Mapping[str, str]
    protect: bool


class GitHubEnvironment(pulumi.ComponentResource):
    """One GitHub deployment environment with its protection rules, secrets and variables."""

    environment: pulumi.Output[str]
    reviewer_ids: pulumi.Output[dict[str, list[int]]]

    def __init__(
        self, name: str, args: GitHubEnvironmentArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        config, secrets, variables, files = args.config, args.secrets, args.variables, args.files
        provider = github.Provider(
            f"{name}-provider", owner=config.owner, opts=pulumi.ResourceOptions(parent=self)
        )
        child = pulumi.ResourceOptions(parent=self, provider=provider, protect=args.protect)

        users = [
            github.get_user_output(username=r.user, opts=pulumi.InvokeOptions(provider=provider))
            for r in config.reviewers
            if isinstance(r, UserReviewer)
        ]
        teams = [
            github.get_team_output(
                slug=r.team, summary_only=True, opts=pulumi.InvokeOptions(provider=provider)
            )
            for r in config.reviewers
            if isinstance(r, TeamReviewer)
        ]
        user_ids = pulumi.Output.all(*[u.id for u in users]).apply(
            lambda ids: [int(i) for i in ids]
        )
        team_ids = pulumi.Output.all(*[t.id for t in teams]).apply(
            lambda ids: [int(i) for i in ids]
        )

        # GitHub lets only people and teams with access to the repository review a deployment
        # ("The reviewers must have at least read access", its REST description of environment
        # reviewers): the stack grants each reviewing team read access itself.
        for slug, team in zip(
            [r.team for r in config.reviewers if isinstance(r, TeamReviewer)], teams, strict=True
        ):
            github.TeamRepository(
                f"{name}-team-{slug}",
                team_id=team.id,
                repository=config.name,
                permission="pull",
                opts=child,
            )

        custom = config.deployment_branch_policy == "custom"
        env = github.RepositoryEnvironment(
            f"{name}-environment",
            repository=config.name,
            environment=config.environment,
            wait_timer=config.wait_timer,
            prevent_self_review=config.prevent_self_review,
            can_admins_bypass=config.can_admins_bypass,
            reviewers=(
                [github.RepositoryEnvironmentReviewerArgs(users=user_ids, teams=team_ids)]
                if config.reviewers
                else None
            ),
            deployment_branch_policy=github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                custom_branch_policies=custom, protected_branches=not custom
            ),
            opts=child,
        )
        on_env = child.merge(pulumi.ResourceOptions(depends_on=[env]))
        if custom:
            github.RepositoryEnvironmentDeploymentPolicy(
                f"{name}-branch-policy",
                repository=config.name,
                environment=env.environment,
                branch_pattern=config.branch,
                opts=on_env,
            )
        for secret_name, value in sorted(secrets.items()):
            github.ActionsEnvironmentSecret(
                f"{name}-secret-{secret_name.lower()}",
                repository=config.name,
                environment=env.environment,
                secret_name=secret_name,
                value=value,
                opts=on_env,
            )
        for variable_name, value in sorted(variables.items()):
            github.ActionsEnvironmentVariable(
                f"{name}-variable-{variable_name.lower()}",
                repository=config.name,
                environment=env.environment,
                variable_name=variable_name,
                value=value,
                opts=on_env,
            )
        # Three rulesets on the branch, so that a bypass reaches only the rules it is for: no
        # deleting or force-pushing, for everyone; the CI checks (from GitHub Actions only); the
        # review rule, which named maintainers may pass when they merge their own pull request.
        bypass = _bypass_actors(config)

        def ruleset(
            kind: str, rules: github.RepositoryRulesetRulesArgs, bypass_actors: list[Any]
        ) -> None:
            github.RepositoryRuleset(
                f"{name}-{kind}-ruleset",
                repository=config.name,
                name=f"{kind}-{config.environment}",
                target="branch",
                enforcement="active",
                conditions=github.RepositoryRulesetConditionsArgs(
                    ref_name=github.RepositoryRulesetConditionsRefNameArgs(
                        includes=[f"refs/heads/{config.branch}"], excludes=[]
                    )
                ),
                # No bypass actor means the rules bind admins too ("enforce admins").
                bypass_actors=bypass_actors or None,
                rules=rules,
                opts=child,
            )

        ruleset(
            "branch", github.RepositoryRulesetRulesArgs(deletion=True, non_fast_forward=True), []
        )
        ruleset(
            "checks",
            github.RepositoryRulesetRulesArgs(
                required_status_checks=github.RepositoryRulesetRulesRequiredStatusChecksArgs(
                    required_checks=[
                        github.RepositoryRulesetRulesRequiredStatusChecksRequiredCheckArgs(
                            context=check, integration_id=GITHUB_ACTIONS_APP_ID
                        )
                        for check in config.required_checks
                    ],
                    strict_required_status_checks_policy=True,
                ),
            ),
            bypass,
        )
        maintainers = [
            github.get_user_output(username=login, opts=pulumi.InvokeOptions(provider=provider))
            for login in config.merge_bypass
        ]
        ruleset(
            "review",
            github.RepositoryRulesetRulesArgs(
                pull_request=github.RepositoryRulesetRulesPullRequestArgs(
                    required_approving_review_count=config.required_approving_reviews,
                    dismiss_stale_reviews_on_push=True,
                    required_review_thread_resolution=True,
                    # The committed CODEOWNERS (github.codeOwners) puts .github/ under review.
                    require_code_owner_review=bool(config.code_owners),
                ),
            ),
            [
                *bypass,
                *(
                    github.RepositoryRulesetBypassActorArgs(
                        actor_type="User", actor_id=user.id.apply(int), bypass_mode="pull_request"
                    )
                    for user in maintainers
                ),
            ],
        )

        project = pulumi.get_project()  # this pipeline, in the app repository's history
        for path, content in sorted(files.items()):
            github.RepositoryFile(
                f"{name}-file-{re.sub(r'[^a-z0-9]+', '-', path.lower()).strip('-')}",
                repository=config.name,
                branch=config.branch,
                file=path,
                content=content,
                commit_message=f"{project}: {path} from the {config.environment} stack",
                overwrite_on_create=True,  # a file committed by hand before is taken over
                opts=child,
            )

        self.environment = env.environment
        self.reviewer_ids = pulumi.Output.all(users=user_ids, teams=team_ids)
        self.register_outputs({"environment": self.environment})

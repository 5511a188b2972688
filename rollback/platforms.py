"""The live platforms behind `executor.Actions` and `budget.BudgetActions`: each service on the
platform that rollback-services.yml names for it (Vercel or Railway), the freeze and its reason ->
GitHub environment variables, the objectives' tickets -> GitHub issues. A client per call, so each
request's timeout is what is left of the strategy's; one transport (connections, TLS context) for
all."""

from __future__ import annotations

import threading
import time

from components import tls
from rollback.budget import budget_freeze_holds, rollback_reason
from rollback.github import GitHubFreeze, GitHubIssues
from rollback.http import PermanentError, SharedTransport
from rollback.ledger import History
from rollback.policy import Policy
from rollback.railway import RailwayRollback
from rollback.settings import Settings
from rollback.vercel import VercelClient


class LiveActions:
    def __init__(self, settings: Settings, policy: Policy) -> None:
        s = settings
        platforms = {target.platform for target in policy.services.values()}
        if "railway" in platforms and not s.railway_project_id:
            raise PermanentError("live actions on Railway services need RAILWAY_PROJECT_ID")
        if "vercel" in platforms and not (s.vercel_token and s.vercel_project_id):
            raise PermanentError("live actions on a Vercel service need its Vercel settings")
        if not (s.github_token and s.github_repository):
            raise PermanentError("live actions need GITHUB_TOKEN and GITHUB_REPOSITORY")
        self._settings = s
        self._policy = policy
        tokens = {
            name: secret.get_secret_value()
            for name, secret in (
                ("RAILWAY_TOKEN", s.railway_token),
                ("RAILWAY_API_TOKEN", s.railway_api_token),
            )
            if secret is not None
        }
        self._transport = SharedTransport(verify=tls.context())
        self._railway = RailwayRollback(
            s.railway_api_url,
            tokens,
            s.railway_project_id or "",
            policy.environment,
            transport=self._transport,
        )
        self._github_environment = s.github_environment or policy.environment
        # The rollback's freeze and a budget's must not interleave their two variables.
        self._freezing = threading.Lock()

    def _vercel(self, timeout: float) -> VercelClient:
        s = self._settings
        assert s.vercel_token is not None and s.vercel_project_id is not None
        return VercelClient(
            s.vercel_api_url,
            s.vercel_token.get_secret_value(),
            s.vercel_project_id,
            s.vercel_team_id,
            timeout,
            transport=self._transport,
        )

    def current(self, service: str, timeout: float) -> str | None:
        if self._policy.platform(service) == "vercel":
            with self._vercel(timeout) as vercel:
                return vercel.current_production()
        return self._railway.current(service, timeout)

    def rollback(self, service: str, before: str | None, known: History, timeout: float) -> str:
        if self._policy.platform(service) == "vercel":
            with self._vercel(timeout) as vercel:
                return vercel.rollback(before, known.avoid)
        return self._railway.rollback(service, before, known, timeout)

    def freeze(self, timeout: float) -> str:
        """An incident's freeze: whatever was on before, its reason is now this one, which lets
        nothing through (the freeze first: a failure between leaves a stale reason, older than
        the freeze, which the gate does not trust either)."""
        s = self._settings
        with self._freezing, self._variables(timeout) as github:
            done = github.set(s.freeze_variable, "true")
            github.set(s.freeze_reason_variable, rollback_reason(time.time()))
        return done

    def budget_freeze(self, reason: str, timeout: float) -> str:
        """A spent budget's freeze, unless a freeze for another reason is on already."""
        s = self._settings
        with self._freezing, self._variables(timeout) as github:
            freeze = github.get(s.freeze_variable)
            # Anything but false or unset stops deploys at the gate: on, unless the budget's own.
            on = freeze is not None and freeze.value.strip().lower() not in ("", "false")
            if on and not budget_freeze_holds(freeze, github.get(s.freeze_reason_variable)):
                return f"{s.freeze_variable} is true for another reason already: left as it is"
            done = github.set(s.freeze_variable, "true")
            github.set(s.freeze_reason_variable, reason)
        return done

    def set_variable(self, name: str, value: str, timeout: float) -> str:
        with self._variables(timeout) as github:
            return github.set(name, value)

    def _variables(self, timeout: float) -> GitHubFreeze:
        s = self._settings
        assert s.github_token is not None and s.github_repository is not None
        return GitHubFreeze(
            s.github_api_url,
            s.github_token.get_secret_value(),
            s.github_repository,
            self._github_environment,
            timeout,
            transport=self._transport,
        )

    def _issues(self, timeout: float) -> GitHubIssues:
        s = self._settings
        assert s.github_token is not None and s.github_repository is not None
        return GitHubIssues(
            s.github_api_url,
            s.github_token.get_secret_value(),
            s.github_repository,
            timeout,
            transport=self._transport,
        )

    def open_ticket(self, marker: str, title: str, body: str, timeout: float) -> str:
        with self._issues(timeout) as issues:
            return issues.open_or_update(marker, title, body)

    def close_ticket(self, marker: str, body: str, timeout: float) -> str:
        with self._issues(timeout) as issues:
            return issues.close_issue(marker, body)

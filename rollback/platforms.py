"""The live platforms behind `executor.Actions`: each service on the platform that
rollback-services.yml names for it (Vercel or Railway), the freeze -> a GitHub environment
variable. A client per call, so each request's timeout is what is left of the strategy's; one
transport (connections, TLS context) for all."""

from __future__ import annotations

from rollback.github import GitHubFreeze
from rollback.http import PermanentError, SharedTransport
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
        self._transport = SharedTransport()
        self._railway = RailwayRollback(
            s.railway_api_url,
            tokens,
            s.railway_project_id or "",
            policy.environment,
            transport=self._transport,
        )
        self._github_environment = s.github_environment or policy.environment

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

    def rollback(
        self, service: str, before: str | None, avoid: frozenset[str], timeout: float
    ) -> str:
        if self._policy.platform(service) == "vercel":
            with self._vercel(timeout) as vercel:
                return vercel.rollback(before, avoid)
        return self._railway.rollback(service, before, avoid, timeout)

    def freeze(self, timeout: float) -> str:
        return self.set_variable(self._settings.freeze_variable, "true", timeout)

    def set_variable(self, name: str, value: str, timeout: float) -> str:
        s = self._settings
        assert s.github_token is not None and s.github_repository is not None
        with GitHubFreeze(
            s.github_api_url,
            s.github_token.get_secret_value(),
            s.github_repository,
            self._github_environment,
            timeout,
            transport=self._transport,
        ) as github:
            return github.set(name, value)

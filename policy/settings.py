"""The policy's settings: one committed file per stack, `<project>/policy/settings/<stack>.yaml`.

`load(project_dir, stack)` validates the file (unknown keys and rule names refused with the
closest match, every problem at once) and resolves it against the stack file: the environment
kind, the pipeline and application repositories, the deploy App and the trusted hosts come from
the stack's own values unless the file pins them. `Settings.pack_config()` is the resolved form
every tool runs the rules with: `tools.synth --policy`, `tools.policycheck`, the plan diff and
CrossGuard (`--policy-pack-config`, JSON). No pulumi import, no product value here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from components.stackfile import not_there
from monitoring import yamlfile
from policy import rules
from policy.checks.hosts import HostSettings
from policy.resources import Kind
from policy.rule import Rule, StackRule
from policy.rule import Settings as RuleSettings

SETTINGS_DIR = Path("policy") / "settings"
Level = Literal["mandatory", "advisory", "disabled"]
LEVELS: tuple[Level, ...] = ("mandatory", "advisory", "disabled")
REPOSITORY = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
# Where a credential may go whatever the stack says: Railway's private network (it reaches only
# the services of the stack's own environment) and the platforms' published API hosts.
PLATFORM_HOSTS = HostSettings().trusted_hosts
# Rule settings the stack file supplies; the settings file sets them at its top level, if at all.
DERIVED = frozenset(
    {
        "environmentKind",
        "pipelineRepository",
        "applicationRepository",
        "deployAppId",
        "trustedHosts",
        "ownHosts",
    }
)


class SettingsError(ValueError):
    """A settings file that cannot be used: the message lists every problem by key path."""


class SettingsFile(BaseModel):
    """What `policy/settings/<stack>.yaml` may hold (camelCase keys, like the stack file)."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel)

    pipeline_repository: str | None = Field(
        None,
        pattern=REPOSITORY,
        description="owner/name production's rollback service must be shipped from; default: "
        "the stack's rollback.repository",
    )
    application_repository: str | None = Field(
        None,
        pattern=REPOSITORY,
        description="owner/name production's GitHub resources must act on; default: the "
        "stack's github.repository",
    )
    trusted_hosts: tuple[str, ...] = Field(
        (),
        description="hosts (and the hosts below them) that may receive a credential, beside "
        "the stack's own and the platforms'",
    )
    rules: dict[str, dict[str, Any] | None] = Field(
        default_factory=dict, description="rule name -> level and the rule's settings"
    )


@dataclass(frozen=True)
class Settings:
    """One stack's resolved policy settings: every rule's level and settings."""

    stack: str
    kind: Kind
    path: Path
    levels: Mapping[str, Level]
    rules: Mapping[str, RuleSettings]

    def pack_config(self) -> dict[str, dict[str, Any]]:
        """`--policy-pack-config`'s JSON: rule name -> enforcementLevel and settings."""
        return {
            name: {
                "enforcementLevel": self.levels[name],
                **settings.model_dump(by_alias=True, mode="json"),
            }
            for name, settings in self.rules.items()
        }


def path_of(project_dir: Path, stack: str) -> Path:
    return project_dir / SETTINGS_DIR / f"{stack}.yaml"


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else f" (known: {', '.join(sorted(known))})"


def _problems(error: ValidationError, where: str, known: list[str]) -> Iterator[str]:
    for detail in error.errors():
        path = ".".join(str(p) for p in (where, *detail["loc"]) if p != "")
        if detail["type"] == "extra_forbidden":
            yield f"{path}: unknown key{_suggest(str(detail['loc'][-1]), known)}"
        else:
            yield f"{path}: {detail['msg']}"


def _aliases(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


RULES_BY_NAME: dict[str, Rule | StackRule] = {
    **{r.name: r for r in rules.RULES},
    **{r.name: r for r in rules.STACK_RULES},
}


def stack_values(config: Mapping[str, Any], project: str) -> dict[str, Any]:
    """A stack file's `config` mapping without the project's namespace (`project:key` -> key);
    SettingsError when it has no environment kind."""
    found = {k.partition(":")[2]: v for k, v in config.items() if k.startswith(f"{project}:")}
    environment = found.get("environment")
    if not isinstance(environment, dict) or environment.get("kind") not in get_args(Kind):
        raise SettingsError(
            f"environment.kind of the stack is not one of {', '.join(get_args(Kind))}: "
            "the policy keys on it"
        )
    return found


def _stack_config(project_dir: Path, stack: str) -> dict[str, Any]:
    try:
        project = yamlfile.load((project_dir / "Pulumi.yaml").read_text())["name"]
        document = yamlfile.load((project_dir / f"Pulumi.{stack}.yaml").read_text())
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise SettingsError(
            f"the stack '{stack}' in {project_dir} cannot be read: {error}"
        ) from None
    return stack_values((document or {}).get("config") or {}, str(project))


def _host(address: Any) -> str | None:
    if not isinstance(address, str) or not address:
        return None
    try:
        host = urlsplit(address if "://" in address else f"//{address}").hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


def own_hosts(stack: Mapping[str, Any]) -> tuple[str, ...]:
    """The hosts the stack names as its own: its services' urls, `urls.*` and the SMTP
    smarthost (the host Alertmanager and the rollback service log in to)."""
    services = stack.get("services") or {}
    urls = [s.get("url") for s in services.values() if isinstance(s, dict)]
    urls += list((stack.get("urls") or {}).values())
    urls.append(((stack.get("monitoring") or {}).get("receivers") or {}).get("smtpSmarthost"))
    return tuple(dict.fromkeys(h for h in map(_host, urls) if h))


def _derived(stack: Mapping[str, Any], file: SettingsFile) -> dict[str, Any]:
    github = stack.get("github") or {}
    rollback = stack.get("rollback") or {}
    return {
        "environmentKind": stack["environment"]["kind"],
        "pipelineRepository": file.pipeline_repository or rollback.get("repository"),
        "applicationRepository": file.application_repository or github.get("repository"),
        "deployAppId": github.get("committerAppId"),
        "trustedHosts": list(dict.fromkeys([*PLATFORM_HOSTS, *file.trusted_hosts])),
        # The stack's own hosts exactly, never the hosts below them.
        "ownHosts": list(own_hosts(stack)),
    }


def resolve(raw: Any, stack_config: Mapping[str, Any], stack: str, path: Path) -> Settings:
    """The settings of `raw` (the file's content) for the stack whose config is `stack_config`;
    SettingsError lists every problem, by key path, with the closest known name."""
    problems: list[str] = []
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise SettingsError(_report(path, ["the file holds no mapping of keys"]))
    try:
        file = SettingsFile.model_validate(raw)
    except ValidationError as error:
        problems += _problems(error, "", _aliases(SettingsFile))
        # Go on with the rules, so that every problem is listed at once.
        rules_only = raw.get("rules")
        try:
            file = SettingsFile.model_validate({"rules": rules_only or {}})
        except ValidationError:
            file = SettingsFile()
    derived = _derived(stack_config, file)
    kind = derived["environmentKind"]
    levels: dict[str, Level] = {}
    resolved: dict[str, RuleSettings] = {}
    for name in file.rules:
        if name not in RULES_BY_NAME:
            problems.append(f"rules.{name}: unknown rule{_suggest(name, list(RULES_BY_NAME))}")
    for name, rule in RULES_BY_NAME.items():
        entry = dict(file.rules.get(name) or {})
        where = f"rules.{name}"
        level = entry.pop("level", rule.level)
        if level not in LEVELS:
            problems.append(f"{where}.level: {level!r} is not one of {', '.join(LEVELS)}")
            level = rule.level
        elif kind == "production" and rule.level == "mandatory" and level != "mandatory":
            problems.append(
                f"{where}.level: {rule.name} is mandatory in a production-kind stack "
                f"(environment.kind: production); remove the level"
            )
        levels[name] = level
        for key in sorted(DERIVED & set(entry)):
            top = f" (set {key} at the top of the file)" if key in _aliases(SettingsFile) else ""
            problems.append(f"{where}.{key}: comes from the stack file{top}")
            entry.pop(key)
        known = [k for k in _aliases(rule.settings) if k not in DERIVED]
        values = {k: v for k, v in derived.items() if k in _aliases(rule.settings)}
        try:
            resolved[name] = rule.settings.model_validate(values | entry)
        except ValidationError as error:
            problems += _problems(error, where, [*known, "level"])
    if problems:
        raise SettingsError(_report(path, problems))
    return Settings(stack=stack, kind=kind, path=path, levels=levels, rules=resolved)


def _report(path: Path, problems: list[str]) -> str:
    return (
        f"{path}: {len(problems)} problem(s) in the policy settings (docs/policy.md):\n"
        + "\n".join(f"  {p}" for p in problems)
    )


def load(project_dir: Path, stack: str, stack_config: Mapping[str, Any] | None = None) -> Settings:
    """The policy settings of `stack` in the project at `project_dir`, resolved against its
    stack file (or `stack_config`, the stack file's values without their namespace)."""
    path = path_of(project_dir, stack)
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    if stack_config is None and not stack_file.is_file():  # a mistyped stack, not a new file
        raise SettingsError(not_there(stack_file))
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SettingsError(
            f"{path}: no policy settings for the stack '{stack}': create it (an empty file "
            "keeps every rule's default; docs/policy.md lists the keys)"
        ) from None
    try:
        raw = yamlfile.load(text)
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: not valid YAML: {error}") from None
    values = _stack_config(project_dir, stack) if stack_config is None else stack_config
    return resolve(raw, values, stack, path)

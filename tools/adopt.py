"""Write a new product's stack files from a few answers (docs/adopting.md).

    python -m tools.adopt --dir DIR --product shop --title "Acme Shop" \\
        --repository acme/shop --pipeline-repository acme/shop-pipeline \\
        --environment staging=staging.acme-shop.com --environment production=acme-shop.com \\
        --service web=vercel:web:apps/web --service api=railway:web:services/api:python:shop_api \\
        --reviewer acme-release --vercel-team acme --email-to oncall@acme-shop.com \\
        --smtp smtp.acme-shop.com:587 [--flag checkoutV2] [--railway-project ID]

Writes DIR/Pulumi.yaml (the project's name, `<product>-pipeline` unless --project, is the
namespace of every key), and DIR/Pulumi.<environment>.yaml and the policy's settings
DIR/policy/settings/<environment>.yaml for each environment. An answer not given is asked
for on a terminal (never with --no-input). Nothing is overwritten: an existing file stops it
before anything is written. A bad answer writes nothing: every problem is listed at once, each
by its option, and so are the problems the config loader finds in the stack files the answers
make (a reserved service name, a second Vercel service). Every value is a first guess from the
answers (health paths, ports, thresholds): read the files, then run the next steps it prints.
No secret is asked for or written.

--environment NAME[:KIND[:BRANCH]]=DOMAIN: KIND (production, staging, preview) defaults to the
name when it is one; BRANCH to `main` for production and `develop` otherwise. Services' urls are
https://DOMAIN (the Vercel app) and https://SERVICE.DOMAIN (a Railway web service); the
pipeline's own Grafana and rollback service are grafana.DOMAIN and rollback.DOMAIN.
--service NAME=PLATFORM:ROLE:ROOT[:LANGUAGE[:PACKAGE]]: PLATFORM vercel or railway, ROLE web,
worker or cron, ROOT its folder in the application repository; LANGUAGE node (Vercel's) or python
(the default on Railway); PACKAGE what CI measures the coverage of (default: ROOT's last folder).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from components.config import (
    ROOT,
    ConfigError,
    Environment,
    GitHubConfig,
    Product,
    RailwayConfig,
    RollbackConfig,
    VercelConfig,
    check_namespaces,
)
from components.config.schema import (
    Branch,
    CronSchedule,
    FlagName,
    Folder,
    Login,
    PythonPackage,
    SecretEnvName,
    TeamSlug,
)
from monitoring.config import Email, EnvironmentKind, Platform, Receivers, Role, ServiceName
from tools.files import cannot_write, write_whole
from tools.missing import UNSET_PROJECT_ID
from tools.synth import validated
from workflows import yamltext

KINDS: tuple[str, ...] = get_args(EnvironmentKind)
CRON = "0 3 * * *"
PORT = 8000
REQUIRED_CHECK = "test-and-quality"  # the CI workflow's gate job (workflows.WorkflowsConfig)
# Pulumi.yaml but its name and description. Written from here, not copied from this repository's
# Pulumi.yaml: adopting in place removes that file first (docs/adopting.md, step 1).
STATE_KEPT = ".pulumi-state/.gitkeep"  # the backend's folder, kept in git while empty
PROJECT_FILE = """\
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: .venv
# State stays on the machine of whoever deploys unless PULUMI_BACKEND_URL names a shared backend
# (e.g. s3://bucket or https://api.pulumi.com); the CI workflows always set it. The folder is kept
# in git (empty) because a file backend refuses a folder that does not exist.
backend:
  url: file://./.pulumi-state
"""


def like(model: type[BaseModel], name: str) -> FieldInfo:
    """The constraints of a stack file's key (not its alias), for the answer it is made of."""
    info: FieldInfo = Field()
    info.metadata = list(model.model_fields[name].metadata)
    return info


# A lower-case host name: https://DOMAIN and https://SERVICE.DOMAIN are the stack's origins.
Domain = Annotated[
    str, Field(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
]
# Pulumi's rule for a project's name, which is also every key's namespace.
ProjectName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


class AnswerError(ValueError):
    """Answers that cannot make stack files: every problem, each by its option."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(dict.fromkeys(problems))
        super().__init__(
            f"{len(self.problems)} problem(s) with the answers, nothing written:\n"
            + "\n".join(f"  {problem}" for problem in self.problems)
        )


class Answer(BaseModel):
    """An answer given as one string (`--service api=railway:web:services/api`), read into its
    parts; FORM is how its option is written."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    FORM: ClassVar[str]

    @classmethod
    def parts(cls, text: str) -> dict[str, Any] | None:
        raise NotImplementedError

    @model_validator(mode="before")
    @classmethod
    def _read(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parts = cls.parts(value)
        if parts is None:
            raise ValueError(f"not of the form {cls.FORM}")
        return parts


class Env(Answer):
    FORM = "NAME[:KIND[:BRANCH]]=DOMAIN"
    name: Annotated[str, like(Environment, "name")]
    kind: EnvironmentKind
    branch: Branch
    domain: Domain

    @classmethod
    def parts(cls, text: str) -> dict[str, Any] | None:
        head, equals, domain = text.partition("=")
        name, _, rest = head.partition(":")
        kind, _, branch = rest.partition(":")
        if not (equals and name and domain):
            return None
        if not (kind or name in KINDS):
            raise ValueError(
                f"{name!r} is not a kind ({', '.join(KINDS)}), so KIND is needed, e.g. "
                f"{name}:production={domain}"
            )
        kind = kind or name
        default = "main" if kind == "production" else "develop"
        return {"name": name, "kind": kind, "branch": branch or default, "domain": domain}

    @property
    def production(self) -> bool:
        return self.kind == "production"


class Svc(Answer):
    FORM = "NAME=PLATFORM:ROLE:ROOT[:LANGUAGE[:PACKAGE]]"
    name: ServiceName
    platform: Platform
    role: Role
    root: Folder
    language: Literal["node", "python"]
    package: PythonPackage | None

    @classmethod
    def parts(cls, text: str) -> dict[str, Any] | None:
        name, equals, spec = text.partition("=")
        parts = spec.split(":")
        if not (equals and name) or not 3 <= len(parts) <= 5:
            return None
        platform, role, root = parts[:3]
        language = parts[3] if len(parts) > 3 else ("node" if platform == "vercel" else "python")
        package = parts[4] if len(parts) > 4 else root.rstrip("/").split("/")[-1].replace("-", "_")
        return {
            "name": name,
            "platform": platform,
            "role": role,
            "root": root,
            "language": language,
            "package": package if language == "python" else None,
        }


class Reviewer(Answer):
    FORM = "LOGIN|team:SLUG"
    user: Login | None = None
    team: TeamSlug | None = None

    @classmethod
    def parts(cls, text: str) -> dict[str, Any] | None:
        return {"team": text.removeprefix("team:")} if text.startswith("team:") else {"user": text}


class Schedule(Answer):
    FORM = "NAME=CRON"
    service: ServiceName
    cron: CronSchedule

    @classmethod
    def parts(cls, text: str) -> dict[str, Any] | None:
        service, equals, cron = text.partition("=")
        return {"service": service, "cron": cron} if equals else None


class SecretEnv(Answer):
    FORM = "SERVICE=NAME[,NAME]"
    service: ServiceName
    names: list[SecretEnvName] = Field(min_length=1)

    @classmethod
    def parts(cls, text: str) -> dict[str, Any] | None:
        service, equals, names = text.partition("=")
        return {"service": service, "names": names.split(",")} if equals else None


class Answers(BaseModel):
    """Every answer, each validated as the stack file's key it becomes. A field's alias is its
    option's name: a problem is told by the option."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    product: Annotated[str, like(Product, "name")]
    title: Annotated[str, like(Product, "title")]
    repository: Annotated[str, like(GitHubConfig, "repository")]
    pipeline_repository: Annotated[str, like(RollbackConfig, "repository")]
    environments: list[Env] = Field(alias="environment", min_length=1)
    services: list[Svc] = Field(alias="service", min_length=1)
    reviewers: list[Reviewer] = Field(alias="reviewer", min_length=1)
    email_to: Email
    smtp: Annotated[str, like(Receivers, "smtp_smarthost")]
    vercel_team: Annotated[str, like(VercelConfig, "team")] | None = Field(
        None, validate_default=True
    )
    project: ProjectName | None = None
    email_from: Email | None = None
    smtp_username: Annotated[str, like(Receivers, "smtp_username")] | None = None
    railway_project: Annotated[str, like(RailwayConfig, "project_id")] = UNSET_PROJECT_ID
    flags: list[FlagName] = Field([], alias="flag")
    schedules: list[Schedule] = Field([], alias="schedule")
    secret_env: list[SecretEnv] = []

    @field_validator("environments", "services")
    @classmethod
    def _named_once(cls, items: list[Env] | list[Svc]) -> list[Env] | list[Svc]:
        names = [item.name for item in items]
        if twice := sorted({name for name in names if names.count(name) > 1}):
            raise ValueError(f"{', '.join(twice)} given more than once")
        return items

    @field_validator("vercel_team")
    @classmethod
    def _team_of_vercel(cls, team: str | None, info: ValidationInfo) -> str | None:
        services = info.data.get("services") or []
        if team is None and any(s.platform == "vercel" for s in services):
            raise ValueError("missing: a Vercel service needs the Vercel team's slug")
        return team

    @field_validator("schedules", "secret_env")
    @classmethod
    def _of_a_service(
        cls, items: list[Schedule] | list[SecretEnv], info: ValidationInfo
    ) -> list[Schedule] | list[SecretEnv]:
        services = info.data.get("services")
        if services is None:
            return items  # its own problem is told
        wanted = {s.name for s in services if info.field_name == "secret_env" or s.role == "cron"}
        if unknown := [i.service for i in items if i.service not in wanted]:
            what = "service" if info.field_name == "secret_env" else "cron service"
            raise ValueError(f"no {what} is named {', '.join(unknown)}")
        return items

    @property
    def project_name(self) -> str:
        return self.project or f"{self.product}-pipeline"

    def schedule(self, service: str) -> str:
        return next((s.cron for s in self.schedules if s.service == service), CRON)

    def secret_names(self, service: str) -> list[str]:
        return [name for s in self.secret_env if s.service == service for name in s.names]


def answers_of(values: Mapping[str, Any]) -> Answers:
    """The answers (option's name -> text, or a list for a repeated option), validated: an
    AnswerError lists every problem, each by its option and the answer given."""
    try:
        return Answers.model_validate(values)
    except ValidationError as error:
        raise AnswerError([_told(item, values) for item in error.errors()]) from None


def _told(item: ErrorDetails, values: Mapping[str, Any]) -> str:
    """One problem: the option, the answer given (the one of a repeated option's), its part."""
    name, *where = item["loc"]
    said = f"--{str(name).replace('_', '-')}"
    if item["type"] == "missing":
        return f"{said}: missing (python -m tools.adopt -h)"
    given: Any = values[str(name)]
    if where and isinstance(where[0], int):
        given = given[where.pop(0)]
    if not isinstance(given, list):
        said += f" {given!r}"
    part = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")
    return f"{said}: {part + ': ' if part else ''}{item['msg'].removeprefix('Value error, ')}"


def _service(svc: Svc, env: Env, answers: Answers) -> dict[str, Any]:
    out: dict[str, Any] = {"platform": svc.platform, "role": svc.role, "root": svc.root}
    if svc.role == "web":
        host = env.domain if svc.platform == "vercel" else f"{svc.name}.{env.domain}"
        api = "/api" if svc.platform == "vercel" else ""
        out |= {
            "url": f"https://{host}",
            "healthPath": f"{api}/health",
            "metricsPath": f"{api}/metrics",
            "critical": True,
        }
    elif svc.role == "worker":
        out["metricsPath"] = "/metrics"  # scraped privately; add url + healthPath to probe it
    else:
        out["schedule"] = answers.schedule(svc.name)
    out["language"] = svc.language
    if svc.package:
        out["python"] = {"package": svc.package}
    if svc.platform == "vercel":
        out["vercel"] = {
            "project": f"{answers.product}-{svc.name}-{env.name}",
            "publicUrls": {
                f"NEXT_PUBLIC_{other.name.upper().replace('-', '_')}_URL": other.name
                for other in answers.services
                if other.platform == "railway" and other.role == "web"
            },
        }
        if not out["vercel"]["publicUrls"]:
            del out["vercel"]["publicUrls"]
    elif svc.role != "cron":
        out["port"] = PORT
    if names := answers.secret_names(svc.name):
        out["secretEnv"] = names
    return out


def stack_file(answers: Answers, env: Env) -> dict[str, Any]:
    """The `config` mapping of one environment's stack file."""
    users = [r.user for r in answers.reviewers if r.user]
    reviewers = [r.model_dump(exclude_none=True) for r in answers.reviewers]
    email_from = answers.email_from or answers.email_to
    github: dict[str, Any] = {
        "repository": answers.repository,
        "environment": env.name,
        "branch": env.branch,
        "reviewers": reviewers,
        # The people among them own .github/ (CODEOWNERS): a team reviews deployments with
        # read access, but a code owner needs write access, which the stack does not grant.
        **({"codeOwners": [{"user": u} for u in users]} if users else {}),
        "waitTimer": 5 if env.production else 0,
        "requiredChecks": [REQUIRED_CHECK],
        "requiredApprovingReviews": 1,
        "enforceAdmins": env.production,
        "workflows": "rendered",
    }
    if env.production and len(users) <= 1 and len(users) == len(reviewers):
        # One maintainer: GitHub never counts an author's own approval, so without a bypass no
        # one could merge into the production branch (the config refuses that).
        github["mergeBypass"] = users
    values: dict[str, Any] = {
        "product": {"name": answers.product, "title": answers.title},
        "environment": {"name": env.name, "kind": env.kind},
        "services": {svc.name: _service(svc, env, answers) for svc in answers.services},
        "featureFlags": {flag: not env.production for flag in answers.flags},
        "urls": {
            "rollback": f"https://rollback.{env.domain}",
            "grafana": f"https://grafana.{env.domain}",
        },
        "github": github,
        "rollback": {"repository": answers.pipeline_repository, "dryRun": not env.production},
        "railway": {"projectId": answers.railway_project},
        "monitoring": {
            "receivers": {
                "emailTo": [answers.email_to],
                "emailFrom": email_from,
                "smtpSmarthost": answers.smtp,
                "smtpUsername": answers.smtp_username or email_from,
            }
        },
    }
    if answers.vercel_team:
        values["vercel"] = {"team": answers.vercel_team}
    if not answers.flags:
        del values["featureFlags"]
    return {f"{answers.project_name}:{key}": value for key, value in values.items()}


def project_file(answers: Answers) -> str:
    """Pulumi.yaml: the new project's name and description, then PROJECT_FILE."""
    head = {
        "name": answers.project_name,
        "description": f"{answers.title}'s test and deploy pipeline as code.",
    }
    return yaml.safe_dump(head, sort_keys=False, width=100) + PROJECT_FILE


# A stack file's key -> the option whose answer it is made of (the first pattern that matches):
# what tells a problem between answers that only the config loader sees (a reserved service
# name, a second Vercel service, a Grafana uid too long) by the option to change.
SOURCES = {
    "product.title": "--title",
    "product*": "--product",
    "services.*.secretEnv*": "--secret-env",
    "services.*.schedule": "--schedule",
    "services*": "--service",
    "featureFlags*": "--flag",
    "github.repository": "--repository",
    "github.reviewers*": "--reviewer",
    "github.codeOwners*": "--reviewer",
    "github.mergeBypass*": "--reviewer",
    "vercel*": "--vercel-team",
    "railway*": "--railway-project",
    "rollback*": "--pipeline-repository",
    "monitoring.receivers.emailTo*": "--email-to",
    "monitoring.receivers.emailFrom": "--email-from",
    "monitoring.receivers.smtpSmarthost": "--smtp",
    "monitoring.receivers.smtpUsername": "--smtp-username",
    "environment*": "--environment",
    "urls*": "--environment",
    "github*": "--environment",  # github.environment, github.branch
}
SHAPE_GOT = r" \(got a (mapping|list) of \d+ \w+\(s\)\)$"  # the loader's: no answer's shape


def _by_answer(error: ConfigError) -> list[str]:
    """The config loader's problems, each by the option it comes from, without the loader's
    `pulumi config` fixes: no stack file exists yet."""
    found = []
    for path, told, _ in error.problems:
        sources = (o for pattern, o in SOURCES.items() if fnmatchcase(path, pattern))
        option = next(sources, "the answers")
        problem = re.sub(SHAPE_GOT, "", told.removeprefix("Value error, "))
        found.append(f"{option}: {path}: {problem}")
    return found or [str(error)]


def files(answers: Answers) -> dict[str, str]:
    """File name -> content: Pulumi.yaml, and each environment's stack file and policy
    settings. Each stack file is validated as the program validates it; an AnswerError lists
    every problem of them all, once."""
    out = {"Pulumi.yaml": project_file(answers)}
    problems = []
    for env in answers.environments:
        config = stack_file(answers, env)
        try:
            check_namespaces(config, env.name, answers.project_name)
            validated(env.name, config, answers.project_name)
        except ConfigError as error:
            problems += _by_answer(error)
        header = (
            f"# {answers.title}, {env.name} (kind {env.kind}), written by `python -m tools.adopt`."
            "\n# Every value is a first guess from its answers: read it. Secrets are not committed:"
            f"\n# `python -m tools.synth --missing --stack {env.name}` lists each with its command."
            "\n"
        )
        out[f"Pulumi.{env.name}.yaml"] = header + yaml.safe_dump(
            {"config": config}, sort_keys=False, width=100
        )
        out[f"policy/settings/{env.name}.yaml"] = policy_settings(answers, env)
    if problems:
        raise AnswerError(problems)
    return out


def policy_settings(answers: Answers, env: Env) -> str:
    """The policy's settings file of a stack (docs/policy.md): a production-kind stack pins
    both repositories, so that swapping one in the stack file fails the policy."""
    pins = (
        f"pipelineRepository: {answers.pipeline_repository}\n"
        f"applicationRepository: {answers.repository}\n"
        if env.production
        else ""
    )
    return (
        f"# The policy's settings for {env.name} (kind {env.kind}), written by `python -m "
        "tools.adopt`;\n# docs/policy.md lists the keys. Every rule keeps its default level.\n"
        f"{pins}rules: {{}}\n"
    )


# answer -> (how it is written, what it is); the first nine are asked for on a terminal
OPTIONS = {
    "product": ("SLUG", "the product's slug (lower case, e.g. shop)"),
    "title": ("TITLE", "the product's name for people (e.g. Acme Shop)"),
    "repository": ("OWNER/NAME", "the application repository"),
    "pipeline_repository": ("OWNER/NAME", "this pipeline's repository"),
    "environment": (Env.FORM, "an environment"),
    "service": (Svc.FORM, "a service"),
    "reviewer": (Reviewer.FORM, "a reviewer: a GitHub login, or a team"),
    "email_to": ("ADDRESS", "where alert mail goes (the on-call address)"),
    "smtp": ("HOST:PORT", "the SMTP server that sends it"),
    "vercel_team": ("SLUG", "the Vercel team (with a Vercel service)"),
    "project": ("NAME", "the Pulumi project's name (default: PRODUCT-pipeline)"),
    "email_from": ("ADDRESS", "alert mail's sender (default: --email-to)"),
    "smtp_username": ("LOGIN", "the SMTP login (default: --email-from)"),
    "railway_project": ("ID", "the Railway project's id (later is fine)"),
    "flag": ("NAME", "a feature flag (camelCase)"),
    "schedule": (Schedule.FORM, f"a cron service's crontab expression (default: {CRON})"),
    "secret_env": (SecretEnv.FORM, "a service's secret variables"),
}
ASKED = list(OPTIONS)[:9]
REPEATED = {"environment", "service", "reviewer", "flag", "schedule", "secret_env"}


def ask(values: dict[str, Any], prompt: Callable[[str], str]) -> None:
    """Fill each unanswered question from `prompt` (a terminal)."""
    for name in ASKED:
        form, what = OPTIONS[name]
        if values.get(name):
            continue
        if name in REPEATED:
            values[name] = []
            while answer := prompt(f"{what}, {form} (empty line: done): ").strip():
                values[name].append(answer)
        else:
            values[name] = prompt(f"{what}, {form}: ").strip()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.adopt", description=__doc__.split("\n")[0])
    p.add_argument("--dir", type=Path, required=True, help="the new project's folder")
    for name, (form, what) in OPTIONS.items():
        repeated = name in REPEATED
        p.add_argument(
            f"--{name.replace('_', '-')}",
            metavar=form,
            action="append" if repeated else "store",
            help=f"{what}{' (repeat it)' if repeated else ''}",
        )
    p.add_argument("--no-input", action="store_true", help="never ask: a missing answer fails")
    return p


def deploy_branches(deploy: Path = ROOT / ".github" / "workflows" / "deploy.yml") -> list[str]:
    """The branches the pipeline repository's deploy workflow runs on (its push trigger); none
    where it cannot be read as such."""
    try:
        branches = yamltext.load(deploy.read_text())["on"]["push"]["branches"]
        return [str(branch) for branch in branches]
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError):
        return []


def next_steps(answers: Answers, directory: Path) -> str:
    stacks = [env.name for env in answers.environments]
    deployed = deploy_branches()
    missing = sorted({env.branch for env in answers.environments} - set(deployed))
    lines = [
        "",
        "Next (docs/adopting.md):",
        "  1. Read each file: every value is a first guess from the answers.",
        "  2. What each stack still needs before `pulumi up`, each with its command:",
        *(
            f"       python -m tools.synth --missing --project-dir {directory} --stack {s}"
            for s in stacks
        ),
        "  3. The offline synth and the policy over its plan:",
        *(
            f"       python -m tools.synth --policy --project-dir {directory} --stack {s}"
            for s in stacks
        ),
        f"  4. In the pipeline repository, {answers.pipeline_repository}:",
        '       its GitHub environments (docs/security.md, "Environments to create"):',
        f"         railway-schema; for each stack S ({', '.join(stacks)}): S, drift-S, preview-S",
    ]
    if deployed and missing:
        lines += [
            f"       {', '.join(missing)} in the push trigger of .github/workflows/deploy.yml"
            f" (now {', '.join(deployed)}):",
            "         a stack on a branch missing there never deploys",
        ]
    return "\n".join(lines)


def write(directory: Path, written: Mapping[str, str]) -> None:
    """Every file, or none: one that cannot be written takes the ones before it away (they
    were new: nothing is overwritten)."""
    done: list[Path] = []
    try:
        for name, content in written.items():
            write_whole(directory / name, content)
            done.append(directory / name)
    except OSError:
        for path in done:
            path.unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None, prompt: Callable[[str], str] | None = None) -> int:
    args = parser().parse_args(argv)
    values = {k: v for k, v in vars(args).items() if v is not None}
    directory: Path = values.pop("dir")
    if not values.pop("no_input") and (prompt is not None or sys.stdin.isatty()):
        ask(values, prompt or input)
    try:
        answers = answers_of(values)
        written = files(answers)
    except AnswerError as error:
        print(error, file=sys.stderr)
        return 2
    if existing := [directory / name for name in written if (directory / name).exists()]:
        names = ", ".join(map(str, existing))
        print(f"refusing to overwrite {names}: nothing written", file=sys.stderr)
        return 2
    state = directory / STATE_KEPT  # the file backend refuses a folder that does not exist
    new_state = {} if state.parent.exists() else {STATE_KEPT: ""}
    try:
        write(directory, {**written, **new_state})
    except OSError as error:
        print(cannot_write(error, directory), file=sys.stderr)
        return 2
    for name in {**written, **new_state}:
        print(f"wrote {directory / name}")
    print(next_steps(answers, directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
before anything is written, and so does a stack file the config loader refuses. Every value is
a first guess from the answers (health paths, ports, thresholds): read the files, then run the
next steps it prints. No secret is asked for or written.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.config import ROOT, ConfigError, check_namespaces
from tools.files import write_whole
from tools.missing import UNSET_PROJECT_ID
from tools.synth import validated

KINDS = ("production", "staging", "preview")
CRON = "0 3 * * *"
PORT = 8000
REQUIRED_CHECK = "test-and-quality"  # the CI workflow's gate job (workflows.WorkflowsConfig)


class AnswerError(ValueError):
    """An answer that cannot be read; the message says which and the form it takes."""


@dataclass(frozen=True)
class Env:
    name: str
    kind: str
    branch: str
    domain: str

    @property
    def production(self) -> bool:
        return self.kind == "production"


@dataclass(frozen=True)
class Svc:
    name: str
    platform: str
    role: str
    root: str
    language: str
    package: str | None


@dataclass
class Answers:
    product: str
    title: str
    repository: str
    pipeline_repository: str
    environments: list[Env]
    services: list[Svc]
    reviewers: list[str]
    email_to: str
    smtp: str
    vercel_team: str | None = None
    project: str | None = None
    email_from: str | None = None
    smtp_username: str | None = None
    railway_project: str = UNSET_PROJECT_ID
    flags: list[str] = field(default_factory=list)
    schedules: dict[str, str] = field(default_factory=dict)
    secret_env: dict[str, list[str]] = field(default_factory=dict)

    @property
    def project_name(self) -> str:
        return self.project or f"{self.product}-pipeline"


def parse_environment(text: str) -> Env:
    head, equals, domain = text.partition("=")
    name, _, rest = head.partition(":")
    kind, _, branch = rest.partition(":")
    kind = kind or name
    if not (equals and name and domain) or kind not in KINDS:
        raise AnswerError(
            f"--environment {text!r}: NAME[:KIND[:BRANCH]]=DOMAIN, KIND one of {', '.join(KINDS)}"
            " (needed when NAME is none of them), e.g. production-eu:production=eu.example.com"
        )
    return Env(name, kind, branch or ("main" if kind == "production" else "develop"), domain)


def parse_service(text: str) -> Svc:
    name, equals, spec = text.partition("=")
    parts = spec.split(":")
    if not (equals and name) or not 3 <= len(parts) <= 5:
        raise AnswerError(
            f"--service {text!r}: NAME=PLATFORM:ROLE:ROOT[:LANGUAGE[:PACKAGE]], "
            "e.g. api=railway:web:services/api:python:shop_api"
        )
    platform, role, root = parts[:3]
    language = parts[3] if len(parts) > 3 else ("node" if platform == "vercel" else "python")
    package = parts[4] if len(parts) > 4 else root.rstrip("/").split("/")[-1].replace("-", "_")
    return Svc(name, platform, role, root, language, package if language == "python" else None)


def _pairs(items: Sequence[str], option: str) -> dict[str, str]:
    pairs = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not (equals and name and value):
            raise AnswerError(f"{option} {item!r}: NAME=VALUE")
        pairs[name] = value
    return pairs


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
        out["schedule"] = answers.schedules.get(svc.name, CRON)
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
    if names := answers.secret_env.get(svc.name):
        out["secretEnv"] = names
    return out


def stack_file(answers: Answers, env: Env) -> dict[str, Any]:
    """The `config` mapping of one environment's stack file."""
    users = [r for r in answers.reviewers if not r.startswith("team:")]
    reviewers = [
        {"team": r.removeprefix("team:")} if r.startswith("team:") else {"user": r}
        for r in answers.reviewers
    ]
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
    """This repository's Pulumi.yaml (runtime, backend) with the new project's name."""
    text = (ROOT / "Pulumi.yaml").read_text()
    text = re.sub(r"(?m)^name: .*$", f"name: {answers.project_name}", text)
    return re.sub(
        r"(?m)^description: .*$",
        f"description: {answers.title}'s test and deploy pipeline as code.",
        text,
    )


def files(answers: Answers) -> dict[str, str]:
    """File name -> content: Pulumi.yaml and one stack file per environment, each validated
    as the program validates it (ConfigError lists every problem)."""
    out = {"Pulumi.yaml": project_file(answers)}
    problems = []
    for env in answers.environments:
        config = stack_file(answers, env)
        try:
            check_namespaces(config, env.name, answers.project_name)
            validated(env.name, config, answers.project_name)
        except ConfigError as error:
            problems.append(str(error))
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
        raise ConfigError("\n".join(problems))
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


QUESTIONS = {  # answer -> (option, question); lists end with an empty line
    "product": ("--product", "Product slug (lower case, e.g. shop)"),
    "title": ("--title", "Product name for people (e.g. Acme Shop)"),
    "repository": ("--repository", "Application repository (owner/name)"),
    "pipeline_repository": ("--pipeline-repository", "This pipeline's repository (owner/name)"),
    "environments": ("--environment", "Environment NAME[:KIND[:BRANCH]]=DOMAIN"),
    "services": ("--service", "Service NAME=PLATFORM:ROLE:ROOT[:LANGUAGE[:PACKAGE]]"),
    "reviewers": ("--reviewer", "Reviewer (GitHub login, or team:SLUG)"),
    "email_to": ("--email-to", "Where alert mail goes (on-call address)"),
    "smtp": ("--smtp", "SMTP server host:port that sends it"),
}


def ask(values: dict[str, Any], prompt: Callable[[str], str] | None) -> list[str]:
    """Fill each unanswered question from `prompt` (a terminal), or name its option."""
    unanswered = []
    for name, (option, question) in QUESTIONS.items():
        if values.get(name):
            continue
        if prompt is None:
            unanswered.append(option)
        elif isinstance(values.get(name), list):
            while answer := prompt(f"{question} (empty line: done): ").strip():
                values[name].append(answer)
        else:
            values[name] = prompt(f"{question}: ").strip()
    return unanswered


def answers_of(values: Mapping[str, Any]) -> Answers:
    services = [parse_service(s) for s in values["services"]]
    needs_team = any(s.platform == "vercel" for s in services)
    if needs_team and not values.get("vercel_team"):
        raise AnswerError("--vercel-team: a Vercel service needs the Vercel team's slug")
    return Answers(
        product=values["product"],
        title=values["title"],
        repository=values["repository"],
        pipeline_repository=values["pipeline_repository"],
        environments=[parse_environment(e) for e in values["environments"]],
        services=services,
        reviewers=values["reviewers"],
        email_to=values["email_to"],
        smtp=values["smtp"],
        vercel_team=values.get("vercel_team"),
        project=values.get("project"),
        email_from=values.get("email_from"),
        smtp_username=values.get("smtp_username"),
        railway_project=values.get("railway_project") or UNSET_PROJECT_ID,
        flags=values.get("flags") or [],
        schedules=_pairs(values.get("schedules") or [], "--schedule"),
        secret_env={
            name: names.split(",")
            for name, names in _pairs(values.get("secret_env") or [], "--secret-env").items()
        },
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.adopt", description=__doc__.split("\n")[0])
    p.add_argument("--dir", type=Path, required=True, help="the new project's folder")
    p.add_argument("--project", help="the Pulumi project's name (default: PRODUCT-pipeline)")
    for name, (option, question) in QUESTIONS.items():
        if name in ("environments", "services", "reviewers"):
            p.add_argument(
                option, dest=name, action="append", default=[], help=f"{question} (repeat it)"
            )
        else:
            p.add_argument(option, dest=name, help=question)
    p.add_argument("--vercel-team", help="the Vercel team's slug (with a Vercel service)")
    p.add_argument("--email-from", help="alert mail's sender (default: --email-to)")
    p.add_argument("--smtp-username", help="the SMTP login (default: --email-from)")
    p.add_argument("--railway-project", help="the Railway project's id (later is fine)")
    p.add_argument("--flag", dest="flags", action="append", help="a feature flag (camelCase)")
    p.add_argument("--schedule", dest="schedules", action="append", help=f"CRON=... ({CRON})")
    p.add_argument("--secret-env", action="append", help="SERVICE=NAME[,NAME]: secret variables")
    p.add_argument("--no-input", action="store_true", help="never ask: a missing answer fails")
    return p


def next_steps(answers: Answers, directory: Path) -> str:
    stacks = [env.name for env in answers.environments]
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
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, prompt: Callable[[str], str] | None = None) -> int:
    args = parser().parse_args(argv)
    values = vars(args)
    interactive = not args.no_input and (prompt is not None or sys.stdin.isatty())
    unanswered = ask(values, (prompt or input) if interactive else None)
    if unanswered:
        print(
            f"missing answers: {', '.join(unanswered)} (python -m tools.adopt -h)", file=sys.stderr
        )
        return 2
    try:
        answers = answers_of(values)
        written = files(answers)
    except (AnswerError, ConfigError) as error:
        print(error, file=sys.stderr)
        return 2
    existing = [args.dir / name for name in written if (args.dir / name).exists()]
    if existing:
        names = ", ".join(map(str, existing))
        print(f"refusing to overwrite {names}: nothing written", file=sys.stderr)
        return 2
    for name, content in written.items():
        write_whole(args.dir / name, content)
        print(f"wrote {args.dir / name}")
    print(next_steps(answers, args.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())

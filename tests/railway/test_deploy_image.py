"""A service that runs the image CI built (stack `deploy: built`): the deploy job's script points
Railway at the image the images job pushed, by the commit's tag bound to the digest CI built, and
deploys it once; apply leaves that image alone and redeploys it, never a rebuild, for a variable
change."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components import app_repository
from components.railway import converge
from components.railway.client import RailwayClient
from components.railway.spec import Spec, State, WorkflowSource
from components.railway.stack import app_service
from tests.conftest import STACKS, built_service, config_error, key, stack_config, validated_stack
from tests.railway.conftest import GITHUB_TOKEN
from tests.railway.registry import RegistryStandIn
from tests.railway.standin import PROJECT_TOKEN, RailwayStandIn
from tests.railway.test_converge import make_spec
from tests.railway.test_scope import TOKENS
from tests.workflows.conftest import CONFIGS, load
from workflows import SCRIPTS, render

pytestmark = pytest.mark.e2e  # starts the Railway stand-in on 127.0.0.1

SCRIPT = SCRIPTS / "railway-deploy-image.sh"
REPOSITORY = "ghcr.io/owner/app/backend"
NAME = REPOSITORY.split("/", 1)[1]  # the repository's name in the registry, after its host
DEPLOYS = ("serviceInstanceDeployV2", "deploymentRedeploy")


def sha(commit: str) -> str:
    """The full sha of `commit`, the tag the images job pushes it under."""
    return hashlib.sha256(commit.encode()).hexdigest()[:40]


def digest(content: str) -> str:
    return f"sha256:{hashlib.sha256(content.encode()).hexdigest()}"


def pushed(commit: str) -> str:
    """The image the images job pushed for `commit`, by its tag."""
    return f"{REPOSITORY}:{sha(commit)}"


def push(registry: RegistryStandIn, commit: str, *moves: str) -> str:
    """The images job pushes `commit`'s image; `moves`: what someone pushes over its tag after
    each read of it. Returns the digest pushed, the images job's `digest` output."""
    built = digest(commit)
    registry.push(NAME, sha(commit), built, *map(digest, moves))
    return built


def built_spec(**service: Any) -> Spec:
    source = {"deployedBy": "owner/app: deploy-staging.yml", "imageRepository": REPOSITORY}
    return make_spec(source=source, domains=[], serviceDomain=False, **service)


def script_env(
    standin: RailwayStandIn, registry: RegistryStandIn, tmp_path: Path
) -> dict[str, str]:
    """What the deploy job gives the script, but the platforms' addresses: the stand-ins'. Its
    curl is the real one behind a shim that writes each command line to tmp_path/argv, which
    `command_lines` reads: a token there is one any process of the runner could read."""
    shims = tmp_path / "shims"
    shims.mkdir(exist_ok=True)
    curl = shims / "curl"
    curl.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >>"{tmp_path}/argv"\nexec {shutil.which("curl")} "$@"\n'
    )
    curl.chmod(0o755)
    return {
        "PATH": f"{shims}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "RAILWAY_TOKEN": PROJECT_TOKEN,
        "RAILWAY_API_URL": standin.url,
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "REGISTRY_URL": registry.url,
        "RAILWAY_DEPLOY_INTERVAL": "0",
    }


def deploy_image(
    standin: RailwayStandIn,
    registry: RegistryStandIn,
    image: str,
    image_digest: str,
    tmp_path: Path,
) -> subprocess.CompletedProcess[str]:
    env = {
        **script_env(standin, registry, tmp_path),
        "IMAGE": image,
        "IMAGE_DIGEST": image_digest,
        "RAILWAY_DEPLOY_TRIES": "5",
    }
    return subprocess.run(
        ["bash", str(SCRIPT), "backend"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def command_lines(tmp_path: Path) -> str:
    argv = tmp_path / "argv"
    return argv.read_text() if argv.exists() else ""


def running(standin: RailwayStandIn, state: State) -> list[dict[str, Any]]:
    return [
        d
        for d in standin.world.deployments.values()
        if (d["environmentId"], d["serviceId"]) == (state.environment_id, state.service_id)
        and d["status"] == "SUCCESS"
    ]


def apply(standin: RailwayStandIn, spec: Spec, state: State | None, token: str) -> State:
    with RailwayClient(standin.url, TOKENS[token], timeout=2, max_attempts=2) as client:
        return converge.apply(client, spec, state, lambda _line: None)


@pytest.mark.parametrize("pulls_by_digest", [False, True])
def test_the_pushed_image_is_deployed_once_and_apply_leaves_it_alone(
    standin: RailwayStandIn, registry: RegistryStandIn, tmp_path: Path, pulls_by_digest: bool
) -> None:
    # Both readings of what Railway does not document (docs/railway.md, "Pull by digest"): the
    # script names the image by its tag, which Railway documents, so either works.
    standin.pulls_by_digest = pulls_by_digest
    standin.add_environment("staging")
    spec = built_spec()
    state = apply(standin, spec, None, "account")
    assert standin.world.deployments == {}  # nothing runs until the deploy job ships an image

    for commit in ("first", "second"):
        image, built = pushed(commit), push(registry, commit)
        standin.mutations.clear()
        registry.reads.clear()
        done = deploy_image(standin, registry, image, built, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        # The tag read before anything changes and again once the deployment is live.
        assert registry.reads == [(NAME, sha(commit))] * 2
        # The image in the instance's source, committed without a deploy, then one deployment.
        assert standin.mutations == [
            "environmentStageChanges",
            "environmentPatchCommitStaged",
            "serviceInstanceDeployV2",
        ]
        [live] = running(standin, state)
        assert live["code"] == image  # what CI built and tested, never a build from source
        assert standin.service_config(state.environment_id, state.service_id)["source"] == {
            "image": image
        }
        assert built in done.stdout
        seen = done.stdout + done.stderr + command_lines(tmp_path)
        assert PROJECT_TOKEN not in seen and GITHUB_TOKEN not in seen

        standin.mutations.clear()
        state = apply(standin, spec, state, "project")
        assert standin.mutations == []  # the workflow's image is left as it is

    # A variable change: the image that runs, again, with the new variable; no rebuild.
    changed = built_spec(variables={**spec.service.variables, "LOG_LEVEL": "debug"})
    standin.mutations.clear()
    state = apply(standin, changed, state, "project")
    assert [m for m in standin.mutations if m in DEPLOYS] == ["deploymentRedeploy"]
    [live] = running(standin, state)
    assert live["code"] == pushed("second")
    assert live["variables"]["LOG_LEVEL"] == "debug"
    standin.mutations.clear()
    apply(standin, changed, state, "project")
    assert standin.mutations == []


def test_another_source_is_replaced_but_never_by_a_build(standin: RailwayStandIn) -> None:
    standin.add_environment("staging")
    state = apply(standin, make_spec(), None, "account")  # a repository service before
    standin.mutations.clear()
    apply(standin, built_spec(), state, "account")
    source = standin.service_config(state.environment_id, state.service_id)["source"]
    assert not source.get("repo") and not source.get("branch")  # no push deploys it any more


@pytest.mark.parametrize(
    ("image", "image_digest"),
    [
        (f"{REPOSITORY}@{digest('first')}", digest("first")),  # Railway documents name[:tag]
        (f"{REPOSITORY}:", digest("first")),
        ("", digest("first")),
        (pushed("first"), ""),  # nothing to bind the tag to
        (pushed("first"), "sha256:"),
    ],
)
def test_an_image_without_its_tag_and_digest_is_refused_before_any_request(
    standin: RailwayStandIn,
    registry: RegistryStandIn,
    tmp_path: Path,
    image: str,
    image_digest: str,
) -> None:
    standin.add_environment("staging")
    push(registry, "first")
    done = deploy_image(standin, registry, image, image_digest, tmp_path)
    assert done.returncode == 1
    assert "::error title=No image" in done.stdout
    assert standin.requests == 0
    assert registry.headers_seen == []


def test_a_tag_moved_before_the_deploy_is_refused_and_changes_nothing(
    standin: RailwayStandIn, registry: RegistryStandIn, tmp_path: Path
) -> None:
    env_id = standin.add_environment("staging")
    state = apply(standin, built_spec(), None, "account")
    before = pushed("before")
    standin.ship_image(env_id, state.service_id, before)
    built = push(registry, "first")
    registry.push(NAME, sha("first"), digest("someone else's"))  # pushed over it since
    standin.mutations.clear()
    standin.requests = 0

    done = deploy_image(standin, registry, pushed("first"), built, tmp_path)
    assert done.returncode == 1
    assert f"::error title=The tag of backend moved::{pushed('first')} points at" in done.stdout
    assert digest("someone else's") in done.stdout and "Nothing was deployed" in done.stdout
    assert (standin.requests, standin.mutations) == (0, [])  # asked before anything of Railway
    [live] = running(standin, state)
    assert live["code"] == before


def test_a_tag_moved_while_railway_pulls_it_fails_the_job_saying_what_may_run(
    standin: RailwayStandIn, registry: RegistryStandIn, tmp_path: Path
) -> None:
    standin.add_environment("staging")
    state = apply(standin, built_spec(), None, "account")
    built = push(registry, "first", "someone else's")  # pushed over after the first read

    done = deploy_image(standin, registry, pushed("first"), built, tmp_path)
    assert done.returncode == 1
    assert "::error title=backend may run an image CI did not test::" in done.stdout
    message = done.stdout[done.stdout.index("may run an image") :]
    assert digest("someone else's") in message and built in message
    assert "Roll back" in message
    [live] = running(standin, state)  # Railway deployed the tag: the job cannot undo that
    assert live["code"] == pushed("first")


def test_changes_someone_staged_stop_the_deploy_before_any_mutation(
    standin: RailwayStandIn, registry: RegistryStandIn, tmp_path: Path
) -> None:
    env_id = standin.add_environment("staging")
    apply(standin, built_spec(), None, "account")
    standin.world.staged[env_id] = 2
    standin.mutations.clear()
    done = deploy_image(standin, registry, pushed("first"), push(registry, "first"), tmp_path)
    assert done.returncode == 1
    assert "Staged changes" in done.stdout
    assert standin.mutations == []


def _services(stack: str) -> dict[str, Any]:
    services: dict[str, Any] = stack_config(stack)[key("services")]
    return services


def test_a_stack_service_with_deploy_built_runs_its_pushed_image() -> None:
    stack = STACKS[0]
    config = validated_stack(stack)
    found = built_service(stack)
    assert found is not None, "every Railway service of the stack runs a fixed image"
    name, entry = found
    update = {"deploy": "built", "dockerfile": entry["dockerfile"]}
    service = config.services[name].model_copy(update=update)
    args = app_service(
        name,
        service,
        project_id="proj",
        environment=config.environment.name,
        product=config.product.name,
        repository=config.github.repository,
        secrets={v: "x" for v in service.secret_env},
        retain_on_delete=False,
        protect=False,
    )
    source = args.source
    assert isinstance(source, WorkflowSource)
    # Where the deploy workflow pushes it (workflows/deploy.py: the stack's registry).
    registry = app_repository.workflows_config(config).registry
    assert source.image_repository == f"{registry}/{name}"


def test_deploy_built_without_a_dockerfile_is_refused_by_its_key_path() -> None:
    stack = STACKS[0]
    name = next(n for n, s in _services(stack).items() if not s.get("dockerfile"))

    def edit(stack_file: dict[str, Any]) -> None:
        stack_file[key("services")][name]["deploy"] = "built"

    message = config_error(stack, edit)
    assert f"services.{name}" in message
    assert "deploy built runs the image built from dockerfile" in message


def test_the_rendered_deploy_step_ships_the_image_the_images_job_pushed(
    standin: RailwayStandIn, registry: RegistryStandIn, tmp_path: Path
) -> None:
    config = CONFIGS["built images"]
    [name] = config.images()
    files = render(config)
    environment = config.environments[0]
    workflow = load(files[f".github/workflows/deploy-{environment.name}.yml"])
    images, job = workflow["jobs"]["images"], workflow["jobs"]["deploy"]
    assert "images" in job["needs"]
    pushing = next(s for s in images["steps"] if s.get("id") == f"push-{name}")
    assert images["outputs"][name] == f"${{{{ steps.{pushing['id']}.outputs.digest }}}}"
    commit_tag = f"{config.registry}/{name}:${{{{ github.sha }}}}"
    assert pushing["with"]["tags"] == commit_tag  # unique to the commit
    assert job["permissions"] == {"contents": "read", "packages": "read"}
    assert images["permissions"]["packages"] == "write"  # only the images job pushes
    steps = job["steps"]
    at = next(i for i, s in enumerate(steps) if s.get("env", {}).get("IMAGE"))
    step = steps[at]
    assert "freeze-gate.sh" in steps[at - 1]["run"]  # the freeze read afresh just before
    assert step["env"]["IMAGE"] == commit_tag
    assert step["env"]["IMAGE_DIGEST"] == f"${{{{ needs.images.outputs.{name} }}}}"
    # No other secret in reach; GITHUB_TOKEN reads packages only.
    assert set(step["env"]) == {"IMAGE", "IMAGE_DIGEST", "GITHUB_TOKEN", "RAILWAY_TOKEN"}

    # Run it as the runner would, in the rendered repository, against the stand-in.
    root = tmp_path / "app"
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    standin.add_environment(environment.name)
    state = apply(standin, built_spec(name=name), None, "account")
    commit = sha("pushed")
    image = step["env"]["IMAGE"].replace("${{ github.sha }}", commit)
    registry.push(image.split("/", 1)[1].rsplit(":", 1)[0], commit, digest("pushed"))
    env = {
        **script_env(standin, registry, tmp_path),
        "IMAGE": image,
        "IMAGE_DIGEST": digest("pushed"),
    }
    done = subprocess.run(
        ["bash", "-c", step["run"]],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [live] = running(standin, state)
    assert live["code"] == image

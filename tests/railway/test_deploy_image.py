"""A service that runs the image CI built (stack `deploy: built`): the deploy job's script points
Railway at the pushed image by digest and deploys it once; apply leaves that image alone and
redeploys it, never a rebuild, for a variable change."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components import app_repository
from components.railway import converge
from components.railway.client import RailwayClient
from components.railway.spec import Spec, State, WorkflowSource
from components.railway.stack import app_service
from tests.conftest import STACKS, config_error, key, stack_config, validated_stack
from tests.railway.standin import PROJECT_TOKEN, RailwayStandIn
from tests.railway.test_converge import make_spec
from tests.railway.test_scope import TOKENS
from tests.workflows.conftest import CONFIGS, load
from workflows import SCRIPTS, render

pytestmark = pytest.mark.e2e  # starts the Railway stand-in on 127.0.0.1

SCRIPT = SCRIPTS / "railway-deploy-image.sh"
REPOSITORY = "ghcr.io/owner/app/backend"
DEPLOYS = ("serviceInstanceDeployV2", "deploymentRedeploy")


def pushed(commit: str) -> str:
    """The image the images job pushed for `commit`, by digest."""
    return f"{REPOSITORY}@sha256:{hashlib.sha256(commit.encode()).hexdigest()}"


def built_spec(**service: Any) -> Spec:
    source = {"deployedBy": "owner/app: deploy-staging.yml", "imageRepository": REPOSITORY}
    return make_spec(source=source, domains=[], serviceDomain=False, **service)


def deploy_image(
    standin: RailwayStandIn, image: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "RAILWAY_TOKEN": PROJECT_TOKEN,
        "RAILWAY_API_URL": standin.url,
        "IMAGE": image,
        "RAILWAY_DEPLOY_INTERVAL": "0",
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


def test_the_pushed_image_is_deployed_once_and_apply_leaves_it_alone(
    standin: RailwayStandIn, tmp_path: Path
) -> None:
    standin.pulls_by_digest = True  # assumed: Railway does not document it (docs/railway.md)
    standin.add_environment("staging")
    spec = built_spec()
    state = apply(standin, spec, None, "account")
    assert standin.world.deployments == {}  # nothing runs until the deploy job ships an image

    for commit in ("first", "second"):
        image = pushed(commit)
        standin.mutations.clear()
        done = deploy_image(standin, image, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
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
        assert PROJECT_TOKEN not in done.stdout + done.stderr

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
    "image",
    [
        f"{REPOSITORY}:latest",  # a tag moves: never what CI tested
        f"{REPOSITORY}@sha256:",
        "",
    ],
)
def test_an_image_not_named_by_digest_is_refused_before_any_request(
    standin: RailwayStandIn, tmp_path: Path, image: str
) -> None:
    standin.add_environment("staging")
    done = deploy_image(standin, image, tmp_path)
    assert done.returncode == 1
    assert "by digest" in done.stdout
    assert standin.requests == 0


def test_changes_someone_staged_stop_the_deploy_before_any_mutation(
    standin: RailwayStandIn, tmp_path: Path
) -> None:
    env_id = standin.add_environment("staging")
    apply(standin, built_spec(), None, "account")
    standin.world.staged[env_id] = 2
    standin.mutations.clear()
    done = deploy_image(standin, pushed("first"), tmp_path)
    assert done.returncode == 1
    assert "Staged changes" in done.stdout
    assert standin.mutations == []


def _services(stack: str) -> dict[str, Any]:
    services: dict[str, Any] = stack_config(stack)[key("services")]
    return services


def test_a_stack_service_with_deploy_built_runs_its_pushed_image() -> None:
    stack = STACKS[0]
    config = validated_stack(stack)
    name = next(n for n, s in config.of("railway").items() if s.dockerfile)
    service = config.services[name].model_copy(update={"deploy": "built"})
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
    standin: RailwayStandIn, tmp_path: Path
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
    steps = job["steps"]
    at = next(i for i, s in enumerate(steps) if s.get("env", {}).get("IMAGE"))
    step = steps[at]
    assert "freeze-gate.sh" in steps[at - 1]["run"]  # the freeze read afresh just before
    pushed_digest = f"${{{{ needs.images.outputs.{name} }}}}"
    assert step["env"]["IMAGE"] == f"{config.registry}/{name}@{pushed_digest}"
    assert set(step["env"]) == {"IMAGE", "RAILWAY_TOKEN"}  # no other secret in reach

    # Run it as the runner would, in the rendered repository, against the stand-in.
    root = tmp_path / "app"
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text, encoding="utf-8")
    standin.pulls_by_digest = True  # assumed: Railway does not document it (docs/railway.md)
    standin.add_environment(environment.name)
    state = apply(standin, built_spec(name=name), None, "account")
    digest = "sha256:" + hashlib.sha256(b"pushed").hexdigest()
    image = step["env"]["IMAGE"].replace(pushed_digest, digest)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "RAILWAY_TOKEN": PROJECT_TOKEN,
        "RAILWAY_API_URL": standin.url,
        "RAILWAY_DEPLOY_INTERVAL": "0",
        "IMAGE": image,
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


def test_if_railway_cannot_pull_by_digest_the_deploy_fails_and_the_code_before_runs_on(
    standin: RailwayStandIn, tmp_path: Path
) -> None:
    """The stand-in's default, the hardest reading of what Railway does not document: the patch
    takes `name@sha256:...`, the deployment fails at the pull. The job fails saying why, never
    falls back to a tag that moves; what ran before (here an image shipped by tag before the
    service deployed built) runs on, and apply changes nothing."""
    env_id = standin.add_environment("staging")
    spec = built_spec()
    state = apply(standin, spec, None, "account")
    before = f"{REPOSITORY}:v1"
    standin.ship_image(env_id, state.service_id, before)

    done = deploy_image(standin, pushed("first"), tmp_path)
    assert done.returncode == 1
    assert "by digest did not deploy" in done.stdout and "still runs" in done.stdout
    [live] = running(standin, state)
    assert live["code"] == before
    assert [d["code"] for d in standin.world.deployments.values()] == [before, pushed("first")]
    standin.mutations.clear()
    state = apply(standin, spec, state, "project")
    assert standin.mutations == []
    changed = built_spec(variables={**spec.service.variables, "LOG_LEVEL": "debug"})
    apply(standin, changed, state, "project")
    [live] = running(standin, state)
    assert live["code"] == before  # the redeploy copies what runs, never the unpulled source

"""The deploy job's build of a Vercel service, walled off from the steps after it.

`vercel build` runs the app's install and build scripts: any dependency's code. On the runner it
could write `$GITHUB_ENV` or `$GITHUB_PATH` (read before every later step: BASH_ENV, LD_PRELOAD,
a `vercel` of its own first on PATH) or the deploy CLIs' node_modules, and so reach the later
steps that hold the deploy tokens. So it runs in a container, on a copy of the checkout, with
the CLIs mounted read-only and no token, runner file or Docker socket in reach; only the built
`.vercel/output` comes back, its links resolved, for `vercel deploy --prebuilt`."""

from typing import Any

from workflows.actions import run

BUILD = "$RUNNER_TEMP/vercel-build"


def isolated_build(name: str, target: str, prod: str, env: dict[str, str]) -> dict[str, Any]:
    """`env`: the build's variables (no token); `image` is in it as BUILD_IMAGE."""
    passed = " ".join(f"-e {key}" for key in sorted(env) if key != "BUILD_IMAGE")
    return run(
        f"Build the {name} (Vercel, {target}; in a container, no token)",
        f"""\
build="{BUILD}"
rm -rf "$build"
mkdir -p "$build"
cp -R . "$build/src"
docker run --rm {passed} -e CI=1 \\
  -v "$build/src:/src" -v "$RUNNER_TEMP/deploy-tools:/tools:ro" -w /src \\
  "$BUILD_IMAGE" /tools/node_modules/.bin/vercel build{prod}
rm -rf .vercel/output
cp -RL "$build/src/.vercel/output" .vercel/output
""",
        env=env,
    )

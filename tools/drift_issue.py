"""One GitHub issue per stack that says whether its infrastructure drifted: opened (or updated
with a comment) on drift, closed when the stack is clean again. Run by .github/workflows/drift.yml.

    python -m tools.drift_issue --stack staging --drifted true|false [--report FILE]

GITHUB_REPOSITORY (owner/name) and GITHUB_TOKEN (issues: write) come from the environment;
GITHUB_API_URL overrides https://api.github.com, GITHUB_RUN_URL links the run. Exit 0, or 1 when
GitHub refuses.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from components import tls

LABEL = "infrastructure-drift"


def title(stack: str) -> str:
    return f"Infrastructure drift: {stack}"


def body(stack: str, report: str, run_url: str) -> str:
    return (
        f"The `{stack}` stack no longer matches what is deployed ({run_url}).\n\n"
        f"```\n{report.strip() or 'pulumi preview --refresh --expect-no-changes failed'}\n```\n\n"
        f"Bring it back with `pulumi up -s {stack}` (the stack wins), or change the stack file "
        "to what is deployed. This issue closes itself once a drift run finds the stack clean."
    )


def sync(
    client: httpx.Client, repo: str, stack: str, *, drifted: bool, report: str, run_url: str
) -> str:
    """Open, update or close the stack's drift issue; what it did, for the log."""
    found = client.get(
        f"/repos/{repo}/issues", params={"labels": LABEL, "state": "open", "per_page": 100}
    )
    found.raise_for_status()
    mine = [i for i in found.json() if i.get("title") == title(stack) and "pull_request" not in i]
    if drifted and not mine:
        created = client.post(
            f"/repos/{repo}/issues",
            json={"title": title(stack), "body": body(stack, report, run_url), "labels": [LABEL]},
        )
        created.raise_for_status()
        return f"opened #{created.json()['number']}"
    if drifted:
        number = mine[0]["number"]
        comment = f"Still drifted ({run_url}):\n\n```\n{report.strip()}\n```"
        client.post(f"/repos/{repo}/issues/{number}/comments", json={"body": comment})
        client.patch(
            f"/repos/{repo}/issues/{number}", json={"body": body(stack, report, run_url)}
        ).raise_for_status()
        return f"updated #{number}"
    for issue in mine:
        number = issue["number"]
        client.post(
            f"/repos/{repo}/issues/{number}/comments",
            json={"body": f"The `{stack}` stack is clean again ({run_url})."},
        ).raise_for_status()
        client.patch(
            f"/repos/{repo}/issues/{number}", json={"state": "closed", "state_reason": "completed"}
        ).raise_for_status()
    closed = ", ".join(f"#{issue['number']}" for issue in mine)
    return f"closed {closed}" if mine else "nothing to do"


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.drift_issue", description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--drifted", required=True, choices=("true", "false"))
    parser.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    missing = [k for k in ("GITHUB_REPOSITORY", "GITHUB_TOKEN") if not env.get(k)]
    if missing:
        print(f"drift issue: set {' and '.join(missing)}", file=sys.stderr)
        return 1
    report = args.report.read_text() if args.report and args.report.exists() else ""
    headers: dict[str, Any] = {
        "Authorization": f"Bearer {env['GITHUB_TOKEN']}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    base = env.get("GITHUB_API_URL") or "https://api.github.com"
    try:
        with httpx.Client(
            base_url=base, headers=headers, timeout=30, verify=tls.context()
        ) as client:
            done = sync(
                client,
                env["GITHUB_REPOSITORY"],
                args.stack,
                drifted=args.drifted == "true",
                report=report,
                run_url=env.get("GITHUB_RUN_URL", "this run"),
            )
    except httpx.HTTPError as error:
        print(f"drift issue: GitHub refused: {error}", file=sys.stderr)
        return 1
    print(f"drift issue for {args.stack}: {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The day-to-day flow `make sandbox` prints: one shell command per step, each run as is against the
sandbox once its environment file is sourced (a test runs every one and checks its exit code)."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.argo import BROKEN_DIGEST

GOOD_DIGEST = "sha256:" + "600d" * 16
NEXT_DIGEST = "sha256:" + "cafe" * 16
# The branch head, read from the repository on disk: the commit the last step made.
HEAD = '$(git --git-dir "$SANDBOX_GITOPS" rev-parse main)'


@dataclass(frozen=True)
class Step:
    what: str            # printed as the comment above the command
    command: str
    exit_code: int = 0   # what the command exits with (said in the comment when not 0)


def _verify(env: str, cluster: str, token: str) -> str:
    return (f"gitops verify --repo \"$GITOPS_REPO\" --env {env} --region \"$AWS_REGION\" --service api "
            f"--cluster {cluster} --revision {HEAD} --token-env {token} --timeout 60s")


def steps(clusters: dict[str, str]) -> list[Step]:
    staging, prod = clusters["staging"], clusters["prod"]
    return [
        Step("staging: promote a build of api (a commit on main, as the staging pipeline's Promote does)",
             'gitops promote --repo "$GITOPS_REPO" --env staging --service api --tag 1.1.0 '
             f"--digest {GOOD_DIGEST} --token-env STAGING_TOKEN"),
        Step("staging: verify it on the staging cluster (sets the commit status delivery/staging/<region>)",
             _verify("staging", staging, "STAGING_TOKEN")),
        Step("prod: a pull request with exactly what staging runs",
             'gitops promote --repo "$GITOPS_REPO" --env prod --service api --from staging --mode pull-request '
             "--token-env PROD_TOKEN"),
        Step("prod: a reviewer merges it (GitHub's REST API, as the merge button calls it)",
             'curl -sSf -X PUT -H "Authorization: token $PROD_TOKEN" '
             '"$GITHUB_API_URL/repos/$GITOPS_REPOSITORY/pulls/1/merge"'),
        Step("prod: verify the merge commit on the prod cluster",
             _verify("prod", prod, "PROD_TOKEN")),
        Step("staging: a broken build (the sandbox's clusters abort any Rollout of a digest of bad0s)",
             'gitops promote --repo "$GITOPS_REPO" --env staging --service api --tag 1.2.0 '
             f"--digest {BROKEN_DIGEST} --token-env STAGING_TOKEN"),
        Step("staging: its verify fails: the Rollout aborted", _verify("staging", staging, "STAGING_TOKEN"), 9),
        Step("staging: revert to the last verified version (1.1.0) and block the broken digest",
             'gitops revert --repo "$GITOPS_REPO" --env staging --service api --revision ' + HEAD
             + ' --reason "verify failed: Rollout aborted" --token-env STAGING_TOKEN'),
        Step("prod: freeze it for two hours",
             'gitops freeze --repo "$GITOPS_REPO" --env prod --until 2h --reason "sandbox: release freeze" '
             "--token-env PROD_TOKEN"),
        Step("prod: a promotion while frozen is refused",
             'gitops promote --repo "$GITOPS_REPO" --env prod --service api --tag 1.3.0 '
             f"--digest {NEXT_DIGEST} --mode pull-request --token-env PROD_TOKEN", 15),
        Step("prod: end the freeze",
             'gitops unfreeze --repo "$GITOPS_REPO" --env prod --reason "sandbox: freeze over" --token-env PROD_TOKEN'),
        Step("the audit trail: promotions, the revert and its block, the freeze",
             'gitops history --repo "$GITOPS_REPO" --token-env PROD_TOKEN'),
        Step("DORA metrics of staging: deployments, lead time, change failure rate, time to restore",
             'gitops dora --repo "$GITOPS_REPO" --env staging --token-env STAGING_TOKEN'),
        Step("could the staging token skip the prod review? (the repository's rulesets, as that token sees them)",
             'gitops check-repo --repo "$GITOPS_REPO" --env staging --mode commit --token-env STAGING_TOKEN'),
        Step("can the prod token push its promotion branches, and never skip the review?",
             'gitops check-repo --repo "$GITOPS_REPO" --env prod --mode pull-request --token-env PROD_TOKEN'),
    ]


def render(steps: list[Step]) -> list[str]:
    """The printed lines: a numbered comment per step (with its exit code when not 0), then the
    command on one line."""
    lines = []
    for number, step in enumerate(steps, 1):
        exits = f" (exits {step.exit_code})" if step.exit_code else ""
        lines += [f"# {number}. {step.what}{exits}", step.command, ""]
    return lines

"""`gitops promote`: set a service's image tag (and digest) in one environment of the GitOps repo.

The use case works on a blobless, shallow, sparse clone holding only the files it reads, so its
cost does not grow with the repository's history or size. In commit mode it pushes to the branch
and, when the branch moved meanwhile, integrates the new head, re-applies the edit and pushes
again (bounded, with jittered exponential backoff), so concurrent promotions never lose an
update. In pull-request mode it force-pushes `promote/<env>/<service>` and opens or updates the
pull request. Nothing reaches the remote before every check has passed, and a push is atomic, so
a promotion that dies at any point leaves the remote as it was or fully updated.
"""

from __future__ import annotations

import argparse
import difflib
import os
import random
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from gitops import blocklist, freeze, output, schema
from gitops.credentials import add_token_arguments, token_from_args
from gitops.errors import PushConflictError, UsageError, ValuesError
from gitops.git import GitClient, GitRunner, Identity, PushRejected
from gitops.values import (deployable, parse_image, read_text, set_image, validate_digest,
                           validate_tag)

DEFAULT_AUTHOR = Identity("delivery-pipeline[bot]", "delivery-pipeline-bot@noreply.invalid")
DEFAULT_MAX_ATTEMPTS = 10
# Full-jitter backoff between push attempts: uniform(0, min(cap, base * 2**retry)) seconds.
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 10.0

# A directory name: no separators, not "." or "..", and usable in a branch name (promote/<env>/<svc>).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_AUTHOR = re.compile(r"\s*([^<>\n]+?)\s*<([^<>\s]+@[^<>\s]+)>\s*")
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


@dataclass(frozen=True)
class PromoteRequest:
    repo_url: str
    env: str
    service: str
    tag: str | None = None            # the tag to promote, or None with from_env
    digest: str | None = None
    from_env: str | None = None       # take tag and digest from this environment's values file
    branch: str = "main"
    mode: str = "commit"              # "commit" | "pull-request"
    auto_merge: bool = False
    source_commit: str | None = None
    execution_id: str | None = None
    author: Identity = DEFAULT_AUTHOR
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    github_api_url: str | None = None
    override_freeze_reason: str | None = None  # --override-freeze --reason: promote during a freeze

    @property
    def values_path(self) -> str:
        return f"envs/{self.env}/{self.service}/values.yaml"

    @property
    def pr_branch(self) -> str:
        return f"promote/{self.env}/{self.service}"


@dataclass(frozen=True)
class PromoteResult:
    noop: bool
    env: str
    service: str
    old_tag: str | None
    new_tag: str
    digest: str | None
    commit: str | None        # the pushed commit (on the branch, or on promote/<env>/<svc>)
    pr_number: int | None
    pr_url: str | None
    attempts: int
    # The commit that carries the requested image: the pushed commit, or on a no-op the branch
    # head already carrying it (a Verify stage always has a revision to wait for).
    revision: str


def validate_request(req: PromoteRequest) -> None:
    """Reject bad input before anything is cloned."""
    for flag, name in (("--env", req.env), ("--service", req.service), ("--from", req.from_env)):
        if name is not None and (not _NAME.fullmatch(name) or ".." in name
                                 or name.endswith(".lock")):
            raise UsageError(f"{flag} {name!r} is not a plain directory name: use letters, digits, "
                             ". _ - (starting with a letter or digit)")
    if (req.tag is None) == (req.from_env is None):
        raise UsageError("give exactly one of --tag TAG or --from ENV")
    if req.from_env is not None and req.digest is not None:
        raise UsageError("--digest goes with --tag; --from takes the digest from that environment")
    if req.from_env == req.env:
        raise UsageError(f"--from {req.from_env} is the environment being promoted into")
    if req.tag is not None:
        validate_tag(req.tag)
    if req.digest is not None:
        validate_digest(req.digest)
    if req.source_commit is not None and not _SHA.fullmatch(req.source_commit):
        raise UsageError(f"--source-commit {req.source_commit!r} is not a commit sha (7-64 hex digits)")
    if req.execution_id is not None and (not req.execution_id.isprintable() or not req.execution_id):
        raise UsageError("--execution-id must be one line of printable characters")
    if req.mode not in ("commit", "pull-request"):
        raise UsageError(f"--mode {req.mode!r}: use commit or pull-request")
    if req.auto_merge and req.mode != "pull-request":
        raise UsageError("--auto-merge applies to --mode pull-request only")
    if req.max_attempts < 1:
        raise UsageError("--max-attempts must be at least 1")
    if re.match(r"[a-z][a-z0-9+.-]*://[^/]*@", req.repo_url):
        raise UsageError("the repository URL holds credentials; drop them from the URL and pass the "
                         "token with --token-env or --token-secret")


def promote(req: PromoteRequest, git: GitClient, *, token: str | None = None,
            sleep: Callable[[float], None] = time.sleep) -> PromoteResult:
    validate_request(req)
    if not git.valid_branch_name(req.branch):
        raise UsageError(f"--branch {req.branch!r} is not a valid branch name")
    if req.mode == "pull-request":
        # Imported only here: PyGithub is the slowest import of the package, and commits need none.
        from gitops import forge

        forge.parse_repo_url(req.repo_url)  # fail before pushing a branch no PR could be opened for
    with tempfile.TemporaryDirectory(prefix="gitops-promote-") as tmp:
        workdir = Path(tmp) / "repo"
        git.clone_sparse(req.repo_url, req.branch, workdir, _sparse_patterns(req))
        if req.mode == "pull-request":
            return _promote_by_pull_request(req, git, workdir, token)
        return _promote_by_commit(req, git, workdir, sleep)


def _sparse_patterns(req: PromoteRequest) -> list[str]:
    paths = [req.values_path, f"charts/{req.service}/values.schema.json",
             f"charts/{req.service}/values.yaml"]
    if req.from_env:
        paths.append(f"envs/{req.from_env}/{req.service}/values.yaml")
    return ["/" + path for path in paths]


@dataclass(frozen=True)
class _Edit:
    old_text: str
    new_text: str
    old_tag: str | None
    new_tag: str
    digest: str | None

    @property
    def noop(self) -> bool:
        return self.old_text == self.new_text


def _prepare_edit(req: PromoteRequest, git: GitClient, workdir: Path) -> _Edit:
    """Read the checked-out head and compute the edit; raise before anything is written."""
    freeze.refuse_if_frozen(git, workdir, req.env, req.service, req.override_freeze_reason)
    tag, digest = req.tag, req.digest
    if req.from_env:
        source_path = f"envs/{req.from_env}/{req.service}/values.yaml"
        source = deployable(parse_image(_read_checked(git, workdir, source_path), source_path),
                            source_path)
        tag, digest = source.tag, source.digest
    assert tag is not None
    blocklist.refuse_blocked(git, workdir, req.service, tag, digest)
    old_text = _read_checked(git, workdir, req.values_path)
    old = parse_image(old_text, req.values_path)
    if old.tag == tag and (digest is None or old.digest == digest):
        return _Edit(old_text, old_text, old.tag, tag, old.digest)
    new_text = set_image(old_text, tag, digest, req.values_path)
    schema.validate_values(workdir, req.service, new_text, source=req.values_path)
    return _Edit(old_text, new_text, old.tag, tag, digest)


def _read_checked(git: GitClient, workdir: Path, path: str) -> str:
    """The file at `path` in the checkout, after making sure that the tree really has a file there:
    no component may be a symlink (it could point outside the repository) or missing."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
    modes = git.tree_entry_modes(workdir, prefixes)
    for prefix in prefixes:
        mode = modes.get(prefix)
        if mode is None:
            raise ValuesError(f"{path} does not exist on the branch ({prefix} is missing); "
                              "check --env/--service, or create the file first")
        if mode == "120000":
            raise ValuesError(f"{prefix} is a symlink in the repository; promote edits only "
                              "regular files inside it")
        expected_tree = prefix != path
        if (mode == "040000") != expected_tree:
            raise ValuesError(f"{prefix} is not a {'directory' if expected_tree else 'file'} "
                              "in the repository")
    return read_text(workdir / path)


def _promote_by_commit(req: PromoteRequest, git: GitClient, workdir: Path,
                       sleep: Callable[[float], None]) -> PromoteResult:
    for attempt in range(1, req.max_attempts + 1):
        edit = _prepare_edit(req, git, workdir)
        if edit.noop:
            return _result(req, edit, attempts=attempt, revision=git.head(workdir))
        _write(workdir / req.values_path, edit.new_text)
        commit = git.commit(workdir, [req.values_path], _commit_message(req, edit), req.author)
        try:
            git.push(workdir, req.branch)
            return _result(req, edit, attempts=attempt, revision=commit, commit=commit)
        except PushRejected:
            if attempt == req.max_attempts:
                break
            sleep(random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))))
            git.fetch_and_reset(workdir, req.branch)
    raise PushConflictError(f"{req.branch} kept moving: the push was rejected {req.max_attempts} "
                            f"times; nothing was changed. Re-run the promotion, or raise "
                            "--max-attempts")


def _promote_by_pull_request(req: PromoteRequest, git: GitClient, workdir: Path,
                             token: str | None) -> PromoteResult:
    edit = _prepare_edit(req, git, workdir)
    if edit.noop:
        return _result(req, edit, attempts=1, revision=git.head(workdir))
    proposed = git.read_remote_file(workdir, req.pr_branch, req.values_path)
    previous_tag = parse_image(proposed, req.values_path).tag if proposed else None
    _write(workdir / req.values_path, edit.new_text)
    commit = git.commit(workdir, [req.values_path], _commit_message(req, edit), req.author)
    # The branch belongs to this promotion: a newer proposal replaces the older one.
    git.push(workdir, req.pr_branch, force=True)
    superseded = (f"Superseded: this pull request now promotes `{edit.new_tag}` "
                  f"(it proposed `{previous_tag}`)."
                  if previous_tag is not None and previous_tag != edit.new_tag else None)
    from gitops import forge

    pr = forge.open_or_update_pull_request(
        repo_url=req.repo_url, api_url=req.github_api_url, token=token, head=req.pr_branch,
        base=req.branch, title=_title(req, edit), body=_pull_request_body(req, edit),
        superseded_note=superseded, auto_merge=req.auto_merge)
    return _result(req, edit, attempts=1, revision=commit, commit=commit, pr_number=pr.number,
                   pr_url=pr.url)


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))


def _title(req: PromoteRequest, edit: _Edit) -> str:
    return f"promote({req.env}/{req.service}): {edit.old_tag or '(none)'} → {edit.new_tag}"


def _commit_message(req: PromoteRequest, edit: _Edit) -> str:
    trailers = [("Source-Commit", req.source_commit), ("Pipeline-Execution", req.execution_id),
                ("Image-Digest", edit.digest)]
    trailers += freeze.override_trailers(req.override_freeze_reason).items()
    body = "\n".join(f"{key}: {value}" for key, value in trailers if value)
    summary = (f"Set image.tag of {req.service} in {req.env} to {edit.new_tag}"
               + (f" from {req.from_env}" if req.from_env else "") + ".")
    return f"{_title(req, edit)}\n\n{summary}\n" + (f"\n{body}\n" if body else "")


def _pull_request_body(req: PromoteRequest, edit: _Edit) -> str:
    rows = [("Service", f"`{req.service}`"), ("Environment", f"`{req.env}`"),
            ("Tag", f"`{edit.old_tag or '(none)'}` → `{edit.new_tag}`"),
            ("Digest", f"`{edit.digest}`" if edit.digest else "(none)")]
    if req.from_env:
        rows.append(("Promoted from", f"`{req.from_env}`"))
    if req.source_commit:
        rows.append(("Source commit", f"`{req.source_commit}`"))
    if req.execution_id:
        rows.append(("Pipeline execution", _execution_link(req.execution_id)))
    diff = "".join(line if line.endswith("\n") else line + "\n" for line in difflib.unified_diff(
        edit.old_text.replace("\r\n", "\n").splitlines(True),
        edit.new_text.replace("\r\n", "\n").splitlines(True),
        f"a/{req.values_path}", f"b/{req.values_path}"))
    table = "\n".join(f"| {key} | {value} |" for key, value in rows)
    return (f"Promotes **{req.service}** in **{req.env}** to `{edit.new_tag}`.\n\n"
            f"| | |\n|---|---|\n{table}\n\n```diff\n{diff}```\n")


def _execution_link(execution_id: str) -> str:
    """A console link when running in CodeBuild under CodePipeline, else the id itself."""
    initiator = os.environ.get("CODEBUILD_INITIATOR", "")
    region = os.environ.get("AWS_REGION")
    if initiator.startswith("codepipeline/") and region:
        pipeline = initiator.removeprefix("codepipeline/")
        return (f"[{execution_id}](https://{region}.console.aws.amazon.com/codesuite/codepipeline/"
                f"pipelines/{pipeline}/executions/{execution_id}/timeline?region={region})")
    return f"`{execution_id}`"


def _result(req: PromoteRequest, edit: _Edit, *, attempts: int, revision: str,
            commit: str | None = None, pr_number: int | None = None, pr_url: str | None = None
            ) -> PromoteResult:
    return PromoteResult(noop=edit.noop, env=req.env, service=req.service, old_tag=edit.old_tag,
                         new_tag=edit.new_tag, digest=edit.digest, commit=commit,
                         pr_number=pr_number, pr_url=pr_url, attempts=attempts, revision=revision)


# --- CLI -----------------------------------------------------------------------------------------

def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "promote", help="set a service's image tag in one environment of the GitOps repository",
        description="Set image.tag (and image.digest) in envs/<env>/<service>/values.yaml, by a "
                    "commit on the branch or a pull request. Exit codes: see docs/gitops.md.")
    p.add_argument("--repo", required=True, help="GitOps repository URL (no credentials in it)")
    p.add_argument("--branch", default="main", help="branch Argo CD follows (default: main)")
    p.add_argument("--env", required=True, help="environment directory under envs/")
    p.add_argument("--service", required=True, help="service directory under envs/<env>/")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--tag", help="image tag to promote")
    source.add_argument("--from", dest="from_env", metavar="ENV",
                        help="promote the tag and digest that ENV runs (same branch head)")
    p.add_argument("--digest", help="image digest (sha256:<64 hex>) of the tag; with --tag only")
    p.add_argument("--mode", choices=("commit", "pull-request"), default="commit",
                   help="push a commit to --branch, or open/update a pull request (default: commit)")
    p.add_argument("--auto-merge", action="store_true",
                   help="pull-request mode: enable the repository's auto-merge on the PR")
    add_token_arguments(p)
    freeze.add_override_arguments(p)
    p.add_argument("--source-commit", metavar="SHA", help="application commit the image was built from")
    p.add_argument("--execution-id", metavar="ID", help="pipeline execution that runs this promotion")
    p.add_argument("--author", default=str(DEFAULT_AUTHOR),
                   help=f'commit author "Name <email>" (default: {DEFAULT_AUTHOR})')
    p.add_argument("--max-attempts", type=int, default=DEFAULT_MAX_ATTEMPTS,
                   help=f"pushes tried while the branch keeps moving (default: {DEFAULT_MAX_ATTEMPTS})")
    p.add_argument("--github-api-url", default=os.environ.get("GITHUB_API_URL"),
                   help="GitHub API base (default: $GITHUB_API_URL, else derived from --repo)")
    p.add_argument("--output", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def parse_author(text: str) -> Identity:
    match = _AUTHOR.fullmatch(text)
    if not match:
        raise UsageError(f'--author {text!r} is not "Name <email>"')
    return Identity(match[1], match[2])


def run(args: argparse.Namespace) -> int:
    req = PromoteRequest(
        override_freeze_reason=freeze.override_reason(args),
        repo_url=args.repo, env=args.env, service=args.service, tag=args.tag, digest=args.digest,
        from_env=args.from_env, branch=args.branch, mode=args.mode, auto_merge=args.auto_merge,
        source_commit=args.source_commit, execution_id=args.execution_id,
        author=parse_author(args.author), max_attempts=args.max_attempts,
        github_api_url=args.github_api_url)
    validate_request(req)
    token = token_from_args(args)
    result = promote(req, GitClient(GitRunner(token)), token=token)
    if args.output == "json":
        output.print_json(asdict(result))
    else:
        output.print_line(_describe(result, req))
    return 0


def _describe(result: PromoteResult, req: PromoteRequest) -> str:
    where = f"{result.env}/{result.service}"
    if result.noop:
        return f"no-op: {where} is already at {result.new_tag} on {req.branch}; nothing committed"
    moved = f"{where}: {result.old_tag or '(none)'} → {result.new_tag}"
    if result.pr_url:
        return f"{moved} proposed on {req.pr_branch}: {result.pr_url}"
    retries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
    return f"{moved} committed as {result.commit} on {req.branch}{retries}"


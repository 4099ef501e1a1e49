"""The block list of an environment (`envs/<env>/blocklist.yaml`): image digests promote refuses.

`gitops revert` and `gitops block` add a digest with the reason and the pipeline execution;
`gitops unblock` removes it. Promote refuses a digest blocked in *any* environment of the
repository: the repository does not record the order of environments, a digest that failed in one
is refused in every later one as the release flow requires, and re-promoting it into an earlier one
(which already ran it) is refused too, the safe side; `gitops unblock` lifts it everywhere it is
listed. A tag without a digest is refused when a blocked entry has that tag (tags are immutable in
the project's registries).

The file is written by the tool, whole, in a fixed shape; a file that is not in that shape
fails closed (promote stops, naming the file) rather than being ignored. An entry edited by hand
still means what it says: a digest in upper case, with surrounding spaces or without its
`sha256:` prefix is read as the digest it names, a service name with surrounding spaces as that
name; a digest or service that is not one at all fails closed.
"""

from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from ruamel.yaml import YAML

from gitops.repo import files, layout
from gitops.yaml import document
from gitops.errors import DigestBlocked, ValuesError
from gitops.clients.git import GitClient
from gitops.clients.revisions import HistoryClient

_HEADER = ("# Image digests `gitops promote` refuses, written by `gitops revert`, `gitops block` and\n"
           "# `gitops unblock` (each change is a commit with the reason). Do not edit by hand.\n")
_FIELDS = ("service", "digest", "tag", "reason", "execution")
_HAND_WRITTEN_DIGEST = re.compile(r"(?i)(?:sha256:)?([0-9a-f]{64})")


@dataclass(frozen=True)
class Entry:
    service: str
    digest: str
    tag: str | None
    reason: str
    execution: str | None


def parse(text: str | None, where: str) -> list[Entry]:
    """The entries of a block list's text (None: no file, no entries), read within the limits of
    gitops.yaml.document."""
    if text is None:
        return []
    data = document.load(text, where)
    blocked = data.get("blocked") if isinstance(data, dict) else None
    if data and not isinstance(blocked, list):
        raise ValuesError(f"{where} is not a block list (a `blocked:` list); restore it from "
                          "history")
    entries = []
    for item in blocked or []:
        if not isinstance(item, dict) or set(item) - set(_FIELDS) or not all(
                isinstance(item.get(key), str) for key in ("service", "digest", "reason")):
            raise ValuesError(f"{where}: entry {item!r} needs service, digest and reason "
                              "strings; restore the file from history")
        entries.append(Entry(**{key: item.get(key) for key in _FIELDS}
                             | {"service": _service(item["service"], where),
                                "digest": _digest(item["digest"], where)}))
    return entries


def _digest(written: str, where: str) -> str:
    """The digest an entry names, as promote compares digests: sha256: and 64 lowercase hex."""
    match = _HAND_WRITTEN_DIGEST.fullmatch(written.strip())
    if match is None:
        raise ValuesError(f"{where}: {written!r} is not an image digest (sha256: followed by 64 hex "
                          "digits); correct the entry or restore the file from history")
    return "sha256:" + match[1].lower()


def _service(written: str, where: str) -> str:
    name = written.strip()
    if not layout.is_label(name):
        raise ValuesError(f"{where}: service {written!r} is not a service name (a DNS-1123 label); "
                          "correct the entry or restore the file from history")
    return name


def render(entries: list[Entry]) -> str:
    body = {"blocked": [{k: v for k, v in asdict(e).items() if v is not None} for e in entries]}
    out = io.StringIO()
    writer = YAML(typ="safe", pure=True)
    writer.default_flow_style = False
    writer.width = 4096  # one reason, one line
    writer.dump(body, out)
    return _HEADER + out.getvalue()


def find(entries: list[Entry], service: str, digest: str | None, tag: str | None
         ) -> Entry | None:
    for entry in entries:
        if entry.service == service and (entry.digest == digest or
                                         (digest is None and tag and entry.tag == tag)):
            return entry
    return None


def read(workdir: Path, env: str) -> list[Entry]:
    """The block list of `env` in the checkout `workdir`, through the checks of gitops.repo.files
    (a regular file, no symlink on the way); no entries when the branch has none."""
    path = layout.blocklist_file(env)
    return parse(files.read_repo_file(workdir, path), path)


def read_all(git: GitClient, workdir: Path) -> dict[str, list[Entry]]:
    """Every environment's block list in the checkout `workdir`, whose sparse patterns hold
    layout.BLOCKLIST_GLOB; the environments are those of HEAD's tree."""
    envs = HistoryClient(git.runner).list_dir(workdir, "HEAD", layout.ENVS_DIR)
    return {env: read(workdir, env) for env in envs}


def refuse_blocked(git: GitClient, workdir: Path, service: str, tag: str,
                   digest: str | None) -> None:
    """Raise DigestBlocked when `service`'s image is blocked in any environment at HEAD."""
    for env, entries in sorted(read_all(git, workdir).items()):
        entry = find(entries, service, digest, tag)
        if entry is not None:
            raise DigestBlocked(
                f"{service} {entry.tag or tag} ({entry.digest}) is blocked in {env}: "
                f"{entry.reason}" + (f" (execution {entry.execution})" if entry.execution else "")
                + f"; promote another version, or lift it with `gitops unblock --env {env} "
                f"--service {service} --digest {entry.digest} --reason …`")

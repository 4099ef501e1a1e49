"""The gitops CLI as a zip the pipeline's CodeBuild projects download from their artifact bucket.

The object key carries a hash of the package's files, so a change to the tool uploads a new
object and updates the projects that point at it; an unchanged tool changes nothing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi

GITOPS_DIR = Path(__file__).resolve().parent.parent / "gitops"


def _files() -> list[Path]:
    return sorted(p for p in GITOPS_DIR.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def bundle_key() -> str:
    digest = hashlib.sha256()
    for path in _files():
        digest.update(path.relative_to(GITOPS_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return f"tools/gitops-{digest.hexdigest()[:16]}.zip"


def bundle_archive() -> pulumi.AssetArchive:
    return pulumi.AssetArchive({
        f"gitops/{path.relative_to(GITOPS_DIR).as_posix()}": pulumi.FileAsset(str(path)) for path in _files()
    })

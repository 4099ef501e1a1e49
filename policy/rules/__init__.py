"""The delivery baseline: every policy of the pack, in the order the docs table lists them.

`policy/__main__.py` registers `POLICIES` in the CrossGuard `PolicyPack`; `policy/offline.py`
evaluates the same objects against the offline plan. Enforcement is per policy (mandatory unless
a rule says advisory); `DEFAULT_ENFORCEMENT` is the pack's level for a policy that sets none.
"""

from __future__ import annotations

from . import argocd, cloudwatch, codebuild, codepipeline, ecr, iam, kms, s3, sns
from .base import MANDATORY

PACK_NAME = "delivery-baseline"
DEFAULT_ENFORCEMENT = MANDATORY
POLICIES = [
    *s3.POLICIES,
    *kms.POLICIES,
    *codepipeline.POLICIES,
    *codebuild.POLICIES,
    *sns.POLICIES,
    *cloudwatch.POLICIES,
    *ecr.POLICIES,
    *iam.POLICIES,
    *argocd.POLICIES,
]

"""The AWS clients the CLI makes (CodePipeline, ECR): bounded, so a stalled endpoint costs seconds.

Each call tries at most ATTEMPTS times (botocore's standard retry mode, with backoff, on throttling
and transient errors), each try waiting at most CONNECT_TIMEOUT_S to connect and READ_TIMEOUT_S for
each read: botocore's defaults, 60 s reads and five retries, would hold a pipeline action for
minutes. boto3 is imported by the calls that need it only, so the commands that never talk to AWS
do not pay for it.
"""

from __future__ import annotations

import os
from typing import Any

ATTEMPTS = 3
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
# Error codes of a call refused for its rate, after the retries.
THROTTLED = ("ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded")


def bounded_client(service: str, region: str | None) -> Any:
    """A boto3 client of `service` in `region` (default: $AWS_REGION, which CodeBuild sets, else the
    AWS configuration), each call bounded by ATTEMPTS × (CONNECT_TIMEOUT_S + READ_TIMEOUT_S) and the
    retries' backoff."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, region_name=region or os.environ.get("AWS_REGION") or None,
                        config=Config(retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
                                      connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S))

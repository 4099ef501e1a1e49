"""The CodePipeline transition switch of `freeze --pipelines`: disable (unfreeze: re-enable) the
inbound transition of each frozen pipeline's Promote stage, so executions wait before Promote while
source, build and tests keep running."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gitops.clients.codepipeline import THROTTLED

# The stage whose inbound transition a freeze disables: the one that writes the GitOps repository.
PROMOTE_STAGE = "Promote"
# CodePipeline's DisabledReason: 1-300 characters of this set (its API model). Transitions this
# tool disabled carry the marker first, so unfreeze re-enables only those.
_REASON_CHARS = re.compile(r"[^a-zA-Z0-9!@ ().*?-]+")
MAX_TRANSITION_REASON = 300
TRANSITION_MARKER = "gitops freeze"
# CodePipeline ("Working with stage transitions"): re-enabling a transition runs only the latest
# revision waiting at it, and nothing resumes through a transition disabled longer than this.
RESUME_LIMIT = timedelta(days=30)


def pipeline_name(app: str, service: str, env: str) -> str:
    """The pipeline of a service in an environment, as the Pulumi program names it
    (components.naming.Names.pipeline; a test keeps the two in step)."""
    return f"{app}-{service}-{env}"


def transition_reason(env: str, service: str | None, until: datetime, reason: str,
                      zone: ZoneInfo) -> str:
    """What CodePipeline's console shows on the disabled transition: the marker, scope, end and
    reason, in the characters its API accepts (others become spaces: no / or :), at most 300."""
    end = until.astimezone(zone).strftime("%Y-%m-%d %H.%M %Z")
    text = f"{TRANSITION_MARKER} {service or 'every service'} in {env} until {end} - {reason}"
    cleaned = re.sub(r" {2,}", " ", _REASON_CHARS.sub(" ", text)).strip()
    return cleaned[:MAX_TRANSITION_REASON].rstrip()


def held_execution_notes(enable: bool, now: datetime, until: datetime | None = None) -> list[str]:
    """What a held execution becomes, said beside the transitions switched: CodePipeline resumes
    only the latest revision, and none after RESUME_LIMIT; a warning when the freeze (`until`)
    outlasts that."""
    days = RESUME_LIMIT.days
    if enable:
        notes = [f"note: each re-enabled transition runs only the latest revision waiting at it; a transition "
                 f"disabled more than {days} days resumes nothing: start those pipelines again (Release change)"]
    else:
        notes = [f"note: executions wait before {PROMOTE_STAGE}; re-enabling (unfreeze --pipelines) runs only the "
                 f"latest revision waiting there, and nothing after {days} days disabled"]
    if until is not None and until - now > RESUME_LIMIT:
        notes.append(f"warning: the freeze lasts {(until - now).days} days, more than the {days} days after which "
                     f"CodePipeline resumes nothing through a disabled transition: when it ends, start the "
                     f"pipelines again (Release change) or unfreeze --pipelines before day {days}")
    return notes


@dataclass(frozen=True)
class TransitionChange:
    pipeline: str
    outcome: str      # disabled | enabled | already disabled | already enabled | left disabled | failed
    detail: str = ""


def switch_transitions(client: Any, pipelines: list[str], *, enable: bool,
                       reason: str = "") -> list[TransitionChange]:
    """Disable (or enable) the inbound transition of each pipeline's Promote stage, reading its
    state first so the report says what really changed. On enable, a transition someone disabled
    by hand (its reason lacks the marker) stays disabled. Errors are reported per pipeline."""
    from botocore.exceptions import BotoCoreError, ClientError

    changes = []
    for name in pipelines:
        try:
            changes.append(_switch_one(client, name, enable, reason))
        except ClientError as e:
            changes.append(TransitionChange(name, "failed", _client_error(e, name)))
        except BotoCoreError as e:
            changes.append(TransitionChange(name, "failed", f"{e}; check the AWS credentials and "
                                                            "--region"))
    return changes


def _switch_one(client: Any, name: str, enable: bool, reason: str) -> TransitionChange:
    state = client.get_pipeline_state(name=name)
    stage = next((s for s in state.get("stageStates", []) if s.get("stageName") == PROMOTE_STAGE), None)
    if stage is None:
        return TransitionChange(name, "failed", f"has no stage {PROMOTE_STAGE}; nothing changed")
    transition = stage.get("inboundTransitionState", {})
    enabled = transition.get("enabled", True)
    disabled_reason = transition.get("disabledReason", "")
    if enable:
        if enabled:
            return TransitionChange(name, "already enabled")
        if not disabled_reason.startswith(TRANSITION_MARKER):
            return TransitionChange(name, "left disabled",
                                    f"disabled by {transition.get('lastChangedBy', 'someone')} for "
                                    f"{disabled_reason!r}, not by a freeze")
        client.enable_stage_transition(pipelineName=name, stageName=PROMOTE_STAGE,
                                       transitionType="Inbound")
        return TransitionChange(name, "enabled")
    if not enabled:
        return TransitionChange(name, "already disabled", disabled_reason)
    client.disable_stage_transition(pipelineName=name, stageName=PROMOTE_STAGE,
                                    transitionType="Inbound", reason=reason)
    return TransitionChange(name, "disabled", reason)


def _client_error(e: Any, name: str) -> str:
    code = e.response.get("Error", {}).get("Code", "")
    message = e.response.get("Error", {}).get("Message", "")
    if code == "PipelineNotFoundException":
        return f"no such pipeline; check --app and --region ({message})".strip()
    if code == "StageNotFoundException":
        return f"no stage {PROMOTE_STAGE} ({message})"
    if code in THROTTLED:
        return "throttled by CodePipeline after retries; run the command again"
    if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException"):
        return (f"access denied ({message}); the caller needs codepipeline:GetPipelineState, "
                "DisableStageTransition and EnableStageTransition on it")
    return f"{code}: {message}"

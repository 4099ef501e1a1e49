"""Typed errors of the gitops CLI; each carries the process exit code the CLI returns for it.

Exit code 0 is success, including "no-op: already at that tag".
"""


class GitopsError(Exception):
    """Base of every error the CLI reports; message is user-facing, already redacted."""

    exit_code = 1


class UsageError(GitopsError):
    """Bad argument, name, tag or digest."""

    exit_code = 2


class ValuesError(GitopsError):
    """Values file missing, unparsable, key missing, schema broken."""

    exit_code = 3


class GitError(GitopsError):
    """Git failed (not retryable), remote unreachable."""

    exit_code = 4


class PushConflictError(GitopsError):
    """Push still rejected after all retries."""

    exit_code = 5


class ForgeError(GitopsError):
    """GitHub API failure (including rate limit after retries)."""

    exit_code = 6


class CredentialsError(GitopsError):
    """Token missing or secret unreadable."""

    exit_code = 7


class VerifyTimeout(GitopsError):
    """Verify: the revision was not seen running, Healthy, within --timeout (or a paused step past
    --pause-timeout)."""

    exit_code = 8


class VerifyDegraded(GitopsError):
    """Application Degraded or sync failed."""

    exit_code = 9


class EndpointUnreachable(GitopsError):
    """Verify: the cluster's API endpoint could not be reached (or its TLS certificate not verified)."""

    exit_code = 10


class VerifySuperseded(GitopsError):
    """A later commit changed the service's files before the revision could be seen running: its
    own verification decides. Not a failure of the verified version (do not revert on it)."""

    exit_code = 12


class NoVerifiedVersion(GitopsError):
    """Revert found no earlier version that passed verification; the bad digest is blocked."""

    exit_code = 13


class DigestBlocked(GitopsError):
    """Promote refused an image digest on an environment's block list (gitops unblock lifts it)."""

    exit_code = 14


class FrozenError(GitopsError):
    """A freeze or window applies: promotions wait. `active` holds each freeze that applies."""

    exit_code = 15

    def __init__(self, message: str, active: list) -> None:
        super().__init__(message)
        self.active = active


class ProposalRaceLost(GitopsError):
    """Pull-request mode: another run changed the proposal branch in between; this run's proposal
    is not what the branch (and the pull request, written from it) holds."""

    exit_code = 16


class PushOutcomeUnknown(GitopsError):
    """A push got no answer and reading the remote ref back failed too: it may have landed."""

    exit_code = 17


class GuardRailsMissing(GitopsError):
    """check-repo: a guard rail of the GitOps repository is missing or bypassable."""

    exit_code = 18


class NotProven(GitopsError):
    """Promote (or proof) refused a version its upstream environment has not proven: a region
    lacks a success status for it, or the soak still runs. The message names which, or until when."""

    exit_code = 19


class NothingVerified(GitopsError):
    """Revert found no version of the service ever verified in the environment: without that
    evidence it changes nothing (no block, no rewrite)."""

    exit_code = 20


def exit_codes() -> list[tuple[int, str, str]]:
    """(exit code, error class, what it means) of every error class of this module, in code order:
    what `gitops --help` and the exit-code reference list."""
    classes = [value for value in globals().values()
               if isinstance(value, type) and issubclass(value, GitopsError) and "exit_code" in vars(value)]
    return [(cls.exit_code, cls.__name__, _meaning(cls))
            for cls in sorted(classes, key=lambda cls: cls.exit_code)]


def _meaning(cls: type[GitopsError]) -> str:
    """The first paragraph of the class's docstring on one line; the base class is what is left."""
    if cls is GitopsError:
        return "any other failure"
    return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())

"""The XSOAR playbook interpreter of the local runtime (see interpreter.py for the semantics)."""

from localsoc.playbook.approvals import (
    APPROVAL_MODES,
    ApprovalAnswer,
    ApprovalProvider,
    ApprovalRequest,
    ApproveAll,
    AskAtTerminal,
    NobodyAnswers,
    Question,
    RejectAll,
    Reply,
    make_provider,
)
from localsoc.playbook.errors import PlaybookError, PlaybookUnsupported
from localsoc.playbook.interpreter import (
    SUPPORTED_TASK_TYPES,
    ApprovalRecord,
    Event,
    Failure,
    PlaybookInterpreter,
    PlaybookResult,
    Scope,
    TaskRecord,
    check_playbook,
)
from localsoc.playbook.loader import Playbook, PlaybookLibrary, load_playbook
from localsoc.playbook.values import OPERATORS, TRANSFORMERS

__all__ = [
    "APPROVAL_MODES",
    "OPERATORS",
    "SUPPORTED_TASK_TYPES",
    "TRANSFORMERS",
    "ApprovalAnswer",
    "ApprovalProvider",
    "ApprovalRecord",
    "ApprovalRequest",
    "ApproveAll",
    "AskAtTerminal",
    "Event",
    "Failure",
    "NobodyAnswers",
    "Playbook",
    "PlaybookError",
    "PlaybookInterpreter",
    "PlaybookLibrary",
    "PlaybookResult",
    "PlaybookUnsupported",
    "Question",
    "RejectAll",
    "Reply",
    "Scope",
    "TaskRecord",
    "check_playbook",
    "load_playbook",
    "make_provider",
]

"""SQLModel tables. Each area keeps its tables in its own module; all are re-exported here
so that Alembic and the repo functions see one metadata."""

from llmmon.storage.models.checks import AnswerCheck, ClaimCheck
from llmmon.storage.models.evals import EvalResult, EvalRun
from llmmon.storage.models.judge import JudgeCacheEntry
from llmmon.storage.models.knowledge import KbDocument, KbPassage, KnowledgeBase
from llmmon.storage.models.monitor_alerts import Alert
from llmmon.storage.models.monitor_jobs import EvalJob, JudgeScore
from llmmon.storage.models.rollups import span_rollup_hour
from llmmon.storage.models.server import ApiKey, EvalPriority, Feedback, FeedbackEvent, ServerSecret
from llmmon.storage.models.tracing import Span, SpanBase

__all__ = [
    "Alert",
    "AnswerCheck",
    "ApiKey",
    "ClaimCheck",
    "EvalJob",
    "EvalPriority",
    "EvalResult",
    "EvalRun",
    "Feedback",
    "FeedbackEvent",
    "JudgeCacheEntry",
    "JudgeScore",
    "KbDocument",
    "KbPassage",
    "KnowledgeBase",
    "ServerSecret",
    "Span",
    "SpanBase",
    "span_rollup_hour",
]

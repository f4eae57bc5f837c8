"""Import every domain's tables so Base.metadata is complete (Alembic, tests)."""

from app.accounts.models import (  # noqa: F401
    ApiToken,
    BrowserSession,
    ExternalIdentity,
    OidcLoginAttempt,
    ShownOnceSecret,
    User,
)
from app.analytics.fit_cache import AnalyticsCache  # noqa: F401
from app.annotation.models import (  # noqa: F401
    Adjudication,
    Annotation,
    AnnotatorStanding,
    Assignment,
    Comparison,
)
from app.annotation.signal_tallies import (  # noqa: F401
    AnnotatorPatternTally,
    AnnotatorSignalTally,
    SpeedBaseline,
)
from app.annotation.tallies import AnnotatorPromptTally, ModelPairTally, RankCoincidence  # noqa: F401
from app.core.audit import AuditEvent  # noqa: F401
from app.core.db import Base  # noqa: F401
from app.core.webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: F401
from app.generation.models import GenerationJob, GenerationTask  # noqa: F401
from app.judges.models import Judge, JudgeRanking, JudgeRun  # noqa: F401
from app.prompt_sets.models import Candidate, Prompt, PromptSet  # noqa: F401
from app.reward.models import CandidateEmbedding, CandidateScore, RewardModel  # noqa: F401

"""Judge figures and the adjudication queue from stored counts (issue 22, item 1).

`prompt` gains the submit path's measure of its people's rankings (how many, mean Kendall
tau-b, top choice split: app.annotation.tallies keeps them) and an index for the queue;
`judge_ranking` gains its quality figures against the people's (app.judges.figures). The
back-fill is those modules' from-scratch recomputations, the tests' reference too.

Revision ID: 8e4b2d6f0a13
Revises: 5e8b2c4d6f13
Create Date: 2026-12-07 17:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.annotation.tallies import rebuild_measures
from app.judges.figures import rebuild

revision: str = "8e4b2d6f0a13"
down_revision: str | None = "5e8b2c4d6f13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = ["agree", "agree_total", "judge_longer", "judge_unequal"]
FIGURES += ["people_longer", "people_unequal"]


def upgrade() -> None:
    with op.batch_alter_table("prompt") as batch:
        batch.add_column(
            sa.Column("human_rankings", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("human_mean_tau", sa.Double(), nullable=True))
        batch.add_column(
            sa.Column("human_top_split", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_prompt_escalated", ["prompt_set_id", "extra_seats"])
    with op.batch_alter_table("judge_ranking") as batch:
        batch.add_column(sa.Column("figures_at", sa.Integer(), nullable=False, server_default="-1"))
        for name in FIGURES:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    conn = op.get_bind()
    rebuild_measures(conn)
    rebuild(conn)


def downgrade() -> None:
    with op.batch_alter_table("judge_ranking") as batch:
        for name in ["figures_at", *FIGURES]:
            batch.drop_column(name)
    with op.batch_alter_table("prompt") as batch:
        batch.drop_index("ix_prompt_escalated")
        for name in ["human_top_split", "human_mean_tau", "human_rankings"]:
            batch.drop_column(name)

"""Fill PostgreSQL with a realistic prompt set for bench/quality_scale.py (issue 22, item 4).

The raw rows (people, the set, prompts, candidates, assignments, annotations, comparisons,
gold items, adjudications, one judge version's rankings) are written in SQL with
generate_series, at a fixed schema revision (FILL_REVISION). Then the database is upgraded
to the newest revision, so any migration added later back-fills what it derives from those
rows exactly as it would on a real deployment, and everything the app keeps up to date in
the submit is computed by the app's own code on the stored rows:

- issue 16's tallies (`app.annotation.tallies.rebuild`), the signal tallies
  (`app.annotation.signal_tallies.rebuild`) and each set's speed baseline
  (`app.analytics.speed_baselines.refresh`);
- escalation: seats are filled in rounds, and after each round every prompt whose seats
  are full is judged with the app's own rule (`app.annotation.disagreement.measure` and
  `app.annotation.escalation.rule_of`, what `escalate_if_contested` decides in the
  submit); contested prompts get one more seat, up to annotators_max;
- gold standing: `app.annotation.standing.record_gold_answer` once per annotator after
  their gold answers (the rolling-window pause decision the submit makes).

Annotators: 200, 80% good (the true order plus noise), 12.5% random (a shuffle, fast, often
not touching the order), 7.5% adversarial (the true order reversed plus noise). Each prompt
has 4 candidates whose true order is seeded by a hash (model-0 is better on average).
Comparisons are derived from each ranking in SQL exactly as
app.prompt_sets.ranking.derive_comparisons does for rankings without ties (the statement
of tests/factories/export_bulk.py, which bench/export.py, reporting.py, signals.py and
judge_report.py fill with).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

import app.models  # noqa: F401  (every table's model)
from app.analytics import speed_baselines
from app.annotation import signal_tallies, standing, tallies
from app.annotation.disagreement import measure
from app.annotation.escalation import rule_of
from app.core import migrate
from app.core.db import make_engine
from tests.factories.export_bulk import DERIVE_COMPARISONS_SQL

# The schema the SQL below writes; later migrations run on the filled rows.
FILL_REVISION = "3c9e5a7b1d24"
ANNOTATORS = 200
CANDIDATES = 4
PAIRS_PER_ANNOTATION = CANDIDATES * (CANDIDATES - 1) // 2
K, K_MAX = 3, 5
GOLD_SHARE = 0.01
GOLD_ANSWERS_EACH = 15
OPEN_PROMPTS = 60  # no annotations yet: what the timed run's new submits lease
ADJUDICATED_SHARE = 0.3  # of the prompts that end up in the queue
# Seats per prompt on average once escalation has run (measured: ~3.75 at this mix: 40%
# of prompts are contested at 3, 90% of those still at 4); only used to size the prompt
# count for about the comparisons asked for.
SEATS_GUESS = 3.75
TAG = "quality"

# A float in [0, 1) from any text: the fill is the same on every run.
U = "((('x' || substr(md5({}), 1, 8))::bit(32)::bigint) / 4294967296.0)"


def u(expr: str) -> str:
    return U.format(expr)


KIND_SQL = f"""
CREATE TEMP TABLE bench_annotator AS
SELECT g - 1 AS idx, u.id AS annotator_id,
    CASE WHEN (g - 1) % 40 < 32 THEN 'good' WHEN (g - 1) % 40 < 37 THEN 'random'
         ELSE 'adversarial' END AS kind
FROM generate_series(1, {ANNOTATORS}) g
JOIN user_account u ON u.username = 'q-annotator-' || lpad(g::text, 3, '0');
CREATE UNIQUE INDEX ON bench_annotator (idx);
CREATE UNIQUE INDEX ON bench_annotator (annotator_id);
"""

FILL_SQL = [
    f"""INSERT INTO user_account (username, role, is_active, created_at)
       SELECT 'q-annotator-' || lpad(g::text, 3, '0'), 'annotator', true,
           now() - interval '40 days'
       FROM generate_series(1, {ANNOTATORS}) g""",
    KIND_SQL,
    # The expert who settled part of the adjudication queue.
    """INSERT INTO user_account (username, role, is_active, is_expert, created_at)
       VALUES ('q-expert', 'researcher', true, true, now() - interval '40 days')""",
    f"""INSERT INTO prompt_set (name, description, guidelines, system_prompt, generation,
           candidates_per_prompt, annotators_per_prompt, annotators_max, lease_seconds,
           require_rationale, require_ratings, status, gold_pause_below, gold_window,
           gold_seed, created_at, updated_at)
       VALUES ('{TAG}', 'Quality at scale (bench/quality_scale.py)', 'Rank by helpfulness.',
           '', '{{"model": "smollm2"}}', {CANDIDATES}, {K}, {K_MAX}, 1800, false, false,
           'active', 0.5, 10, md5('{TAG}'), now() - interval '40 days', now())""",
    # Prompts 1..:regular are ranked, then the gold items, then the open ones.
    f"""INSERT INTO prompt (prompt_set_id, external_id, text, metadata, content_hash, status,
           candidates_ready, is_gold, created_at)
       SELECT ps.id, 'q-' || g, 'Prompt ' || g || ': ' || repeat('please explain this. ',
           2 + g % 5), '{{}}', encode(sha256(convert_to('{TAG}' || g, 'UTF8')), 'hex'),
           'active', true, g > :regular AND g <= :regular + :gold,
           now() - interval '40 days'
       FROM prompt_set ps, generate_series(1, :regular + :gold + :open) g
       WHERE ps.name = '{TAG}'""",
    """CREATE TEMP TABLE bench_prompt AS
       SELECT p.id AS prompt_id, p.is_gold,
           row_number() OVER (PARTITION BY p.is_gold ORDER BY p.id) - 1 AS n
       FROM prompt p WHERE p.external_id LIKE 'q-%'
           AND p.id NOT IN (SELECT id FROM prompt ORDER BY id DESC LIMIT :open)""",
    "CREATE UNIQUE INDEX ON bench_prompt (prompt_id)",
    f"""INSERT INTO candidate (prompt_id, position, text, model, source, sampling,
           is_duplicate, created_at)
       SELECT p.id, k, 'Answer ' || k || ' to prompt ' || p.id || '. '
           || repeat('Some words of an answer. ', 4 + (p.id * 7 + k * 3) % 12),
           'model-' || k, 'generated', '{{}}', false, now() - interval '40 days'
       FROM prompt p, generate_series(0, {CANDIDATES - 1}) k
       WHERE p.external_id LIKE 'q-%'""",
    # The true order: model-0 better on average, each prompt its own draw.
    f"""CREATE TEMP TABLE bench_truth AS
       SELECT c.id AS candidate_id, c.prompt_id,
           row_number() OVER (PARTITION BY c.prompt_id
               ORDER BY c.position * 0.35 + {u("'t' || c.id")}) AS true_rank
       FROM candidate c JOIN bench_prompt bp ON bp.prompt_id = c.prompt_id""",
    "CREATE INDEX ON bench_truth (prompt_id)",
    """UPDATE prompt p SET gold_ranking = g.ranking
       FROM (SELECT t.prompt_id, jsonb_build_array(
                 jsonb_agg(t.candidate_id) FILTER (WHERE t.true_rank = 1),
                 jsonb_agg(t.candidate_id ORDER BY t.candidate_id)
                     FILTER (WHERE t.true_rank > 1)) AS ranking
             FROM bench_truth t JOIN bench_prompt bp ON bp.prompt_id = t.prompt_id
             WHERE bp.is_gold GROUP BY t.prompt_id) g
       WHERE p.id = g.prompt_id""",
]

# Seat `seat` of each regular prompt whose target (K + extra_seats) covers it: an
# annotator drawn so that one prompt's five seats are five different people
# ((h + seat * step) % 200, step never a multiple of 50), and their annotation.
SEAT_SQL = [
    f"""INSERT INTO assignment (prompt_id, annotator_id, status, leased_at, lease_expires_at,
           finished_at)
       SELECT s.prompt_id, s.annotator_id, 'submitted', s.finished - s.secs * interval '1 s',
           s.finished - s.secs * interval '1 s' + interval '30 minutes', s.finished
       FROM (SELECT bp.prompt_id, ba.annotator_id,
                 now() - interval '30 days' * {u("'c' || bp.prompt_id || '-' || :seat")}
                     + :seat * interval '2 hours' AS finished,
                 CASE ba.kind WHEN 'random' THEN 2 + 4 * {u("'s' || bp.prompt_id || ba.idx")}
                      WHEN 'good' THEN 12 + 50 * {u("'s' || bp.prompt_id || ba.idx")}
                      ELSE 10 + 30 * {u("'s' || bp.prompt_id || ba.idx")} END AS secs
             FROM bench_prompt bp JOIN prompt p ON p.id = bp.prompt_id
             CROSS JOIN LATERAL (SELECT 1 + ('x' || substr(md5('k' || bp.prompt_id), 1, 6))
                 ::bit(24)::int % 198 AS step) m
             JOIN bench_annotator ba ON ba.idx = (
                 (('x' || substr(md5('h' || bp.prompt_id), 1, 6))::bit(24)::int
                  + :seat * (CASE WHEN m.step % 50 = 0 THEN m.step + 1 ELSE m.step END))
                 % {ANNOTATORS})
             WHERE NOT bp.is_gold AND p.extra_seats + {K} > :seat) s""",
    f"""INSERT INTO assignment (prompt_id, annotator_id, status, leased_at, lease_expires_at,
           finished_at)
       SELECT bp.prompt_id, ba.annotator_id, 'submitted',
           now() - interval '35 days' + :seat * interval '1 day' - interval '20 s',
           now() - interval '35 days' + :seat * interval '1 day' + interval '30 minutes',
           now() - interval '35 days' + :seat * interval '1 day'
       FROM bench_annotator ba JOIN bench_prompt bp ON bp.is_gold
           AND bp.n = (ba.idx * 7 + :seat) % :gold
       WHERE :seat < {GOLD_ANSWERS_EACH}""",
    f"""INSERT INTO annotation (assignment_id, prompt_id, annotator_id, ranking, all_bad,
           flags, ratings, seconds_spent, idempotency_key, created_at, order_changed,
           suggestion_shown)
       SELECT a.id, a.prompt_id, a.annotator_id,
           (SELECT jsonb_agg(jsonb_build_array(t.candidate_id) ORDER BY
                CASE ba.kind WHEN 'good' THEN t.true_rank
                     WHEN 'adversarial' THEN -t.true_rank ELSE 0 END
                + CASE ba.kind WHEN 'random' THEN 1 ELSE 1.6 END
                  * {u("t.candidate_id || '-' || a.annotator_id")})
            FROM bench_truth t WHERE t.prompt_id = a.prompt_id),
           false,
           CASE WHEN ba.kind = 'good' AND {u("'f' || a.id")} < 0.03 THEN
               jsonb_build_object((SELECT min(c.id) FROM candidate c
                   WHERE c.prompt_id = a.prompt_id)::text, '["factually_wrong"]'::jsonb)
               ELSE '{{}}' END,
           '{{}}', extract(epoch FROM a.finished_at - a.leased_at), 'bench-' || a.id,
           a.finished_at,
           CASE WHEN ba.kind = 'random' THEN {u("'o' || a.id")} > 0.6 ELSE true END, false
       FROM assignment a JOIN bench_annotator ba ON ba.annotator_id = a.annotator_id
       WHERE a.id > :after""",
    DERIVE_COMPARISONS_SQL.format(join="", where="an.assignment_id > :after"),
]

# The adjudications of part of the queue (by the admin, the true order), and one listwise
# judge version that ranked every prompt (mostly the true order, a tenth of them shuffled).
FINISH_SQL = [
    """INSERT INTO adjudication (prompt_id, adjudicator_id, ranking, note, created_at)
       SELECT t.prompt_id, :admin,
           jsonb_agg(jsonb_build_array(t.candidate_id) ORDER BY t.true_rank),
           'settled by the bench', now() - interval '1 day'
       FROM bench_truth t WHERE t.prompt_id = ANY(:settled)
       GROUP BY t.prompt_id""",
    f"""INSERT INTO judge (prompt_set_id, name, version, mode, settings, rubric,
           suggest_to_annotators, is_current, created_at)
       SELECT id, 'bench-judge', 1, 'listwise', '{{}}', 'Rank by helpfulness.', false, true,
           now() - interval '2 days'
       FROM prompt_set WHERE name = '{TAG}'""",
    f"""INSERT INTO judge_ranking (judge_id, prompt_id, status, ranking, seconds_spent,
           created_at)
       SELECT j.id, t.prompt_id, 'ranked',
           jsonb_agg(jsonb_build_array(t.candidate_id) ORDER BY
               CASE WHEN {u("'j' || t.prompt_id")} < 0.1
                    THEN {u("'jr' || t.candidate_id")} ELSE t.true_rank END),
           1.0, now() - interval '2 days'
       FROM bench_truth t JOIN bench_prompt bp ON bp.prompt_id = t.prompt_id
       CROSS JOIN judge j WHERE j.name = 'bench-judge'
       GROUP BY j.id, t.prompt_id""",
]


# What the submit's escalate_if_contested writes, for the prompts its rule contests.
ESCALATE_SQL = text("UPDATE prompt SET extra_seats = extra_seats + 1 WHERE id = ANY(:ids)")


@dataclass
class Filled:
    prompt_set_id: int
    prompts: int
    gold: int
    annotations: int
    comparisons: int
    escalated: int  # prompts that got at least one extra seat
    queued: int  # contested at annotators_max (before the adjudications)
    adjudicated: int
    paused: int  # annotators paused by their gold answers
    seconds: dict[str, float]


def _contested_prompts(conn: Connection, set_id: int, seats: int) -> list[int]:
    """Regular prompts with `seats` rankings that fill their target and are contested by
    the app's own escalation rule."""
    rule = rule_of(
        conn.execute(
            text("SELECT escalate_below_tau, escalate_on_split_top FROM prompt_set WHERE id = :s"),
            {"s": set_id},
        ).one()
    )
    rankings: dict[int, list] = defaultdict(list)
    rows = conn.execute(
        text(
            """SELECT an.prompt_id, an.ranking FROM annotation an
               JOIN prompt p ON p.id = an.prompt_id
               WHERE p.prompt_set_id = :s AND NOT p.is_gold AND p.extra_seats + :k = :seats
               ORDER BY an.prompt_id, an.id"""
        ),
        {"s": set_id, "k": K, "seats": seats},
    )
    for prompt_id, ranking in rows:
        rankings[prompt_id].append(ranking)
    return [
        p for p, found in rankings.items() if len(found) == seats and measure(found).contested(rule)
    ]


def fill(url: str, comparisons: int) -> Filled:
    """Fill the (fresh, empty) database at `url`; see the module's docstring."""
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    migrate.upgrade(url, FILL_REVISION)
    engine = make_engine(url)
    gold_annotations = ANNOTATORS * GOLD_ANSWERS_EACH
    annotations = comparisons / PAIRS_PER_ANNOTATION - gold_annotations
    regular = max(50, math.ceil(annotations / SEATS_GUESS))
    gold = max(GOLD_ANSWERS_EACH + 5, round(regular * GOLD_SHARE))
    params = {"regular": regular, "gold": gold, "open": OPEN_PROMPTS}
    try:
        with engine.begin() as conn:
            for statement in FILL_SQL:
                conn.execute(text(statement), params)
            set_id = conn.scalar(text(f"SELECT id FROM prompt_set WHERE name = '{TAG}'"))
            escalated = queued = 0
            for seat in range(max(K_MAX, GOLD_ANSWERS_EACH)):
                after = conn.scalar(text("SELECT coalesce(max(id), 0) FROM assignment"))
                for statement in SEAT_SQL:
                    conn.execute(text(statement), {**params, "seat": seat, "after": after})
                if K - 1 <= seat < K_MAX - 1:
                    conn.execute(text("ANALYZE"))
                    contested = _contested_prompts(conn, set_id, seat + 1)
                    conn.execute(
                        text(
                            "UPDATE prompt SET extra_seats = extra_seats + 1 WHERE id = ANY(:ids)"
                        ),
                        {"ids": contested},
                    )
                    if seat == K - 1:
                        escalated = len(contested)
                    print(f"  seat {seat + 1}: {len(contested):,} contested", flush=True)
            queue = _contested_prompts(conn, set_id, K_MAX)
            queued = len(queue)
            settled = queue[: round(len(queue) * ADJUDICATED_SHARE)]
            admin = conn.scalar(text("SELECT id FROM user_account WHERE username = 'q-expert'"))
            for statement in FINISH_SQL:
                conn.execute(text(statement), {"admin": admin, "settled": settled})
        seconds["fill (SQL, escalation rounds)"] = time.perf_counter() - start
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
        step = time.perf_counter()
        migrate.upgrade(url)  # later revisions back-fill from the filled rows
        seconds["upgrade to head"] = time.perf_counter() - step
        step = time.perf_counter()
        with engine.begin() as conn:
            tallies.rebuild(conn)
        seconds["tallies.rebuild"] = time.perf_counter() - step
        step = time.perf_counter()
        with engine.begin() as conn:
            signal_tallies.rebuild(conn)
        seconds["signal_tallies.rebuild"] = time.perf_counter() - step
        step = time.perf_counter()
        with Session(engine) as session:
            speed_baselines.refresh(session, set_id)
            annotators = session.scalars(
                text("SELECT id FROM user_account WHERE username LIKE 'q-annotator-%' ORDER BY id")
            ).all()
            for who in annotators:
                standing.record_gold_answer(
                    session,
                    prompt_set_id=set_id,
                    annotator_id=who,
                    now=session.scalar(text("SELECT now()")),
                )
            session.commit()
        seconds["speed baseline + gold standing"] = time.perf_counter() - step
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
            counts = conn.execute(
                text(
                    """SELECT (SELECT count(*) FROM annotation),
                              (SELECT count(*) FROM comparison),
                              (SELECT count(*) FROM adjudication),
                              (SELECT count(*) FROM annotator_standing
                               WHERE state = 'paused')"""
                )
            ).one()
    finally:
        engine.dispose()
    return Filled(
        set_id,
        regular,
        gold,
        counts[0],
        counts[1],
        escalated,
        queued,
        counts[2],
        counts[3],
        seconds,
    )

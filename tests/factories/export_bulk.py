"""Fill PostgreSQL with many annotations and comparisons fast, in SQL (generate_series).

For the streaming-memory test and bench/export.py. Three annotators rank four candidates
per prompt (no ties); comparisons are derived in SQL from each stored ranking exactly as
app.prompt_sets.ranking.derive_comparisons does for singleton groups (chosen = earlier
group, margin = group distance), so the rows match what the annotation service writes.
"""

from __future__ import annotations

import math

from sqlalchemy import Engine, text

ANNOTATORS = 3
CANDIDATES = 4
PAIRS_PER_ANNOTATION = CANDIDATES * (CANDIDATES - 1) // 2

# The comparisons of rankings without ties (chosen = earlier group, margin = group
# distance), for the annotations that `where` selects (bench/quality_fill.py too).
DERIVE_COMPARISONS_SQL = """INSERT INTO comparison (annotation_id, prompt_id,
           chosen_candidate_id, rejected_candidate_id, margin, created_at)
       SELECT an.id, an.prompt_id, (x.value ->> 0)::int, (y.value ->> 0)::int,
           y.ord - x.ord, an.created_at
       FROM annotation an {join},
       jsonb_array_elements(an.ranking) WITH ORDINALITY x(value, ord),
       jsonb_array_elements(an.ranking) WITH ORDINALITY y(value, ord)
       WHERE {where} AND y.ord > x.ord"""

FILL_SQL = [
    """INSERT INTO user_account (username, role, is_active, created_at)
       SELECT :tag || '-annotator-' || g, 'annotator', true, now()
       FROM generate_series(1, :annotators) g""",
    """INSERT INTO prompt_set (name, description, guidelines, system_prompt, generation,
           candidates_per_prompt, annotators_per_prompt, lease_seconds, require_rationale,
           require_ratings, status, gold_seed, created_at, updated_at)
       VALUES (:tag, 'Bulk data for streaming measurements', 'Rank by helpfulness.', '',
           '{"model": "smollm2"}', 4, 3, 1800, false, false, 'active', md5(random()::text),
           now(), now())""",
    """INSERT INTO prompt (prompt_set_id, external_id, text, metadata, content_hash, status,
           candidates_ready, is_gold, created_at)
       SELECT ps.id, 'ext-' || g, 'Prompt ' || g || ': ' || repeat('please explain this. ', 4),
           '{}', encode(sha256(convert_to(:tag || g, 'UTF8')), 'hex'), 'active', true, false,
           now()
       FROM prompt_set ps, generate_series(1, :prompts) g WHERE ps.name = :tag""",
    """INSERT INTO candidate (prompt_id, position, text, model, source, sampling,
           is_duplicate, created_at)
       SELECT p.id, k, 'Answer ' || k || ' to prompt ' || p.id || '. '
           || repeat('Some words of an answer. ', 8), 'model-' || (k % 2), 'generated', '{}',
           false, now()
       FROM prompt p JOIN prompt_set ps ON ps.id = p.prompt_set_id,
           generate_series(0, :candidates - 1) k
       WHERE ps.name = :tag""",
    """INSERT INTO assignment (prompt_id, annotator_id, status, leased_at, lease_expires_at,
           finished_at)
       SELECT p.id, u.id, 'submitted', now(), now() + interval '30 minutes', now()
       FROM prompt p JOIN prompt_set ps ON ps.id = p.prompt_set_id
       CROSS JOIN user_account u
       WHERE ps.name = :tag AND u.username LIKE :tag || '-annotator-%'""",
    """INSERT INTO annotation (assignment_id, prompt_id, annotator_id, ranking, all_bad, flags,
           ratings, seconds_spent, idempotency_key, created_at)
       SELECT a.id, a.prompt_id, a.annotator_id,
           (SELECT jsonb_agg(jsonb_build_array(c.id) ORDER BY md5(c.id || '-' || a.annotator_id))
            FROM candidate c WHERE c.prompt_id = a.prompt_id),
           false, '{}', '{}', 10, 'bulk-' || a.id, now()
       FROM assignment a JOIN prompt p ON p.id = a.prompt_id
       JOIN prompt_set ps ON ps.id = p.prompt_set_id WHERE ps.name = :tag""",
    DERIVE_COMPARISONS_SQL.format(
        join="JOIN prompt p ON p.id = an.prompt_id JOIN prompt_set ps ON ps.id = p.prompt_set_id",
        where="ps.name = :tag",
    ),
]


def bulk_fill(engine: Engine, *, comparisons: int, tag: str = "bulk") -> int:
    """Insert a prompt set named `tag` with about `comparisons` comparisons; return its id."""
    prompts = math.ceil(comparisons / (ANNOTATORS * PAIRS_PER_ANNOTATION))
    params = {
        "tag": tag,
        "annotators": ANNOTATORS,
        "prompts": prompts,
        "candidates": CANDIDATES,
    }
    with engine.begin() as conn:
        for statement in FILL_SQL:
            conn.execute(text(statement), params)
        conn.execute(text("ANALYZE"))
        return conn.scalar(text("SELECT id FROM prompt_set WHERE name = :tag"), {"tag": tag})

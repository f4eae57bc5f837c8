"""The five export formats: which rows a prompt group yields, and each row's exact fields.

Rows are plain dicts whose keys follow the field list of their format (core fields first,
TRL's names; metadata after). `columns=core` keeps only the core fields.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import pyarrow as pa

from app.analytics.agreement import PairKey, PairTally, pair_agreements, pair_consensus
from app.analytics.reliability import score_confidence, weighted_scores
from app.analytics.votes import Vote, votes_from_ranking
from app.exports.schemas import ExportOptions
from app.exports.source import AnnotationRec, ComparisonRec, PromptGroup
from app.prompt_sets.content import as_messages
from app.prompt_sets.ranking import Ranking, derive_comparisons, rank_of, tied_pairs

Row = dict[str, Any]
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
CANDIDATE = pa.struct([("id", pa.int64()), ("text", pa.string()), ("model", pa.string())])
FLAG = pa.struct([("candidate_id", pa.int64()), ("kind", pa.string())])
RATING = pa.struct([("candidate_id", pa.int64()), ("rating", pa.float64())])

# Who ranked (issue 13): "human" or "judge" (an LLM judge version, named in `annotator`),
# and whether a judge's suggested order was the annotator's starting order (anchoring).
ORIGIN_FIELDS = [("annotator_origin", pa.string()), ("suggestion_shown", pa.bool_())]
PAIR_META = [
    ("prompt_id", pa.int64()),
    ("external_id", pa.string()),
    ("chosen_id", pa.int64()),
    ("rejected_id", pa.int64()),
    ("chosen_model", pa.string()),
    ("rejected_model", pa.string()),
    ("chosen_generator", pa.string()),
    ("rejected_generator", pa.string()),
    ("annotator", pa.string()),
    ("margin", pa.float64()),
    ("agreement", pa.float64()),
    ("tie", pa.bool_()),
    # Whether the annotator changed the shown order (null: not recorded); see issue 11.
    ("order_changed", pa.bool_()),
    ("created_at", pa.string()),
    *ORIGIN_FIELDS,
]
CORE_FIELDS: dict[str, list[tuple[str, pa.DataType]]] = {
    "pairs": [("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string())],
    "conversational": [
        ("prompt", pa.list_(MESSAGE)),
        ("chosen", pa.list_(MESSAGE)),
        ("rejected", pa.list_(MESSAGE)),
    ],
    "rankings": [
        ("prompt", pa.list_(MESSAGE)),
        ("candidates", pa.list_(CANDIDATE)),
        ("ranking", pa.list_(pa.list_(pa.int64()))),
        ("all_bad", pa.bool_()),
        ("flags", pa.list_(FLAG)),
        ("ratings", pa.list_(RATING)),
        ("rationale", pa.string()),
    ],
    "unpaired": [("prompt", pa.string()), ("completion", pa.string()), ("label", pa.bool_())],
    "consensus": [("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string())],
}
META_FIELDS: dict[str, list[tuple[str, pa.DataType]]] = {
    "pairs": PAIR_META,
    "conversational": PAIR_META,
    "rankings": [
        ("prompt_id", pa.int64()),
        ("external_id", pa.string()),
        ("annotation_id", pa.int64()),
        ("annotator", pa.string()),
        ("seconds_spent", pa.float64()),
        ("order_changed", pa.bool_()),
        ("created_at", pa.string()),
        *ORIGIN_FIELDS,
    ],
    "unpaired": [
        ("prompt_id", pa.int64()),
        ("external_id", pa.string()),
        ("candidate_id", pa.int64()),
        ("model", pa.string()),
        ("generator", pa.string()),
        ("annotator", pa.string()),
        ("rank", pa.int64()),
        ("groups", pa.int64()),
        ("flags", pa.list_(pa.string())),
        ("all_bad", pa.bool_()),
        ("order_changed", pa.bool_()),
        ("created_at", pa.string()),
        *ORIGIN_FIELDS,
    ],
    "consensus": [
        ("prompt_id", pa.int64()),
        ("external_id", pa.string()),
        ("chosen_id", pa.int64()),
        ("rejected_id", pa.int64()),
        ("chosen_model", pa.string()),
        ("rejected_model", pa.string()),
        ("chosen_generator", pa.string()),
        ("rejected_generator", pa.string()),
        ("votes_chosen", pa.int64()),
        ("votes_rejected", pa.int64()),
        ("ties", pa.int64()),
        ("annotators", pa.int64()),
        ("agreement", pa.float64()),
        ("majority", pa.bool_()),
        # The prompt was settled by an admin or expert (issue 13): chosen/rejected follow
        # the adjudicated ranking, not the vote.
        ("adjudicated", pa.bool_()),
        # majority: the winner's share of the votes; reliability: the model's probability
        # that the winner is the better answer (ConsensusRow).
        ("confidence", pa.float64()),
        # Whose votes the row counts: "human", "judge" or "human+judge" (origin=all).
        ("annotator_origin", pa.string()),
    ],
}
UNPAIRED_LABEL_RULE = (
    "label is true when the candidate's tie group is in the upper half of the annotator's "
    "ranking ((rank - 1) / (groups - 1) < 0.5) and false when it is in the lower half; the "
    "exact middle group of an odd number of groups, and rankings where every candidate is "
    "tied, are left out. A candidate the annotator flagged, or every candidate of an "
    "annotation marked 'all bad', is labelled false whatever its rank."
)


# Reward-model scores (ExportOptions.scores) ride along on the formats with a chosen and a
# rejected candidate, after every other field.
SCORED_FORMATS = ("pairs", "conversational", "consensus")
SCORE_FIELDS = [
    ("chosen_score", pa.float64()),
    ("rejected_score", pa.float64()),
    ("reward_model_id", pa.int64()),
]


def fields(options: ExportOptions) -> list[tuple[str, pa.DataType]]:
    core = list(CORE_FIELDS[options.format])
    scored = SCORE_FIELDS if options.scores and options.format in SCORED_FORMATS else []
    if options.columns == "core":
        if options.margin and options.format in ("pairs", "conversational"):
            core.append(("margin", pa.float64()))
        return core + scored
    return core + META_FIELDS[options.format] + scored


def arrow_schema(options: ExportOptions) -> pa.Schema:
    return pa.schema(fields(options))


@dataclass
class RowContext:
    """What row builders need beyond the group: the prompt renderer and the pseudonymiser."""

    options: ExportOptions
    render_prompt: Callable[[list[dict[str, str]]], str] | None
    pseudonym: Callable[[int], str]
    # The optional parts by name only: several features add one, and a positional
    # argument meant for one would silently land in another.
    _: KW_ONLY
    # candidate id -> (score, reward model id), when the export asks for scores
    scores: dict[int, tuple[float, int]] | None = None
    # prompt id -> its adjudicated ranking (consensus exports)
    adjudicated: dict[int, Ranking] = field(default_factory=dict)
    # annotator id -> vote weight, for a reliability-weighted consensus (None: majority)
    annotator_weights: Mapping[int, float] | None = None


def _iso(value: Any) -> str:
    return value.isoformat()


def _chat(group: PromptGroup) -> list[dict[str, str]]:
    return as_messages(group.text, group.messages, group.system_prompt)


def _flagged_candidates(group: PromptGroup, options: ExportOptions) -> set[int]:
    """Candidates any kept annotator flagged with an excluded kind."""
    out = set()
    for annotation in group.annotations:
        for candidate_id, kinds in (annotation.flags or {}).items():
            if options.flag_excluded(kinds):
                out.add(int(candidate_id))
    return out


def json_line(value: Any) -> str:
    """A row (or any value) as compact JSON text, non-ASCII kept: the JSONL encoding."""
    return _JSON_LINE(value)


_JSON_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _votes(group: PromptGroup, annotations: list[AnnotationRec]) -> list[Vote]:
    return [
        v
        for a in annotations
        for v in votes_from_ranking(group.prompt_id, a.annotator_id, a.ranking)
    ]


def _consensus(group: PromptGroup, annotations: list[AnnotationRec]) -> dict[PairKey, PairTally]:
    return pair_consensus(_votes(group, annotations))


def _margin(annotation: AnnotationRec, chosen: int, rejected: int, distance: int) -> float:
    """Rating difference when the annotator rated both, else the rank distance."""
    ratings = annotation.ratings
    if ratings and str(chosen) in ratings and str(rejected) in ratings:
        return float(ratings[str(chosen)]) - float(ratings[str(rejected)])
    return float(distance)


class RowBuilder:
    """Turns prompt groups into rows of one format."""

    def __init__(self, ctx: RowContext) -> None:
        self.ctx = ctx
        self.options = ctx.options
        self._keys = [name for name, _ in fields(ctx.options)]
        self._pseudonyms: dict[int, str] = {}
        self._floats: dict[float, str] = {}
        self._encode = json_line

    def pseudonym(self, user_id: int) -> str:
        # Cached: an HMAC per row is a measurable share of a large export's time.
        if user_id not in self._pseudonyms:
            self._pseudonyms[user_id] = self.ctx.pseudonym(user_id)
        return self._pseudonyms[user_id]

    def who(self, annotation: AnnotationRec) -> str:
        """The annotator column: a person's pseudonym, or a judge version's name."""
        return annotation.judge or self.pseudonym(annotation.annotator_id)

    def rows(self, group: PromptGroup) -> Iterator[Row]:
        builder = getattr(self, f"_{self.options.format}")
        if self.ctx.scores is not None and self.options.format in SCORED_FORMATS:
            builder = self._scored(builder)
        if self.options.columns == "all":
            # Builders emit the full field list in order already.
            yield from builder(group)
            return
        for row in builder(group):
            yield {k: row[k] for k in self._keys}

    def _scored(self, builder: Callable[[PromptGroup], Iterator[Row]]) -> Callable:
        scores = self.ctx.scores or {}

        def with_scores(group: PromptGroup) -> Iterator[Row]:
            for row in builder(group):
                chosen = scores.get(row["chosen_id"]) if "chosen_id" in row else None
                rejected = scores.get(row["rejected_id"]) if "rejected_id" in row else None
                row["chosen_score"] = chosen[0] if chosen else None
                row["rejected_score"] = rejected[0] if rejected else None
                row["reward_model_id"] = (chosen or rejected or (None, None))[1]
                yield row

        return with_scores

    # -- pairs and conversational -------------------------------------------------------
    def _pair_candidates(
        self, group: PromptGroup
    ) -> Iterator[tuple[AnnotationRec, int, int, float, bool]]:
        opts = self.options
        annotations = [a for a in group.annotations if opts.include_all_bad or not a.all_bad]
        by_id = {a.id: a for a in annotations if a.judge is None}
        flagged = _flagged_candidates(group, opts)
        comparisons: list[ComparisonRec] = group.comparisons
        for c in comparisons:
            annotation = by_id.get(c.annotation_id)
            if annotation is None or c.chosen_id in flagged or c.rejected_id in flagged:
                continue
            margin = _margin(annotation, c.chosen_id, c.rejected_id, c.margin)
            yield annotation, c.chosen_id, c.rejected_id, margin, False
        for annotation in annotations:
            if annotation.judge is None:
                continue
            # A judge stores no comparisons: its pairs come from its ranking, as a
            # person's stored ones came from theirs (margin: the rank distance).
            for d in derive_comparisons(annotation.ranking):
                if d.chosen_id not in flagged and d.rejected_id not in flagged:
                    yield annotation, d.chosen_id, d.rejected_id, float(d.margin), False
        if opts.ties == "both":
            for annotation in annotations:
                for a, b in tied_pairs(annotation.ranking):
                    if a in flagged or b in flagged:
                        continue
                    yield annotation, a, b, 0.0, True
                    yield annotation, b, a, 0.0, True

    def _pair_rows(self, group: PromptGroup, conversational: bool) -> Iterator[Row]:
        opts = self.options
        annotations = [a for a in group.annotations if opts.include_all_bad or not a.all_bad]
        tallies = _consensus(group, annotations)
        chat = _chat(group)
        if conversational:
            prompt: Any = chat
        else:
            assert self.ctx.render_prompt is not None
            prompt = self.ctx.render_prompt(chat)
        cands = group.candidates
        created = {a.annotator_id: _iso(a.created_at) for a in annotations}
        for annotation, chosen, rejected, margin, tie in self._pair_candidates(group):
            tally = tallies.get((group.prompt_id, min(chosen, rejected), max(chosen, rejected)))
            agreement = tally.agreement if tally else None
            if opts.min_agreement is not None and (agreement or 0.0) < opts.min_agreement:
                continue
            c, r = cands[chosen], cands[rejected]
            if conversational:
                chosen_value: Any = [{"role": "assistant", "content": c.text}]
                rejected_value: Any = [{"role": "assistant", "content": r.text}]
            else:
                chosen_value, rejected_value = c.text, r.text
            yield {
                "prompt": prompt,
                "chosen": chosen_value,
                "rejected": rejected_value,
                "prompt_id": group.prompt_id,
                "external_id": group.external_id,
                "chosen_id": chosen,
                "rejected_id": rejected,
                "chosen_model": c.model,
                "rejected_model": r.model,
                "chosen_generator": c.generator,
                "rejected_generator": r.generator,
                "annotator": self.who(annotation),
                "margin": margin,
                "agreement": agreement,
                "tie": tie,
                "order_changed": annotation.order_changed,
                "created_at": created[annotation.annotator_id],
                "annotator_origin": origin_of(annotation),
                "suggestion_shown": annotation.suggestion_shown,
            }

    def _pairs(self, group: PromptGroup) -> Iterator[Row]:
        return self._pair_rows(group, conversational=False)

    # -- pairs and conversational as ready JSONL text ------------------------------------
    def pair_lines(self, group: PromptGroup) -> Iterator[str]:
        """The rows of `_pair_rows`, already JSON-encoded (one line each, no newline).

        The fast path of a JSONL pairs/conversational export: every value that repeats
        within a prompt (the prompt, each candidate's text and model, each annotator's
        pseudonym and date) is encoded once per prompt, and a row is one string format
        instead of a dict plus a full json encode. The text is identical to
        `json_line(row)` of the matching `_pair_rows` row (tests compare both paths).
        """
        opts = self.options
        conversational = opts.format == "conversational"
        enc = self._encode
        fnum = self._float_json
        annotations = [a for a in group.annotations if opts.include_all_bad or not a.all_bad]
        agreements = pair_agreements(a.ranking for a in annotations)
        chat = _chat(group)
        if conversational:
            prompt = enc(chat)
        else:
            assert self.ctx.render_prompt is not None
            prompt = enc(self.ctx.render_prompt(chat))
        texts: dict[int, str] = {}
        for cid, c in group.candidates.items():
            if conversational:
                texts[cid] = '[{"role":"assistant","content":' + enc(c.text) + "}]"
            else:
                texts[cid] = enc(c.text)
        if opts.columns == "core":
            head = '{"prompt":' + prompt + ',"chosen":'
            with_margin = opts.margin
            for _, chosen, rejected, margin, _ in self._pair_candidates(group):
                if opts.min_agreement is not None:
                    agreement = agreements.get((min(chosen, rejected), max(chosen, rejected)))
                    if (agreement or 0.0) < opts.min_agreement:
                        continue
                if with_margin:
                    yield (
                        f'{head}{texts[chosen]},"rejected":{texts[rejected]},'
                        f'"margin":{fnum(margin)}}}'
                    )
                else:
                    yield f'{head}{texts[chosen]},"rejected":{texts[rejected]}}}'
            return
        models = {cid: enc(c.model) for cid, c in group.candidates.items()}
        makers = {cid: enc(c.generator) for cid, c in group.candidates.items()}
        head = '{"prompt":' + prompt + ',"chosen":'
        ids = f',"prompt_id":{enc(group.prompt_id)},"external_id":{enc(group.external_id)}'
        # By annotator id: one ranking per person (or judge version) and prompt, and a
        # judge ranking's id may equal an annotation's.
        who = {
            a.annotator_id: (
                ',"annotator":' + enc(self.who(a)) + ',"margin":',
                ',"order_changed":'
                + enc(a.order_changed)
                + ',"created_at":'
                + enc(_iso(a.created_at))
                + ',"annotator_origin":'
                + enc(origin_of(a))
                + ',"suggestion_shown":'
                + enc(a.suggestion_shown)
                + "}",
            )
            for a in annotations
        }
        # Both orders of each pair, so a row needs no min/max; pairs below min_agreement
        # (None counts as 0.0) are left out of the map and skipped.
        agreement_json = {}
        for (a, b), agreement in agreements.items():
            if opts.min_agreement is None or agreement >= opts.min_agreement:
                agreement_json[(a, b)] = agreement_json[(b, a)] = fnum(agreement)
        unrated = "null" if opts.min_agreement is None or opts.min_agreement <= 0.0 else None
        floats = self._floats
        for annotation, chosen, rejected, margin, tie in self._pair_candidates(group):
            agreement_text = agreement_json.get((chosen, rejected), unrated)
            if agreement_text is None:
                continue
            annotator, created = who[annotation.annotator_id]
            yield (
                f'{head}{texts[chosen]},"rejected":{texts[rejected]}{ids}'
                f',"chosen_id":{chosen},"rejected_id":{rejected}'
                f',"chosen_model":{models[chosen]},"rejected_model":{models[rejected]}'
                f',"chosen_generator":{makers[chosen]},"rejected_generator":{makers[rejected]}'
                f"{annotator}{floats.get(margin) or fnum(margin)}"
                f',"agreement":{agreement_text}'
                f',"tie":{"true" if tie else "false"}{created}'
            )

    def _float_json(self, value: float) -> str:
        # Margins and agreements take few distinct values; encode each once. Zero is never
        # cached (0.0 == -0.0), so `self._floats.get(x) or self._float_json(x)` is exact.
        if value == 0.0:
            return "0.0" if math.copysign(1.0, value) > 0 else "-0.0"
        text = self._floats.get(value)
        if text is None:
            text = self._encode(value)
            if len(self._floats) < 10_000:
                self._floats[value] = text
        return text

    def _conversational(self, group: PromptGroup) -> Iterator[Row]:
        return self._pair_rows(group, conversational=True)

    # -- rankings -------------------------------------------------------------------------
    def _rankings(self, group: PromptGroup) -> Iterator[Row]:
        chat = _chat(group)
        candidates = [
            {"id": c.id, "text": c.text, "model": c.model} for c in group.candidates.values()
        ]
        for a in group.annotations:
            yield {
                "prompt": chat,
                "candidates": candidates,
                "ranking": a.ranking,
                "all_bad": a.all_bad,
                "flags": [
                    {"candidate_id": int(cid), "kind": kind}
                    for cid, kinds in sorted((a.flags or {}).items(), key=lambda kv: int(kv[0]))
                    for kind in kinds
                ],
                "ratings": [
                    {"candidate_id": int(cid), "rating": float(value)}
                    for cid, value in sorted((a.ratings or {}).items(), key=lambda kv: int(kv[0]))
                ],
                "rationale": a.rationale,
                "prompt_id": group.prompt_id,
                "external_id": group.external_id,
                # A judge's ranking is no annotation: its row names the judge instead.
                "annotation_id": a.id if a.judge is None else None,
                "annotator": self.who(a),
                "seconds_spent": float(a.seconds_spent),
                "order_changed": a.order_changed,
                "created_at": _iso(a.created_at),
                "annotator_origin": origin_of(a),
                "suggestion_shown": a.suggestion_shown,
            }

    # -- unpaired (KTO) -------------------------------------------------------------------
    def _unpaired(self, group: PromptGroup) -> Iterator[Row]:
        assert self.ctx.render_prompt is not None
        prompt = self.ctx.render_prompt(_chat(group))
        for a in group.annotations:
            ranks = rank_of(a.ranking)
            groups = len(a.ranking)
            for candidate_id, rank in ranks.items():
                kinds = list((a.flags or {}).get(str(candidate_id), []))
                label = unpaired_label(rank, groups, all_bad=a.all_bad, flagged=bool(kinds))
                if label is None:
                    continue
                c = group.candidates[candidate_id]
                yield {
                    "prompt": prompt,
                    "completion": c.text,
                    "label": label,
                    "prompt_id": group.prompt_id,
                    "external_id": group.external_id,
                    "candidate_id": candidate_id,
                    "model": c.model,
                    "generator": c.generator,
                    "annotator": self.who(a),
                    "rank": rank,
                    "groups": groups,
                    "flags": kinds,
                    "all_bad": a.all_bad,
                    "order_changed": a.order_changed,
                    "created_at": _iso(a.created_at),
                    "annotator_origin": origin_of(a),
                    "suggestion_shown": a.suggestion_shown,
                }

    # -- consensus ------------------------------------------------------------------------
    def _consensus(self, group: PromptGroup) -> Iterator[Row]:
        opts = self.options
        assert self.ctx.render_prompt is not None
        annotations = [a for a in group.annotations if opts.include_all_bad or not a.all_bad]
        flagged = _flagged_candidates(group, opts)
        prompt = self.ctx.render_prompt(_chat(group))
        settled = self.ctx.adjudicated.get(group.prompt_id)
        ranks = rank_of(settled) if settled is not None else None
        # Every kept ranking covers every candidate, so each pair's voters are all of them.
        voters = "+".join(sorted({origin_of(a) for a in annotations}, key=ORIGINS.index))
        for (a, b), (tally, decision) in self._pair_decisions(group, annotations).items():
            if a in flagged or b in flagged:
                continue
            # An adjudicated prompt was contested by definition: its agreement does not
            # filter the adjudicator's answer.
            if (
                ranks is None
                and opts.min_agreement is not None
                and tally.agreement < opts.min_agreement
            ):
                continue
            vote = decision[:2] if decision is not None else None
            settled_pair = settle_pair(vote, ranks, a, b)
            if settled_pair is None and not opts.include_no_majority:
                continue
            if ranks is not None and settled_pair is not None:
                # The adjudicator's answer: the vote counts still report the annotators;
                # confidence 1 (settled, not estimated).
                chosen, rejected = settled_pair
                votes = {a: tally.a_wins, b: tally.b_wins}
                votes_chosen, votes_rejected = votes[chosen], votes[rejected]
                majority, confidence = vote == settled_pair, 1.0
            else:
                row = (decision if ranks is None else None) or no_majority_row(
                    tally, a, b, weighted=self.ctx.annotator_weights is not None
                )
                chosen, rejected, votes_chosen, votes_rejected, majority, confidence = row
            c, r = group.candidates[chosen], group.candidates[rejected]
            yield {
                "prompt": prompt,
                "chosen": c.text,
                "rejected": r.text,
                "prompt_id": group.prompt_id,
                "external_id": group.external_id,
                "chosen_id": chosen,
                "rejected_id": rejected,
                "chosen_model": c.model,
                "rejected_model": r.model,
                "chosen_generator": c.generator,
                "rejected_generator": r.generator,
                "votes_chosen": votes_chosen,
                "votes_rejected": votes_rejected,
                "ties": tally.ties,
                "annotators": tally.n,
                "agreement": tally.agreement,
                "majority": majority,
                "adjudicated": ranks is not None,
                "confidence": confidence,
                "annotator_origin": voters,
            }

    def _pair_decisions(
        self, group: PromptGroup, annotations: list[AnnotationRec]
    ) -> dict[tuple[int, int], tuple[PairTally, ConsensusRow | None]]:
        """Each candidate pair (a < b, in order) of the prompt: its vote tally and the
        aggregated decision (None: no winner), by the export's consensus method."""
        votes = _votes(group, annotations)
        tallies = pair_consensus(votes)
        weights = self.ctx.annotator_weights
        if weights is None:
            return {(a, b): (t, consensus_row(t, a, b)) for (_, a, b), t in sorted(tallies.items())}
        scores = weighted_scores(votes, weights)
        return {
            (a, b): (t, weighted_row(t, a, b, scores[(p, a, b)]))
            for (p, a, b), t in sorted(tallies.items())
        }


def settle_pair(
    vote: tuple[int, int] | None, adjudicated: Mapping[int, int] | None, a: int, b: int
) -> tuple[int, int] | None:
    """A consensus pair's (chosen, rejected) once adjudication is applied: for a prompt
    with an adjudicated ranking ({candidate id: rank}) that ranking wins over whatever
    `vote` the consensus method gave (a tie there: no winner, None); otherwise `vote`.
    The one override rule, for every consensus method (majority, weighted)."""
    if adjudicated is None:
        return vote
    if a not in adjudicated or b not in adjudicated or adjudicated[a] == adjudicated[b]:
        return None
    return (a, b) if adjudicated[a] < adjudicated[b] else (b, a)


ORIGINS = ("human", "judge")


def origin_of(annotation: AnnotationRec) -> str:
    return "human" if annotation.judge is None else "judge"


# chosen, rejected, votes for chosen, votes for rejected, whether a side won, confidence
ConsensusRow = tuple[int, int, int, int, bool, float]


def consensus_row(tally: PairTally, a: int, b: int) -> ConsensusRow | None:
    """The majority side as (chosen, rejected, its votes, the other side's votes, True,
    its share of all votes, ties included); None when the pair has no majority or the
    majority says "tie"."""
    if tally.majority == 1:
        return a, b, tally.a_wins, tally.b_wins, True, tally.a_wins / tally.n
    if tally.majority == -1:
        return b, a, tally.b_wins, tally.a_wins, True, tally.b_wins / tally.n
    return None


def weighted_row(tally: PairTally, a: int, b: int, score: float) -> ConsensusRow | None:
    """The side the reliability-weighted vote favours (score > 0: a), with the model's
    posterior probability that it is the better one; None when the weights balance out
    (or every vote was a tie)."""
    if score == 0.0:
        return None
    confidence = score_confidence(score)
    if score > 0:
        return a, b, tally.a_wins, tally.b_wins, True, confidence
    return b, a, tally.b_wins, tally.a_wins, True, confidence


def no_majority_row(tally: PairTally, a: int, b: int, *, weighted: bool) -> ConsensusRow:
    """A pair without a winner (include_no_majority), a as chosen: its confidence is a's
    share of the votes (majority) or an even 0.5 (reliability)."""
    confidence = 0.5 if weighted else tally.a_wins / tally.n
    return a, b, tally.a_wins, tally.b_wins, False, confidence


def unpaired_label(rank: int, groups: int, *, all_bad: bool, flagged: bool) -> bool | None:
    """KTO label; see UNPAIRED_LABEL_RULE."""
    if all_bad or flagged:
        return False
    if groups < 2:
        return None
    position = (rank - 1) / (groups - 1)
    if position < 0.5:
        return True
    if position > 0.5:
        return False
    return None

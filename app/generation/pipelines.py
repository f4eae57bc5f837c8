"""Multi-agent pipelines: the recipes' steps, the messages each step sends, and running
the steps of many candidates together.

A pipeline candidate is made in stages; each stage is one call of one agent (a model
generator of the set). Every candidate of a claim at the same stage goes to that agent's
backend in one batch, so a pipeline batches across prompts like a plain model does. After
each stage the worker commits the steps made so far on the task (`save`), so a restarted
worker resumes at the first unfinished stage instead of starting over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.generation.backends import (
    Backend,
    CandidateSpec,
    GeneratedText,
    PromptRequest,
)
from app.generation.config import JobSettings

CRITIQUE_ASK = (
    "Here is a question and an answer to it.\n\nQuestion:\n{question}\n\nAnswer:\n{answer}\n\n"
    "List the answer's mistakes, omissions and unclear parts, briefly. Do not rewrite it."
)
REVISE_ASK = (
    "A reviewer commented on your answer:\n{critique}\n\n"
    "Write an improved answer to my previous message. Reply with the answer only."
)
MERGE_ASK = (
    "Question:\n{question}\n\n{answers}\n\n"
    "Write the single best answer to the question, combining the strengths of these "
    "answers and fixing their mistakes. Reply with the answer only."
)


@dataclass(frozen=True)
class Stage:
    role: str  # draft, critique, revise, answer, merge
    agent: str


def stages(pipeline: dict[str, Any]) -> list[Stage]:
    """The recipe's stages in order; the last stage's text is the candidate."""
    if pipeline["recipe"] == "draft_critique_revise":
        drafter, critic = pipeline["drafter"], pipeline["critic"]
        return [Stage("draft", drafter), Stage("critique", critic), Stage("revise", drafter)]
    members = [Stage("answer", m) for m in pipeline["members"]]
    return [*members, Stage("merge", pipeline["merger"])]


def recipe_label(pipeline: dict[str, Any]) -> str:
    """A short description kept as the candidate's model: recipe(agents)."""
    agents = [s.agent for s in stages(pipeline)]
    return f"{pipeline['recipe']}({', '.join(dict.fromkeys(agents))})"


def _question(messages: list[dict[str, str]]) -> str:
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[-1] if users else ""


def stage_messages(
    stage: Stage, prompt: list[dict[str, str]], done: list[dict[str, Any]]
) -> list[dict[str, str]]:
    """What the agent of `stage` is sent, given the prompt's chat and the steps done."""
    question = _question(prompt)
    if stage.role in ("draft", "answer"):
        return prompt
    if stage.role == "critique":
        ask = CRITIQUE_ASK.format(question=question, answer=done[-1]["text"])
        return [{"role": "user", "content": ask}]
    if stage.role == "revise":
        draft, critique = done[-2]["text"], done[-1]["text"]
        return [
            *prompt,
            {"role": "assistant", "content": draft},
            {"role": "user", "content": REVISE_ASK.format(critique=critique)},
        ]
    answers = "\n\n".join(
        f"Answer {i}:\n{step['text']}" for i, step in enumerate(done, 1) if step["role"] == "answer"
    )
    return [{"role": "user", "content": MERGE_ASK.format(question=question, answers=answers)}]


@dataclass
class PipelineItem:
    """One pipeline candidate in the making."""

    prompt_id: int
    position: int
    messages: list[dict[str, str]]
    done: list[dict[str, Any]]  # finished steps: {"agent", "role", "text", "tokens", "ms"}
    error: str | None = None


def run_stages(
    pipeline: dict[str, Any],
    items: list[PipelineItem],
    *,
    agent_settings: Callable[[str], JobSettings],
    backend_for: Callable[[JobSettings], Backend],
    save: Callable[[list[PipelineItem]], None],
) -> None:
    """Advance every item through the remaining stages, one batched call per stage."""
    for index, stage in enumerate(stages(pipeline)):
        todo = [it for it in items if it.error is None and len(it.done) == index]
        if not todo:
            continue
        gen = agent_settings(stage.agent)
        requests = [
            PromptRequest(
                key=i,
                messages=stage_messages(stage, it.messages, it.done),
                candidates=[
                    CandidateSpec(
                        0,
                        gen.seed_for(it.prompt_id, it.position, retry=index),
                        gen.temperature_for(it.position),
                    )
                ],
            )
            for i, it in enumerate(todo)
        ]
        results = backend_for(gen).generate(requests)
        for result in results:
            item = todo[result.key]
            if result.error or not result.outputs:
                item.error = f"{stage.role} by {stage.agent}: {result.error or 'no output'}"
                continue
            out = result.outputs[0]
            step = {
                "agent": stage.agent,
                "role": stage.role,
                "text": out.text,
                "tokens": out.completion_tokens,
                "ms": round(out.latency_ms, 1),
            }
            item.done = [*item.done, step]
        save(todo)


def candidate_output(
    name: str, pipeline: dict[str, Any], item: PipelineItem, seed: int | None
) -> GeneratedText:
    """The finished pipeline's candidate: the last step's text, with the whole transcript."""
    last = item.done[-1]
    return GeneratedText(
        position=item.position,
        seed=seed,
        temperature=0.0,
        text=last["text"],
        prompt_tokens=None,
        completion_tokens=sum(step.get("tokens") or 0 for step in item.done),
        latency_ms=sum(step.get("ms") or 0 for step in item.done),
        generator=name,
        model=recipe_label(pipeline),
        transcript=item.done,
    )

"""OpenAI-compatible chat completions over HTTP (vLLM, TGI, llama.cpp server, Ollama).

One request per prompt and temperature asks for `n` candidates at once; servers that
ignore `n` return fewer choices, and the rest are asked for one by one. Requests run in
a thread pool bounded by `openai_concurrency`. Timeouts, 429 and 5xx are retried with
exponential backoff; other 4xx fail that prompt with the server's message; a server
that cannot be reached at all fails the job (BackendUnavailable).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from app.core.config import Settings
from app.generation.backends import CandidateSpec, GeneratedText, PromptRequest, PromptResult
from app.generation.config import JobSettings
from app.generation.errors import BackendError, BackendUnavailable

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass
class OpenAIBackend:
    base_url: str
    model_name: str
    gen: JobSettings
    api_key: str = ""
    concurrency: int = 4
    timeout_seconds: float = 120.0
    max_retries: int = 3
    backoff_seconds: float = 0.5
    should_stop: Callable[[], bool] | None = None

    @classmethod
    def from_settings(cls, gen: JobSettings, s: Settings) -> OpenAIBackend:
        return cls(
            base_url=gen.base_url,
            model_name=gen.model,
            gen=gen,
            api_key=s.openai_api_key,
            concurrency=s.openai_concurrency,
            timeout_seconds=s.openai_timeout_seconds,
        )

    @property
    def batch_prompts(self) -> int:
        return self.concurrency * 2

    def generate(self, requests: list[PromptRequest]) -> list[PromptResult]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        with (
            httpx.Client(timeout=self.timeout_seconds, headers=headers) as client,
            ThreadPoolExecutor(max_workers=self.concurrency) as pool,
        ):
            return list(pool.map(lambda r: self._one_prompt(client, r), requests))

    def _one_prompt(self, client: httpx.Client, request: PromptRequest) -> PromptResult:
        result = PromptResult(request.key)
        by_temperature: dict[float, list[CandidateSpec]] = {}
        for spec in request.candidates:
            by_temperature.setdefault(spec.temperature, []).append(spec)
        try:
            for temperature, specs in by_temperature.items():
                result.outputs.extend(self._group(client, request, temperature, specs))
        except BackendUnavailable:
            raise
        except BackendError as exc:
            result.error = str(exc)
        result.outputs.sort(key=lambda o: o.position)
        return result

    def _group(
        self,
        client: httpx.Client,
        request: PromptRequest,
        temperature: float,
        specs: list[CandidateSpec],
    ) -> list[GeneratedText]:
        outputs: list[GeneratedText] = []
        while len(outputs) < len(specs):
            remaining = specs[len(outputs) :]
            started = time.perf_counter()
            body = self._post(client, request.messages, temperature, remaining)
            latency_ms = (time.perf_counter() - started) * 1000
            choices = body.get("choices") or []
            if not choices:
                raise BackendError(f"{self.base_url} answered without choices: {body!r:.200}")
            usage = body.get("usage") or {}
            single = len(choices) == 1
            for spec, choice in zip(remaining, choices, strict=False):
                message = choice.get("message") or {}
                outputs.append(
                    GeneratedText(
                        position=spec.position,
                        # With n > 1 one seed covers the whole request, so none is per-candidate.
                        seed=spec.seed if len(remaining) == 1 else None,
                        temperature=temperature,
                        text=(message.get("content") or "").strip(),
                        prompt_tokens=usage.get("prompt_tokens"),
                        completion_tokens=usage.get("completion_tokens") if single else None,
                        latency_ms=latency_ms,
                        finish_reason=choice.get("finish_reason"),
                    )
                )
        return outputs

    def _post(
        self,
        client: httpx.Client,
        messages: list[dict[str, str]],
        temperature: float,
        specs: list[CandidateSpec],
    ) -> dict[str, Any]:
        payload = {
            "model": self.model_name,
            "messages": messages,
            "temperature": temperature,
            "top_p": self.gen.top_p,
            "max_tokens": self.gen.max_new_tokens,
            "n": len(specs),
            "seed": specs[0].seed,
        }
        url = f"{self.base_url}/chat/completions"
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                response = client.post(url, json=payload)
            except httpx.TimeoutException:
                last_error = f"timed out after {self.timeout_seconds:g}s"
                continue
            except httpx.TransportError as exc:
                last_error = f"could not connect: {exc}"
                if attempt == self.max_retries:
                    raise BackendUnavailable(
                        f"OpenAI-compatible server at {self.base_url} is unreachable "
                        f"({exc}); check RANKLAB_OPENAI_BASE_URL or generation.base_url."
                    ) from None
                continue
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError:
                    raise BackendError(f"{url} answered with invalid JSON") from None
            last_error = f"HTTP {response.status_code}: {_server_message(response)}"
            if response.status_code not in RETRYABLE_STATUS:
                break
        raise BackendError(f"{url} failed: {last_error}")


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))[:300]
    return str(error or body)[:300]

"""The simulated CRM's HTTP client of the scoring service: `/score_batch` and `/feedback`, with
retries on connection errors and 503, and every failure as one line naming the URL, the status and
the simulated week (never a request body: it holds leads' personal data)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from core.errors import LeadscoreError

ATTEMPTS = 6  # per request, on a connection error or a 503 (the service restarting, its store down)
BACKOFF = 0.5  # seconds before the second attempt, doubled each time (at most MAX_WAIT)
MAX_WAIT = 8.0
MOST_EVENTS = 40_000  # per batch, the lead's and its contacts' (the service's default limit: 50,000)
MOST_CONTACTS = 4_000  # per batch (the service's default limit: 5,000)
MOST_LEADS = 1_000  # per batch (the service's default max_batch)


class CRM:
    """The service at `url` as a CRM calls it, with `key`; `http`: a client to use instead of one
    of its own (a test's ASGI client)."""

    def __init__(self, url: str, key: str, http: httpx.Client | None = None, sleep=time.sleep):
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}"}
        self.http = http or httpx.Client(timeout=120, transport=httpx.HTTPTransport(retries=2))
        self.sleep = sleep
        self.week = ""

    def score(self, leads: list[dict]) -> list[dict]:
        """The service's answers for `leads` (one batch), in order; a lead refused in its own slot
        stops the run (the simulated CRM only sends valid leads)."""
        items = self._post("/score_batch", {"leads": leads, "reasons": False})
        answers = [None] * len(leads)
        for item in items:
            if item.get("error"):
                raise LeadscoreError(f"{self.url}/score_batch: refused a lead in {self.week}: {item['error'][:200]}")
            answers[item["index"]] = item["result"]
        return answers

    def feedback(self, decision: dict) -> dict:
        """Post one decision; the service's receipt (stored, duplicate)."""
        return self._post("/feedback", {"feedback": decision})

    def _post(self, path: str, body: dict) -> Any:
        """POST `body` to `path`, again after a connection error or a 503 (after Retry-After, at
        most MAX_WAIT seconds); the JSON answer, or a LeadscoreError in one line."""
        url, wait = f"{self.url}{path}", BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = self.http.post(url, json=body, headers=self.headers)
            except httpx.TransportError as exc:
                if attempt == ATTEMPTS:
                    raise LeadscoreError(
                        f"{url}: service unreachable in {self.week} ({type(exc).__name__}); is `leadscore serve` "
                        "running there?"
                    ) from None
            else:
                if response.status_code != 503 or attempt == ATTEMPTS:
                    return self._answer(url, response)
                wait = max(wait, _retry_after(response))
            self.sleep(min(wait, MAX_WAIT))
            wait *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(self, url: str, response: httpx.Response) -> Any:
        """The JSON of a 2xx answer; else a LeadscoreError naming the status."""
        if response.status_code == 401:
            raise LeadscoreError(f"{url}: 401 in {self.week}: the service refused the key (LEADSCORE_API_KEY)")
        if response.status_code >= 300:
            raise LeadscoreError(f"{url}: {response.status_code} in {self.week}: {_message(response)}")
        try:
            return response.json()
        except ValueError:
            raise LeadscoreError(f"{url}: {response.status_code} in {self.week}: the answer is not JSON") from None


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("retry-after", 0))
    except ValueError:
        return 0.0


def _message(response: httpx.Response) -> str:
    """The service's own one-line error, shortened (it names fields, never values)."""
    try:
        body = response.json()
        text = body.get("error") or body.get("detail") or str(body) if isinstance(body, dict) else str(body)
    except ValueError:
        text = response.text
    return " ".join(str(text).split())[:200] or response.reason_phrase

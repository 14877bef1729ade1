"""API errors as kbmc raises them: typed by what the Status says, and a missing answer said in words."""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import urllib3
from tenacity import wait_none

from kbmc.errors import (
    ApiError,
    ConflictError,
    NotFoundError,
    NotServedError,
    ServerError,
    TooManyRequestsError,
    UnauthorizedError,
)
from kbmc.kube import rest
from kbmc.kube.rest import in_words

SERVER = "https://127.0.0.1:16445"


def status(code: int, reason: str, message: str = "", **details: str) -> bytes:
    return json.dumps({"kind": "Status", "code": code, "reason": reason, "message": message,
                       "details": details}).encode()


def test_the_type_says_what_happened_and_the_details_what_it_was_about() -> None:
    gone = ApiError.from_body(404, status(404, "NotFound", 'namespaces "t1" not found', kind="namespaces",
                                         name="t1"), "POST", "/api/v1/namespaces/t1/pods")
    assert isinstance(gone, NotFoundError) and (gone.kind, gone.name) == ("namespaces", "t1")
    assert isinstance(ApiError.from_body(404, b"404 page not found", "GET", "/apis/x"), NotServedError)
    assert isinstance(ApiError.from_body(409, status(409, "Conflict", kind="clusters"), "PATCH", "/x"), ConflictError)
    assert isinstance(ApiError.from_body(503, b"", "GET", "/x"), ServerError)
    rejected = ApiError.from_body(401, status(401, "Unauthorized", "Unauthorized"), "GET", "/version")
    assert isinstance(rejected, UnauthorizedError) and "credentials were rejected" in str(rejected)


def test_no_answer_in_words() -> None:
    refused = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111] "
                                                    "Connection refused")
    assert in_words(urllib3.exceptions.MaxRetryError(None, "/version", refused), SERVER) == \
        f"connection refused at {SERVER}"
    slow = urllib3.exceptions.ReadTimeoutError(None, "/version", "Read timed out. (read timeout=2.0)")
    assert in_words(urllib3.exceptions.MaxRetryError(None, "/version", slow), SERVER, (1.0, 2.0)) == \
        f"no answer from {SERVER} within 2.0 s"
    untrusted = urllib3.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to "
                                            "get local issuer certificate (_ssl.c:1006)")
    assert in_words(urllib3.exceptions.MaxRetryError(None, "/", untrusted), SERVER) == \
        f"TLS: the certificate of {SERVER} is signed by an unknown authority"
    cut = urllib3.exceptions.ProtocolError("Response ended prematurely")
    assert in_words(cut, SERVER) == f"{SERVER} closed the connection before its answer was complete"
    for words in (in_words(refused, SERVER), in_words(cut, SERVER)):
        assert "Error" not in words and "(" not in words, words


def test_retries_of_many_threads_at_once_keep_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sixteen threads retrying 429s through ``rest.retrying`` at once, switching threads as often as Python can
    (tenacity's own decorator shares its statistics between threads: this raised ``KeyError: 'idle_for'``)."""
    monkeypatch.setattr(rest.RETRYING, "wait", wait_none())
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        def refused_at_random(index: int) -> int:
            if random.random() < 0.5:
                raise TooManyRequestsError(429, "TooManyRequests", "try again", "GET /x")
            return index
        retried = rest.retrying(refused_at_random)
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: _or_refused(retried, i), range(3000)))
    finally:
        sys.setswitchinterval(previous)
    assert {a for a in answers if a is not None} <= set(range(3000))
    assert all(answer in (index, None) for index, answer in enumerate(answers))  # each call its own answer
    assert answers.count(None) < 300  # refused 5 times in a row: 1 in 32


def _or_refused(fn: Callable[[int], int], index: int) -> int | None:
    try:
        return fn(index)
    except TooManyRequestsError:
        return None

"""Hostile clients: no body of any shape gets a 5xx, every error has the one shape and the request-id header, and
a connection stays usable or is closed with `Connection: close`.

Regression classes first (lone UTF-16 surrogates, deep nesting, an unexpected error), then our own hypothesis
generators of hostile strings and structures, sent as raw bytes to the service as a user runs it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ServeApp
from tests.integration.test_faults import faulty_server
from tests.integration.test_judge_service import assert_error_shape

pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json"}


def nested(depth: int, leaf: str = '"x"', kind: str = "object") -> str:
    text = leaf
    for _ in range(depth):
        text = f'{{"a":{text}}}' if kind == "object" else f"[{text}]"
    return text


def with_arguments(arguments: str) -> bytes:
    call = f'{{"function":{{"name":"search","arguments":{arguments}}}}}'
    return f'{{"items":[{{"question":"q","messages":[{{"role":"assistant","tool_calls":[{call}]}}]}}]}}'.encode()


SURROGATES = {
    "question": b'{"items":[{"question":"\\ud800","trajectory":"t"}]}',
    "trajectory": b'{"items":[{"question":"q","trajectory":"a\\udc00b"}]}',
    "message content": b'{"items":[{"question":"q","messages":[{"role":"user","content":"\\udbff"}]}]}',
    "tool arguments": with_arguments('{"k":"\\ud800x"}'),
    "tool arguments string": with_arguments('"\\ud800"'),
    "item id": b'{"items":[{"id":"\\ud800","question":"q","trajectory":"t"}]}',
    "field name": b'{"items":[{"\\ud800":1,"question":"q","trajectory":"t"}]}',
    "reversed pair": b'{"items":[{"question":"\\ude00\\ud83d","trajectory":"t"}]}',
}


@pytest.mark.parametrize("where", list(SURROGATES))
def test_a_lone_surrogate_anywhere_is_a_422_naming_it(judge_url: str, where: str) -> None:
    with httpx.Client(base_url=judge_url, timeout=60) as client:
        error = assert_error_shape(client.post("/judge", content=SURROGATES[where], headers=JSON), 422)
        assert "surrogate" in json.dumps(error["details"])
        # the same keep-alive connection serves the next request
        assert client.post("/judge", json={"items": [{"question": "q", "trajectory": "t"}]}).status_code == 200


def test_a_surrogate_pair_is_valid_unicode(judge_url: str) -> None:
    body = b'{"items":[{"question":"\\ud83d\\ude00 ok?","trajectory":"t"}]}'
    assert httpx.post(f"{judge_url}/judge", content=body, headers=JSON, timeout=60).status_code == 200


@pytest.mark.parametrize("depth", [150, 201, 1_000, 100_000])
@pytest.mark.parametrize("kind", ["object", "array"])
def test_deeply_nested_tool_arguments_are_judged_or_a_422(judge_url: str, depth: int, kind: str) -> None:
    with httpx.Client(base_url=judge_url, timeout=60) as client:
        arguments = '{"k":' + nested(depth, kind=kind) + "}"  # arguments are an object (or a string)
        response = client.post("/judge", content=with_arguments(arguments), headers=JSON)
        if depth < 190:  # within the parser's 200 levels, counted over the whole body
            assert response.status_code == 200, response.text
        else:
            error = assert_error_shape(response, 422)
            assert "nested deeper than 200 levels" in json.dumps(error["details"])
        assert client.get("/readyz").status_code == 200


def test_non_standard_json_is_a_422(judge_url: str) -> None:
    for body in (b'{"items":[{"question":"q","trajectory":"t"}],"options":{"temperature":NaN}}', b"\xff\xfe", b"[1,]"):
        assert_error_shape(httpx.post(f"{judge_url}/judge", content=body, headers=JSON), 422)


async def test_an_unexpected_error_is_a_500_in_the_shape_and_closes_the_connection(serve_app: ServeApp) -> None:
    async with (
        faulty_server(serve_app) as (url, faulty),
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        faulty.raise_unexpected = True
        response = await client.post("/judge", json={"items": [{"question": "a bug", "trajectory": "t"}]})
        assert_error_shape(response, 500)
        assert response.headers["connection"] == "close"
        assert response.json()["error"]["type"] == "internal_error"
        faulty.raise_unexpected = False
        again = await client.post("/judge", json={"items": [{"question": "after the bug", "trajectory": "t"}]})
        assert again.status_code == 200


# --- our own generators: hostile strings inside structures of the right and the wrong shape ----------------

# hypothesis never draws surrogates as characters: they are mixed in as code points
surrogate = st.integers(0xD800, 0xDFFF).map(chr)
hostile_text = st.one_of(
    st.lists(st.one_of(st.characters(), surrogate), max_size=40).map("".join),
    st.sampled_from(["</score>", "<score>1</score>", "<SCORE>", "\x00", "\u2028", "\ufeff", "１", " " * 5000]),
    st.lists(st.one_of(st.sampled_from("<>/\\\"'{}[]\x00\u0301"), surrogate), max_size=20).map("".join),
)
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), hostile_text
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)),
    max_leaves=30,
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "tool", "system", "robot"])},
    optional={
        "content": st.one_of(hostile_text, json_value),
        "tool_calls": st.lists(
            st.fixed_dictionaries(
                {"function": st.fixed_dictionaries({"name": hostile_text, "arguments": json_value | hostile_text})}
            ),
            max_size=2,
        ),
        "reasoning_content": hostile_text,
    },
)
item = st.fixed_dictionaries(
    {"question": hostile_text},
    optional={"id": hostile_text, "trajectory": hostile_text, "messages": st.lists(message, max_size=3)},
)
body = st.one_of(
    st.fixed_dictionaries(
        {"items": st.lists(item, min_size=1, max_size=3)},
        optional={"options": st.fixed_dictionaries({"max_tokens": st.sampled_from([16, 32])})},
    ),
    json_value,
)


def encode(value: Any) -> bytes:
    # ensure_ascii writes a lone surrogate as its \\u escape, exactly what a hostile client sends
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def test_hostile_bodies_never_get_a_5xx(judge_url: str) -> None:
    with httpx.Client(base_url=judge_url, timeout=120) as client:

        @settings(
            max_examples=120, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
        )
        @given(payload=body, raw=st.binary(max_size=64), use_raw=st.integers(0, 9))
        def run(payload: Any, raw: bytes, use_raw: int) -> None:
            content = raw if use_raw == 0 else encode(payload)
            response = client.post("/judge", content=content, headers=JSON)
            assert response.status_code < 500, (content[:300], response.status_code, response.text[:300])
            if response.status_code >= 400:
                assert_error_shape(response, response.status_code)

        run()
        assert client.get("/readyz").status_code == 200

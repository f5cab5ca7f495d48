"""The system prompt's sources: the pinned, hash-checked released prompt (with a local stand-in: CI has no network),
its cache, offline copies, template files byte for byte, and what start-up does when the released prompt is missing."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from service.settings import Settings
from service.template_source import (
    BUILTIN,
    RELEASED,
    PinnedPrompt,
    TemplateUnavailable,
    builtin_prompt,
    configured_prompt,
    extract_prompt,
    file_prompt,
    released_prompt,
)

# Our own stand-in for the paper's tool_env.py: a module with the prompt constant among other code. Like the real
# one, the prompt starts and ends with a newline.
STAND_IN_PROMPT = "\nYou judge agents. Write <think>, <critique> and <score> blocks.\n  Indented line.\n"
STAND_IN_SOURCE = (
    '"""A stand-in environment module."""\n\nimport json\n\nLIMIT = 3\n\n'
    f"REWARD_MODEL_PROMPT = {STAND_IN_PROMPT!r}\n\n\ndef f():\n    return REWARD_MODEL_PROMPT\n"
).encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Files(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"not found")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[tuple[str, type[_Files]]]:
    """A local web server standing in for raw.githubusercontent.com."""

    class Files(_Files):
        files: ClassVar[dict[str, bytes]] = {
            "/tool_env.py": STAND_IN_SOURCE,
            "/changed.py": STAND_IN_SOURCE.replace(b"agents.", b"agents!"),
        }
        hits: ClassVar[list[str]] = []

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Files
    finally:
        server.shutdown()
        server.server_close()


def stand_in_pin(base_url: str, path: str = "/tool_env.py") -> PinnedPrompt:
    return PinnedPrompt(
        name="released:stand-in",
        url=base_url + path,
        variable="REWARD_MODEL_PROMPT",
        file_sha256=sha(STAND_IN_SOURCE),
        prompt_sha256=sha(STAND_IN_PROMPT.encode()),
    )


def test_the_pinned_file_is_fetched_checked_extracted_and_cached(origin: Any, tmp_path: Path) -> None:
    url, files = origin
    pin = stand_in_pin(url)
    fetched = released_prompt(pin, tmp_path)
    assert fetched.text == STAND_IN_PROMPT  # byte for byte: leading and trailing newlines kept
    assert (fetched.name, fetched.source) == ("released:stand-in", pin.url)
    cached = released_prompt(pin, tmp_path)  # second start: from the cache, no request
    assert cached.text == STAND_IN_PROMPT and "cached in" in cached.source and len(files.hits) == 1
    (cache_file,) = (tmp_path / "templates").iterdir()
    assert cache_file.read_bytes() == STAND_IN_PROMPT.encode()


def test_a_changed_file_is_refused(origin: Any, tmp_path: Path) -> None:
    url, _ = origin
    pin = replace(stand_in_pin(url), url=url + "/changed.py")
    with pytest.raises(
        TemplateUnavailable, match=r"did not give the pinned file: SHA-256 [0-9a-f]{64} matches neither"
    ):
        released_prompt(pin, tmp_path)
    assert not (tmp_path / "templates").exists()  # nothing unverified is cached


def test_a_tampered_cache_is_fetched_again(origin: Any, tmp_path: Path) -> None:
    url, files = origin
    pin = stand_in_pin(url)
    released_prompt(pin, tmp_path)
    (cache_file,) = (tmp_path / "templates").iterdir()
    cache_file.write_text("something else")
    assert released_prompt(pin, tmp_path).text == STAND_IN_PROMPT and len(files.hits) == 2


def test_no_network_is_said_plainly(tmp_path: Path) -> None:
    pin = stand_in_pin("http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(TemplateUnavailable, match=r"cannot download http://127\.0\.0\.1:9/tool_env\.py"):
        released_prompt(pin, tmp_path)


def test_offline_copies_are_hash_checked_whole_file_or_prompt_alone(tmp_path: Path) -> None:
    pin = stand_in_pin("http://unused.invalid")
    source, prompt, wrong = tmp_path / "tool_env.py", tmp_path / "prompt.txt", tmp_path / "wrong.txt"
    source.write_bytes(STAND_IN_SOURCE)
    prompt.write_bytes(STAND_IN_PROMPT.encode())
    wrong.write_bytes(STAND_IN_PROMPT.strip().encode())  # what a stripping copy-paste gives
    assert released_prompt(pin, tmp_path, local_copy=source).text == STAND_IN_PROMPT
    assert released_prompt(pin, tmp_path, local_copy=prompt).text == STAND_IN_PROMPT
    with pytest.raises(TemplateUnavailable, match=r"wrong\.txt is not the released prompt"):
        released_prompt(pin, tmp_path, local_copy=wrong)


def test_template_files_are_used_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    text = "\n  Judge it.\r\nTabs\tand trailing spaces  \n\n"
    path.write_bytes(text.encode())
    assert file_prompt(path).text == text  # no strip, no newline translation
    assert builtin_prompt().text.endswith("Write only the number in this block.\n</score>\n")


def test_extract_reads_the_constant_without_running_the_file() -> None:
    assert extract_prompt(b"import os\nos.remove('/')\nP = '\\nx\\n'\n", "P") == "\nx\n"
    with pytest.raises(TemplateUnavailable, match="no module-level Q"):
        extract_prompt(b"P = 'x'\n", "Q")
    with pytest.raises(TemplateUnavailable, match="not a plain string constant"):
        extract_prompt(b"P = 'x' + 'y'\n", "P")


def test_the_pin_names_the_full_commit_and_both_hashes() -> None:
    assert re.fullmatch(
        r"https://raw\.githubusercontent\.com/kxfan2002/Reagent/c106530[0-9a-f]{33}/rllm/environments/tools/tool_env\.py",
        RELEASED.url,
    )
    assert re.fullmatch("[0-9a-f]{64}", RELEASED.file_sha256) and re.fullmatch("[0-9a-f]{64}", RELEASED.prompt_sha256)
    assert RELEASED.variable == "REWARD_MODEL_PROMPT"


def test_auto_is_the_released_prompt_except_for_the_demo(origin: Any, tmp_path: Path) -> None:
    url, _ = origin
    pin = stand_in_pin(url)
    assert configured_prompt(Settings(model="demo", cache_dir=tmp_path), pin).name == BUILTIN
    assert configured_prompt(Settings(model="bunny127/Agent-RRM", cache_dir=tmp_path), pin).name == pin.name
    assert configured_prompt(Settings(model="/models/rrm", cache_dir=tmp_path, template="builtin"), pin).name == BUILTIN
    demo_released = configured_prompt(Settings(model="demo", cache_dir=tmp_path, template="released"), pin)
    assert demo_released.text == STAND_IN_PROMPT


def test_an_unavailable_released_prompt_refuses_or_falls_back_by_setting(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pin = stand_in_pin("http://127.0.0.1:9")
    settings = Settings(model="bunny127/Agent-RRM", cache_dir=tmp_path)
    with pytest.raises(TemplateUnavailable, match=r"--released-template-file.*--template-fallback builtin"):
        configured_prompt(settings, pin)
    fallback = configured_prompt(settings.model_copy(update={"template_fallback": "builtin"}), pin)
    assert fallback.name == BUILTIN and fallback.text == builtin_prompt().text
    assert "fallback: released prompt unavailable" in fallback.source
    assert "serving the builtin prompt" in caplog.text and "not trained on it" in caplog.text

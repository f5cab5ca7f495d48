"""Where the judge's system prompt comes from: the released prompt, a file, or the project's own wording.

Agent-RRM was trained with one system prompt, the constant `REWARD_MODEL_PROMPT` in the paper's repository. The
project does not copy its text; like the model's weights, it is obtained from its public source at a pinned revision,
checked against a pinned SHA-256 and cached (`<cache_dir>/templates/`), or read from a local copy on offline hosts.
Every prompt is used byte for byte: nothing is stripped or re-encoded.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from service.settings import Settings

__all__ = [
    "BUILTIN",
    "RELEASED",
    "PinnedPrompt",
    "SystemPrompt",
    "TemplateUnavailable",
    "builtin_prompt",
    "configured_prompt",
    "extract_prompt",
    "file_prompt",
    "released_prompt",
    "verified_prompt",
]

log = logging.getLogger(__name__)

BUILTIN = "builtin:default"


@dataclass(frozen=True)
class PinnedPrompt:
    """A system prompt defined as a string constant in a source file at a pinned revision."""

    name: str
    url: str
    variable: str
    file_sha256: str  # of the whole source file at that revision
    prompt_sha256: str  # of the prompt's UTF-8 bytes


_REAGENT_COMMIT = "c106530d144b6557738e09275e393a2bab06a7d1"
RELEASED = PinnedPrompt(
    name="released:kxfan2002/Reagent@c106530",
    url=f"https://raw.githubusercontent.com/kxfan2002/Reagent/{_REAGENT_COMMIT}/rllm/environments/tools/tool_env.py",
    variable="REWARD_MODEL_PROMPT",
    file_sha256="48c2b77b3c8b983494cd90cafa4d3a8c02933c77b1328cc4ba2ddff7422ad005",
    prompt_sha256="aee175b6d9e14a62a41e074757334bd954eb5f2cb8e983fcb543d26dac2cacf0",
)


@dataclass(frozen=True)
class SystemPrompt:
    text: str
    name: str  # which prompt: RELEASED.name, "builtin:default" or "file"
    source: str  # where its bytes came from: a URL, a cache file, a local file, the package


class TemplateUnavailable(RuntimeError):
    """The configured system prompt cannot be had (no network, no file, a hash that does not match)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract_prompt(source: bytes, variable: str) -> str:
    """The string constant `variable` assigned at module level in Python `source`, read without running it.

    Example:
        >>> extract_prompt(b"X = 1\\nPROMPT = '\\\\nHi.'\\n", "PROMPT")
        '\\nHi.'
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        raise TemplateUnavailable(f"the source file does not parse as Python: {exc}") from exc
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == variable for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
            raise TemplateUnavailable(f"{variable} is not a plain string constant")
    raise TemplateUnavailable(f"no module-level {variable} in the source file")


def verified_prompt(data: bytes, pin: PinnedPrompt) -> str:
    """The prompt in `data`, which is either the pinned source file or the prompt alone; each is hash-checked.

    Raises:
        TemplateUnavailable: `data` is neither, byte for byte.
    """
    digest = _sha256(data)
    if digest == pin.file_sha256:
        prompt = extract_prompt(data, pin.variable)
    elif digest == pin.prompt_sha256:
        prompt = data.decode("utf-8")
    else:
        raise TemplateUnavailable(
            f"SHA-256 {digest} matches neither the pinned source file ({pin.file_sha256}) "
            f"nor the pinned prompt ({pin.prompt_sha256})"
        )
    if _sha256(prompt.encode("utf-8")) != pin.prompt_sha256:
        raise TemplateUnavailable(f"the {pin.variable} extracted from the source file does not have the pinned hash")
    return prompt


def _cache_path(pin: PinnedPrompt, cache_dir: Path) -> Path:
    return cache_dir / "templates" / f"{pin.variable.lower()}-{pin.prompt_sha256[:16]}.txt"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".partial-", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def released_prompt(
    pin: PinnedPrompt, cache_dir: Path, local_copy: Path | None = None, timeout_s: float = 20.0
) -> SystemPrompt:
    """The pinned prompt from `local_copy` (offline hosts), else from the cache, else downloaded and cached.

    Args:
        pin: what to fetch and the hashes it must have.
        cache_dir: the service's cache folder; the prompt is kept in its `templates/` sub-folder.
        local_copy: a local copy of the pinned source file, or of the prompt alone; when given, nothing is fetched.
        timeout_s: how long the download may take.

    Raises:
        TemplateUnavailable: saying why, in words for the operator.
    """
    if local_copy is not None:
        try:
            data = local_copy.read_bytes()
        except OSError as exc:
            raise TemplateUnavailable(f"cannot read {local_copy}: {exc}") from exc
        try:
            return SystemPrompt(verified_prompt(data, pin), pin.name, str(local_copy))
        except TemplateUnavailable as exc:
            raise TemplateUnavailable(f"{local_copy} is not the released prompt: {exc}") from exc
    cached = _cache_path(pin, cache_dir)
    if cached.is_file():
        data = cached.read_bytes()
        if _sha256(data) == pin.prompt_sha256:
            return SystemPrompt(data.decode("utf-8"), pin.name, f"{pin.url} (cached in {cached})")
        log.warning("cached prompt %s does not have the pinned hash; fetching it again", cached)
    try:
        with urllib.request.urlopen(pin.url, timeout=timeout_s) as response:
            data = response.read(4 * 2**20)
    except (OSError, ValueError) as exc:
        raise TemplateUnavailable(f"cannot download {pin.url}: {exc}") from exc
    try:
        prompt = verified_prompt(data, pin)
    except TemplateUnavailable as exc:
        raise TemplateUnavailable(f"{pin.url} did not give the pinned file: {exc}") from exc
    _write_atomically(cached, prompt.encode("utf-8"))
    log.info("fetched the released prompt from %s into %s", pin.url, cached)
    return SystemPrompt(prompt, pin.name, pin.url)


def builtin_prompt() -> SystemPrompt:
    """The project's own wording (for models other than Agent-RRM, and the demo model)."""
    data = resources.files("service").joinpath("templates/default_system.txt").read_bytes()
    return SystemPrompt(data.decode("utf-8"), BUILTIN, "service/templates/default_system.txt")


def file_prompt(path: Path) -> SystemPrompt:
    """A system prompt from a file, byte for byte (no stripping, no newline translation); UTF-8."""
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateUnavailable(f"cannot read the template file {path}: {exc}") from exc
    return SystemPrompt(text, "file", str(path))


def configured_prompt(settings: Settings, pin: PinnedPrompt = RELEASED) -> SystemPrompt:
    """The system prompt the settings ask for (see `template`, `template_file`, `released_template_file`,
    `template_fallback`); called once at start-up.

    Raises:
        TemplateUnavailable: the released prompt cannot be had and `template_fallback` is `refuse`.
    """
    if settings.template_file is not None:
        return file_prompt(settings.template_file)
    choice = settings.template
    if choice == "auto":
        choice = "builtin" if settings.is_demo else "released"
    if choice == "builtin":
        return builtin_prompt()
    try:
        return released_prompt(pin, settings.cache_dir, settings.released_template_file)
    except TemplateUnavailable as exc:
        if settings.template_fallback == "refuse":
            raise TemplateUnavailable(
                f"the released Agent-RRM prompt ({pin.name}) is not available: {exc}. On an offline host give a "
                "local copy with --released-template-file; or start with --template-fallback builtin to serve this "
                "project's own wording instead (Agent-RRM was not trained on it)."
            ) from exc
        fallback = builtin_prompt()
        log.warning(
            "the released Agent-RRM prompt is not available (%s); serving the builtin prompt %s instead, as "
            "template_fallback=builtin says (Agent-RRM was not trained on it)",
            exc,
            fallback.source,
        )
        return SystemPrompt(fallback.text, fallback.name, f"{fallback.source} (fallback: released prompt unavailable)")

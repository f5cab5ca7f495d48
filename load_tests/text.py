"""Synthetic text that looks like an agent's world: prose, search results, web pages, code, tables, files.

Everything is made from the small word lists below and a `random.Random`, so the same generator state always
gives the same text and nothing outside this file is read. The text is meaningless; it only has the *shape* of
real agent traffic (word lengths, punctuation, URLs, numbers, code), which is what a tokenizer and a prefix
cache see.

Every `*_text(rng, n_chars, ...)` function returns exactly `n_chars` characters (cut at the end, as a tool
that truncates its output would), so callers can spend a length budget precisely.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = [
    "code_snippet",
    "entity",
    "file_listing_text",
    "fill",
    "markdown_table",
    "paragraph",
    "python_output_text",
    "search_results_text",
    "sentence",
    "thought_text",
    "title",
    "url",
    "web_page_text",
]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_FUNCTION = _words(
    "the of and to in is that for it as was with on by be this are from at or an have not which but "
    "were also its their has been more than after between during most about into first other over only "
    "these such both while"
)
_NOUNS = _words(
    "river city population museum protein algorithm treaty election species harbor railway census archive "
    "dataset reactor glacier manuscript festival orbit tariff vaccine bridge library theorem parliament "
    "satellite mineral dialect cathedral estuary compiler budget migration telescope vineyard battalion "
    "journal molecule province currency highway volcano enzyme senate tournament inventory lighthouse"
)
_ADJS = _words(
    "northern ancient annual official regional digital coastal primary historic federal modern rural "
    "industrial medieval tropical statistical final early late notable largest smallest public experimental"
)
_VERBS = _words(
    "reported described founded measured published recorded estimated announced observed classified "
    "replaced expanded restored documented introduced compared reviewed confirmed acquired translated"
)
_SYLLABLES = _words("ka lo ven mar tis ori bel dun sa ret ul frai gon ast mel pri qua zor hen vil")
_TLDS = ("com", "org", "net", "io", "edu", "gov", "info")
_PLANS = (
    "I should look for",
    "Next I need to check",
    "The previous result mentions",
    "It is not yet clear whether",
    "To confirm this I will compare",
    "A more reliable source may list",
    "Let me verify the figure for",
    "The page does not mention",
)
_CODE_LINES = (  # one small program, in order; snippets are runs of it
    "import {m}",
    "from {m} import {f}",
    "data = {f}('{p}')",
    "rows = [r for r in data if r['{c}'] > {n}]",
    "total = sum(r['{c}'] for r in rows)",
    "print(len(rows), total / max(len(rows), 1))",
    "for i, row in enumerate(rows[:{n}]):",
    "    print(i, row['{c}'], row.get('{k}'))",
    "def top_{c}(xs):",
    "    return sorted(xs, key=lambda x: x['{k}'])[-{n}:]",
    "result = {{'{c}': top_{c}(rows), '{k}': '{w}'}}",
    "print(result)",
)
_MODULES = ("math", "json", "csv", "statistics", "re", "datetime", "collections", "pandas", "numpy")


def _word(rng: random.Random) -> str:
    pool = rng.choice((_FUNCTION, _FUNCTION, _NOUNS, _ADJS, _VERBS))
    return rng.choice(pool)


def entity(rng: random.Random) -> str:
    """A made-up proper name (a place, person or organisation), e.g. ``"Venmarori"``.

    Args:
        rng: The random source.

    Returns:
        A capitalised word of 2 to 4 syllables.

    Example:
        >>> entity(random.Random(0)).istitle()
        True
    """
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def sentence(rng: random.Random) -> str:
    """One English-looking sentence of 6 to 18 words, sometimes with a name, a year or a figure in it.

    Args:
        rng: The random source.

    Returns:
        A capitalised sentence ending in a period.

    Example:
        >>> sentence(random.Random(1)).endswith(".")
        True
    """
    words = [_word(rng) for _ in range(rng.randint(6, 18))]
    for _ in range(rng.randint(0, 2)):
        extra = rng.choice((entity(rng), str(rng.randint(1800, 2024)), f"{rng.uniform(0, 1000):.1f}"))
        words.insert(rng.randrange(len(words) + 1), extra)
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, n_sentences: int = 4) -> str:
    """Sentences joined by spaces.

    Args:
        rng: The random source.
        n_sentences: How many sentences.

    Returns:
        The paragraph.

    Example:
        >>> paragraph(random.Random(0), 2).count(".") >= 2
        True
    """
    return " ".join(sentence(rng) for _ in range(n_sentences))


def title(rng: random.Random) -> str:
    """A headline such as ``"Annual Census of the Kaloven Railway"``."""
    return f"{rng.choice(_ADJS).title()} {rng.choice(_NOUNS).title()} of {entity(rng)}"


def url(rng: random.Random) -> str:
    """A fake but well-formed URL, e.g. ``https://www.venmar.org/archive/estuary-report-1987``."""
    host = f"{rng.choice(('www.', 'en.', 'docs.', ''))}{entity(rng).lower()}.{rng.choice(_TLDS)}"
    slug = "-".join([rng.choice(_NOUNS), rng.choice(_ADJS), str(rng.randint(1, 9999))])
    return f"https://{host}/{rng.choice(_NOUNS)}/{slug}"


def fill(rng: random.Random, n_chars: int, piece: Callable[[random.Random], str], sep: str = "\n") -> str:
    """Join pieces until there are at least `n_chars` characters, then cut to exactly `n_chars`.

    Args:
        rng: The random source, passed to `piece`.
        n_chars: Length of the result; 0 or less gives "".
        piece: Makes one piece of text from `rng`.
        sep: Put between pieces.

    Returns:
        A string of exactly `max(n_chars, 0)` characters.

    Example:
        >>> len(fill(random.Random(0), 50, sentence))
        50
    """
    parts: list[str] = []
    size = 0
    while size < n_chars:
        part = piece(rng)
        size += len(part) + (len(sep) if parts else 0)
        parts.append(part)
    return sep.join(parts)[: max(n_chars, 0)]


def markdown_table(rng: random.Random, rows: int, cols: int) -> str:
    """A markdown table with a header of nouns, a name column and numeric cells."""
    header = ["name", *rng.sample(_NOUNS, cols - 1)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * cols]
    for _ in range(rows):
        cells = [entity(rng)] + [f"{rng.uniform(0, 10 ** rng.randint(1, 6)):,.2f}" for _ in range(cols - 1)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def code_snippet(rng: random.Random, n_lines: int) -> str:
    """Python-looking code of `n_lines` lines: runs of a small template program with varied names."""
    lines: list[str] = []
    while len(lines) < n_lines:
        fields = {
            "m": rng.choice(_MODULES),
            "f": rng.choice(("load", "parse", "fetch", "read_table", "summarize")),
            "p": f"data/{rng.choice(_NOUNS)}_{rng.randint(1, 99)}.csv",
            "c": rng.choice(_NOUNS),
            "k": rng.choice(_ADJS),
            "n": rng.randint(2, 500),
            "w": entity(rng),
        }
        lines += [line.format(**fields) for line in _CODE_LINES[rng.choice((0, 2, 3)) :]]
    return "\n".join(lines[:n_lines])


def search_results_text(rng: random.Random, n_chars: int, query: str) -> str:
    """A search tool's result list for `query`: numbered titles, URLs and snippets."""
    counter = iter(range(1, 1_000_000))

    def result(r: random.Random) -> str:
        return f"{next(counter)}. {title(r)}\n   {url(r)}\n   {sentence(r)} ... {sentence(r)}"

    return fill(rng, n_chars, result, sep="\n\n")


def web_page_text(rng: random.Random, n_chars: int, page_url: str) -> str:
    """A fetched web page as markdown: title, URL, headings, paragraphs and the odd table or list."""

    def section(r: random.Random) -> str:
        kind = r.random()
        if kind < 0.15:
            return markdown_table(r, r.randint(3, 12), r.randint(3, 6))
        if kind < 0.3:
            return "\n".join(f"- {sentence(r)}" for _ in range(r.randint(2, 6)))
        return f"## {title(r)}\n\n{paragraph(r, r.randint(2, 6))}"

    head = f"# {title(rng)}\nSource: {page_url}\n\n"
    return (head + fill(rng, n_chars - len(head), section, sep="\n\n"))[: max(n_chars, 0)]


def python_output_text(rng: random.Random, n_chars: int) -> str:
    """What a python tool prints: numbers, dicts, a table, or a traceback."""
    style = rng.random()

    def line(r: random.Random) -> str:
        if style < 0.45:
            return f"{r.randint(0, 999)} {r.uniform(-1e4, 1e4):.4f} {entity(r)}"
        if style < 0.75:
            return str({r.choice(_NOUNS): round(r.uniform(0, 100), 3) for _ in range(r.randint(1, 4))})
        return markdown_table(r, r.randint(2, 8), r.randint(2, 5))

    if rng.random() < 0.15:  # the agent's code failed after printing something
        trace = (
            f'Traceback (most recent call last):\n  File "<stdin>", line {rng.randint(1, 40)}, in <module>\n'
            f"KeyError: '{rng.choice(_NOUNS)}'"
        )
        head = fill(rng, max(n_chars - len(trace) - 1, 1), line)
        return (head + "\n" + trace)[: max(n_chars, 0)]
    return fill(rng, n_chars, line)


def file_listing_text(rng: random.Random, n_chars: int) -> str:
    """An `ls -l`-style listing or a CSV file's contents."""
    if rng.random() < 0.5:

        def entry(r: random.Random) -> str:
            name = f"{r.choice(_NOUNS)}_{r.randint(1, 99)}.{r.choice(('csv', 'json', 'py', 'txt', 'md'))}"
            return f"-rw-r--r--  1 agent agent {r.randint(120, 9_999_999):>9} Mar {r.randint(1, 28):>2} {name}"

        return fill(rng, n_chars, entry)
    cols = rng.sample(_NOUNS, rng.randint(3, 7))
    header = ",".join(cols) + "\n"

    def row(r: random.Random) -> str:
        return ",".join([entity(r)] + [str(r.randint(0, 10**5)) for _ in cols[1:]])

    return (header + fill(rng, n_chars - len(header), row))[: max(n_chars, 0)]


def thought_text(rng: random.Random, n_chars: int, subject: str) -> str:
    """An agent's reasoning about `subject`: planning phrases mixed with prose."""

    def piece(r: random.Random) -> str:
        return f"{r.choice(_PLANS)} {subject} {r.choice(_FUNCTION)} {r.choice(_NOUNS)}. {sentence(r)}"

    return fill(rng, n_chars, piece, sep=" ")

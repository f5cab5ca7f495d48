"""The parser and the structured-output grammar agree exactly: whatever the grammar lets the model write parses.

The grammar's acceptance is decided by xgrammar itself (vLLM's default structured-output backend, installed with
vLLM), not by Python's `re`, so a difference between the two regex dialects would show here.
"""

from __future__ import annotations

import re

import pytest
import xgrammar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xgrammar.testing import _is_grammar_accept_string

from service.parsing import Parsed, ParseFailure, judgment_regex, parse_judgment

GRAMMARS = {
    "unbounded": judgment_regex(),
    "bounded": judgment_regex(think_max_chars=12, critique_max_chars=8),
}
_COMPILED = {name: xgrammar.Grammar.from_regex(regex) for name, regex in GRAMMARS.items()}


def grammar_accepts(name: str, text: str) -> bool:
    return bool(_is_grammar_accept_string(_COMPILED[name], text))


# Pieces a model could write, chosen at the edges of the rules: tags in other cases, Unicode digits and spaces.
tag_like = st.sampled_from(["<think>", "</think>", "</Think>", "<THINK>", "</critique>", "</CRITIQUE>", "<Score>"])
spaces = st.lists(st.sampled_from([" ", "\n", "\t", "\r", "\u00a0", "\u2028", "\u3000"]), max_size=3).map("".join)
digits = st.lists(st.sampled_from(["0", "1", "5", ".", "０", "１", "٣", "e"]), min_size=1, max_size=4).map("".join)
inner = st.lists(
    st.one_of(tag_like, st.sampled_from(["a", "<", ">", "/", "x<y", "</", "</thin", "é", "１"])), max_size=5
).map("".join)
near_judgment = st.builds(
    lambda a, g1, b, g2, w1, n, w2: f"<think>{a}</think>{g1}<critique>{b}</critique>{g2}<score>{w1}{n}{w2}</score>",
    inner,
    spaces,
    inner,
    spaces,
    spaces,
    digits,
    spaces,
)


@settings(max_examples=600, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(text=near_judgment, name=st.sampled_from(sorted(GRAMMARS)))
def test_what_the_grammar_accepts_parses(text: str, name: str) -> None:
    accepted = grammar_accepts(name, text)
    assert accepted == bool(re.fullmatch(GRAMMARS[name], text)), "xgrammar and Python's re read the grammar alike"
    if accepted:
        assert isinstance(parse_judgment(text, "stop"), Parsed), text


def test_the_generator_reaches_both_sides_of_the_grammar() -> None:
    accepted = "<think>a < b</think>\n<critique>x</critique> <score>0.25</score>"
    assert grammar_accepts("unbounded", accepted) and isinstance(parse_judgment(accepted), Parsed)


@pytest.mark.parametrize(
    "text",
    [
        "<think>a</Think> b</think><critique>c</critique><score>0.5</score>",  # a case variant inside a block
        "<think>a</think><critique>c<SCORE></critique><score>0.5</score>",
        "<THINK>a</THINK><CRITIQUE>c</CRITIQUE><SCORE>0.5</SCORE>",  # all upper case
        "<think>a</think><critique>c</critique><score>１</score>",  # a fullwidth digit
        "<think>a</think><critique>c</critique><score>٠.٥</score>",  # Arabic-Indic digits
        "<think>a</think>\u00a0<critique>c</critique><score>0.5</score>",  # a no-break space between blocks
        "<think>a</think><critique>c</critique><score>\u20030.5</score>",  # an em space in the score
    ],
)
def test_what_the_parser_rejects_the_grammar_never_allows(text: str) -> None:
    assert isinstance(parse_judgment(text, "stop"), ParseFailure)
    assert not any(grammar_accepts(name, text) for name in GRAMMARS)

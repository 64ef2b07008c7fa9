"""harmony's special tokens as text, and keeping text from forging them (shared by render and parse)."""

from __future__ import annotations

import re

CONTROL_TOKENS: tuple[str, ...] = (
    "<|start|>",
    "<|end|>",
    "<|message|>",
    "<|channel|>",
    "<|constrain|>",
    "<|return|>",
    "<|call|>",
    "<|endoftext|>",
    "<|startoftext|>",
)

ZWSP = "\u200b"
START, END, MESSAGE, CHANNEL, CONSTRAIN, RETURN, CALL, EOT, SOT = CONTROL_TOKENS
# Anything shaped like a special token (gpt-oss also has <|reserved_200013|> and friends).
_TOKEN_SHAPE_RE = re.compile(r"<\|[A-Za-z0-9_]+\|>")
_TOKEN_OPENER_RE = re.compile(r"<\|(?=[A-Za-z0-9_]+\|>)")


def neutralise(text: str) -> str:
    """Make token-shaped text inert: `<|end|>` becomes `<\\u200b|end|>`.

    llama.cpp parses special tokens in the prompt, so a user who pastes `<|end|><|start|>system...`
    would otherwise forge structure. A zero width space reads the same to a person and breaks the
    match. Only a `<|` that opens a `<|name|>` shape is touched, so code such as Haskell's `<|>`
    stays byte-identical. No token can form across a content boundary: every token we render starts
    with `<`, which no token name contains.
    """
    return _TOKEN_OPENER_RE.sub("<" + ZWSP + "|", text)


def strip_control_tokens(text: str) -> str:
    """Remove anything shaped like a special token, repeating until removal creates no new one."""
    while True:
        stripped = _TOKEN_SHAPE_RE.sub("", text)
        if stripped == text:
            return text
        text = stripped

"""Every sentence the window shows, in one place, so the voice stays consistent and reviewable.

Written for the person at the keyboard: what is happening, and what they can do about it.
"""

from __future__ import annotations

from fireside.core.chat.events import ReplyStats
from fireside.core.engine.protocol import ModelInfo
from fireside.core.units import human_bytes

APP_NAME = "Fireside"

# First run
WELCOME_TITLE = "Welcome to Fireside"
WELCOME_BODY = (
    "Fireside runs OpenAI's gpt-oss models right here on your computer. "
    "Nothing you type leaves this machine."
)
WELCOME_HOW = (
    "To start, open a model file you have already downloaded. "
    "Model files end in .gguf, for example gpt-oss-20b-mxfp4.gguf."
)
WELCOME_DOWNLOAD = (
    "Don't have one yet? Fireside can download gpt-oss-20b for you (about 12 GB), check that "
    "it arrived intact, and tell you how well it will run on this computer before you start."
)
DOWNLOAD_MODEL_BUTTON = "Get gpt-oss-20b…"
OPEN_MODEL_BUTTON = "Open a model file…"
OPEN_MODEL_DIALOG_TITLE = "Open a model file"
OPEN_MODEL_FILTER = "GGUF model files (*.gguf);;All files (*)"

# Status
NO_MODEL = "No model loaded"
LOAD_FAILED_TITLE = "Couldn't load the model"
SETTINGS_SAVE_FAILED = "Couldn't save your settings"
NOTE_TITLE = "About this model"
EMPTY_CHAT = "Ask anything. Your conversation stays on this computer."


def loading(name: str) -> str:
    return f"Loading {name}…"


def model_status(info: ModelInfo) -> str:
    """Status-bar line for a loaded model: name, context size, file size, fit and where it runs."""
    parts = [info.name, f"{info.n_ctx:,}-token context"]
    if info.size_bytes > 0:
        parts.append(human_bytes(info.size_bytes))
    if info.fit:
        parts.append(info.fit)
    if info.device:
        parts.append(info.device)
    return " · ".join(parts)


def load_crashed(exc: BaseException) -> str:
    return f"Something went wrong while loading the model: {exc}"


def generation_crashed(exc: BaseException) -> str:
    return f"Something went wrong while generating: {exc}"


# Composer
NO_ANSWER = "No answer: the model stopped before it wrote one."
NO_ANSWER_THINKING = "No answer yet: the model stopped while it was still thinking."
PLACEHOLDER_READY = "Message the model (Enter to send)"
COMPOSER_TOOLTIP = "Enter sends your message; Shift+Enter starts a new line."
PLACEHOLDER_NO_MODEL = "Open a model to start chatting"
PLACEHOLDER_LOADING = "Loading the model…"
SEND = "Send"
STOP = "Stop"
STOPPING = "Stopping…"
EFFORT_LABEL = "Reasoning"
EFFORT_CHOICES = (("Low", "low"), ("Medium", "medium"), ("High", "high"))
EFFORT_TOOLTIP = (
    "How long gpt-oss thinks before it answers. Higher effort is slower but more careful. "
    "Applies to your next message."
)
MANAGED = "Managed by your organisation"
EFFORT_NOT_ALLOWED = "{effort} (turned off by your organisation)"
POLICY_PROBLEM_TITLE = "Your organisation's Fireside policy has a problem"
EFFORT_UNSUPPORTED = (
    "Reasoning effort only applies to gpt-oss models. The model you loaded doesn't use it."
)

# Messages
YOU = "You"
ASSISTANT = "Assistant"
THINKING = "Thinking…"
REASONING = "Reasoning"
WAITING = "Working on it…"
STOPPED = "Stopped"
COPY = "Copy"
COPIED = "Copied"


def thought_for(seconds: float) -> str:
    if seconds < 10:
        return f"Thought for {seconds:.1f} s"
    return f"Thought for {seconds:.0f} s"


_STOP_NOTES = {
    "cancelled": STOPPED,
    "length": "Reached the reply length limit",
    "context": "The conversation filled the model's memory (context)",
    "error": "Ended by an error",
}


def footer(stats: ReplyStats) -> str:
    """E.g. '0.41 s to first token · 23.5 tok/s · 120 reasoning · 48 answer tokens'."""
    parts = [
        f"{stats.ttft_s:.2f} s to first token",
        f"{stats.tokens_per_s:.1f} tok/s",
        f"{stats.reasoning_tokens:,} reasoning",
        f"{stats.answer_tokens:,} answer tokens",
    ]
    note = _STOP_NOTES.get(stats.stop_reason)
    return " · ".join([note, *parts] if note else parts)


# Reasoning panel
PANEL_TITLE = "Reasoning"
PANEL_EMPTY = "Select a reply to see how the model reasoned about it."
PANEL_NO_REASONING = "This reply has no reasoning."
PANEL_WAITING = "Waiting for the model to start thinking…"


def panel_subject(question: str) -> str:
    """The user message a trace belongs to, shortened to one line."""
    line = " ".join(question.split())
    if len(line) > 80:
        line = line[:79].rstrip() + "…"
    return f"Reasoning for “{line}”" if line else PANEL_TITLE


def panel_meta(
    streaming: bool, seconds: float | None, tokens: int | None, answered: bool
) -> str:
    if streaming and not answered:
        return THINKING
    parts = []
    if seconds is not None:
        parts.append(thought_for(seconds))
    if tokens is not None:
        parts.append(f"{tokens:,} reasoning tokens")
    return " · ".join(parts)


# Menus
MENU_FILE = "&File"
MENU_CHAT = "&Chat"
MENU_VIEW = "&View"
MENU_HELP = "&Help"
ACTION_OPEN = "&Open model…"
ACTION_RECENT = "Open &recent"
ACTION_QUIT = "&Quit"
ACTION_NEW_CHAT = "&New chat"
ACTION_STOP = "&Stop generating"
ACTION_PANEL = "&Reasoning panel"
ACTION_ABOUT = "&About Fireside"
NO_RECENT = "No recent models"
ABOUT_TEXT = (
    "Fireside runs OpenAI's gpt-oss models on your own computer through llama.cpp. "
    "Your conversations never leave this machine."
)

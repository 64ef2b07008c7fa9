"""Every sentence the window shows, in one place, so the voice stays consistent and reviewable.

Written for the person at the keyboard: what is happening, and what they can do about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fireside.core.chat.events import CallOutcome, ReplyStats, ToolCall
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
    if stats.adapters:
        parts.append(adapters_text(stats.adapters))
    if stats.drafted_tokens > 0:  # speculative decoding, for power users
        parts.append(f"{stats.accepted_tokens:,} of {stats.drafted_tokens:,} drafted tokens accepted")
    note = _STOP_NOTES.get(stats.stop_reason)
    return " · ".join([note, *parts] if note else parts)


# Tool steps in the transcript
TOOL = "Tool"
NO_TOOL_OUTPUT = "(no output)"


def tool_name(recipient: str) -> str:
    return recipient.removeprefix("functions.").replace("__", " › ")


def tool_calls_markdown(calls: tuple[ToolCall, ...]) -> str:
    """A step's calls as the transcript shows them: the tool, then its arguments (code for python)."""
    parts = []
    for call in calls:
        language = "python" if call.recipient == "python" else "json"
        fence = "```"
        while fence in call.arguments:
            fence += "`"
        incomplete = " (cut off before it was complete)" if call.incomplete else ""
        parts.append(f"**Uses {tool_name(call.recipient)}**{incomplete}\n\n{fence}{language}\n"
                     f"{call.arguments}\n{fence}")
    return "\n\n".join(parts)


def tool_result_title(recipient: str, outcome: CallOutcome, seconds: float | None) -> str:
    if outcome is CallOutcome.DECLINED:
        return f"You declined: {tool_name(recipient)} did not run"
    if outcome is CallOutcome.STOPPED:
        return f"Stopped before {tool_name(recipient)} ran"
    if outcome is CallOutcome.CUT_OFF:
        return f"Cut off: {tool_name(recipient)} did not run"
    if outcome is CallOutcome.UNAVAILABLE:
        return f"No tools can run here: {tool_name(recipient)} did not run"
    took = f" · {seconds:.2f} s" if seconds is not None else ""
    if outcome is not CallOutcome.OK:
        return f"{tool_name(recipient)} failed{took}"
    return f"Result from {tool_name(recipient)}{took}"


# Approving a tool call
APPROVE_TITLE = "Allow this tool call?"
APPROVE_ONCE = "Allow Once"
APPROVE_CHAT = "Allow for This Chat"
APPROVE_ALWAYS = "Always Allow"
APPROVE_DENY = "Deny"


def approve_heading(recipient: str) -> str:
    return "Run this Python code?" if recipient == "python" else f"Use {tool_name(recipient)}?"


def approve_question(recipient: str) -> str:
    if recipient == "python":
        return ("The model wants to run this Python code. It runs in a sandbox with no network "
                "access, can only write to this chat's own folder, and is stopped after its time limit.")
    return f"The model wants to use {tool_name(recipient)} with these arguments."
def adapters_text(labels: tuple[str, ...]) -> str:
    """LoRA adapters as "name:scale" labels, for people: 'LoRA legal ×0.8, tone, style off'."""
    shown = []
    for label in labels:
        name, _, scale = label.rpartition(":")
        shown.append(name if scale == "1" else f"{name} off" if scale == "0" else f"{name} ×{scale}")
    return "LoRA " + ", ".join(shown)


JSON_ANSWER = "{ } JSON answer"


def json_answer_tooltip(schema: Mapping[str, Any]) -> str:
    """What the composer's "JSON answer" label says on hover: the fields the answer will have."""
    props = schema.get("properties")
    details = []
    if isinstance(schema.get("title"), str) and schema["title"].strip():
        details.append(f"“{schema['title'].strip()}”")
    if isinstance(props, dict) and props:
        details.append("fields: " + ", ".join(str(k) for k in props))
    detail = f" ({'; '.join(details)})" if details else ""
    return ("The model reasons freely, then answers in JSON that follows the schema of the preset "
            f"this chat started from{detail}.")


ADAPTERS_TOOLTIP = ("LoRA adapters applied to the next replies (from the preset this chat "
                    "started from, or Models ▸ LoRA adapters ▸ Use in this chat). Click to "
                    "change how strongly each applies, or to remove one:\n{files}")
ADAPTER_SCALE_OFF = "Off"
ADAPTER_SCALE_TOOLTIP = ("How strongly the adapter changes the model's answers (its scale): 1 applies "
                         "it as it was trained, less tones it down, Off leaves the model as it is, "
                         "and above 1 exaggerates it.")
ADAPTER_SCALE_NAME = "Scale of {name}"
ADAPTER_REMOVE = "Remove"
ADAPTER_REMOVE_NAME = "Remove {name}"
ADAPTER_REMOVE_TOOLTIP = "Stop applying this adapter (the file stays installed)."
ADAPTER_NOT_ALLOWED = "{name} (not allowed by your organisation)"
ADAPTER_POPUP_TITLE = "LoRA adapters for this chat's next replies"
ADAPTER_POPUP_HINT = "Add more from Models ▸ LoRA adapters ▸ Use in this chat."
PRESET_ADAPTERS_NOTE = ("The preset applies these adapters to the chats started from it, each at "
                        "its scale.")
PRESET_NO_ADAPTERS = ("This chat uses no LoRA adapters. To give the preset one, add it to the chat "
                      "first (Models ▸ LoRA adapters ▸ Use in this chat), then save the preset.")
ADAPTERS_CHECKING = "{adapters} · checking…"
ADAPTERS_CHECKING_TOOLTIP = ("Checking these adapters against your organisation's list of allowed "
                             "adapters; you can send once the check is done.")


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

# The Tools dialog (Chat ▸ Tools…)
ACTION_TOOLS = "&Tools…"
ACTION_TOOLS_TIP = "MCP servers, their tools and the python tool: what the model may use"
TOOLS_TITLE = "Tools"
TOOLS_HEADING = "Tools the model can use"
TOOLS_INTRO = (
    "Turn a server or a single tool off and the model is no longer offered it; this counts from "
    "your next message. Every call still asks for your approval unless you chose Always Allow."
)
TOOLS_COL_NAME = "Tool"
TOOLS_COL_STATE = "State"
TOOLS_COL_ALWAYS = "Always allow"
TOOLS_PYTHON = "python  (built in)"
TOOLS_ALWAYS = "Always allowed"
TOOLS_ALWAYS_TIP = "Runs without asking. Untick to be asked before every call again."
TOOLS_ALWAYS_FORBIDDEN = "Not permitted"
TOOLS_FROM_CACHE = "(as listed last time)"
TOOLS_OPEN_FOLDER = "Open Folder"
TOOLS_COPY_PATH = "Copy Path"
TOOLS_REFRESH = "Refresh"
TOOLS_REFRESH_TIP = "Reconnect to every MCP server that is on and list its tools again"
TOOLS_CLOSE = "Close"
TOOLS_CONNECTING = "Connecting to MCP servers…"
TOOLS_WAITING = "waiting to start…"
TOOL_STATES = {
    "on": "on",
    "off": "off",
    "server off": "server is off",
    "blocked by policy": "blocked by your organisation",
    "not available": "not available",
    "not started": "not started",
    "starting": "starting…",
    "running": "running",
    "stopped": "stopped",
    "failed": "failed",
}


def tool_count(n: int) -> str:
    return f"{n} tool" if n == 1 else f"{n} tools"


def tools_config_line(path: str, exists: bool) -> str:
    if exists:
        return f"MCP servers come from {path}"
    return f"No MCP servers yet: add them to {path} (the mcpServers notation of Claude Desktop and Cursor)"


def tools_problems(problems: tuple[str, ...]) -> str:
    return "Some of your tool settings could not be used:\n" + "\n".join(f"• {p}" for p in problems)


def tools_path_copied(path: str) -> str:
    return f"Copied {path}"


def tools_folder_not_opened(folder: str) -> str:
    return f"Couldn't open {folder} here; its path is copied to the clipboard instead."


def tools_model_name(name: str) -> str:
    return f"The model calls it functions.{name}"


def tools_isolation(platform: str) -> str:
    return f"Its isolation (listed under it) was checked on this computer: {platform}."


def tools_server_details(transport: str, target: str, error: str) -> str:
    how = "Runs" if transport == "stdio" else "Reached at"
    return "\n".join(x for x in (f"{how}: {target}", error) if x)


def tools_connected(running: int, failed: int) -> str:
    if not running and not failed:
        return ""
    parts = [f"{running} running"] if running else []
    parts += [f"{failed} failed (the reason is under each one)"] if failed else []
    return "MCP servers: " + ", ".join(parts) + "."

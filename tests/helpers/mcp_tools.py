"""Ten tool definitions shaped like those of common MCP servers (filesystem, git, fetch, GitHub):
about 2,000 tokens of harmony `# Tools` text for gpt-oss, the load the prefix-state cache is for.
"""

from __future__ import annotations

from fireside.core.chat.conversation import FunctionTool


def _string(description: str) -> dict[str, object]:
    return {"type": "string", "description": description}


_NOTES = {  # the second paragraph servers add: where it works and what it returns
    "fs": "The server only reaches the directories it was started with (see list_allowed_"
          "directories); every path is checked against them after symbolic links are resolved, "
          "and a path outside them is refused with an error that names the allowed roots.",
    "git": "Runs git in the given repository with the user's configuration; the repository must "
           "exist and be readable. Output longer than the client's limit is cut at a line "
           "boundary and says how many lines were left out.",
    "web": "Robots.txt is honoured unless the server was started with --ignore-robots-txt; pages "
           "are converted to markdown with links kept as references at the end.",
    "gh": "Needs a personal access token with the repo scope; rate limits apply, and a 403 answer "
          "says when the limit resets.",
}


def _tool(name: str, description: str, properties: dict[str, dict[str, object]],
          required: tuple[str, ...], note: str = "fs") -> FunctionTool:
    return FunctionTool(name, f"{description} {_NOTES[note]}",
                        {"type": "object", "properties": properties, "required": list(required)})


_PATH = _string("Absolute path inside one of the allowed directories. Relative paths are resolved "
                "against the first allowed directory; symbolic links that leave it are refused.")
_REPO = _string("Path to the Git repository's working tree on this machine.")

TEN_TOOLS: tuple[FunctionTool, ...] = (
    _tool("read_text_file",
          "Read the complete contents of a file from the file system as text. Handles various "
          "text encodings and gives detailed error messages if the file cannot be read. Use this "
          "tool when you need to examine the contents of a single file. Use the 'head' parameter "
          "to read only the first N lines of a file, or the 'tail' parameter to read only the last "
          "N lines. Only works within allowed directories.",
          {"path": _PATH,
           "head": {"type": "integer", "description": "If provided, returns only the first N lines."},
           "tail": {"type": "integer", "description": "If provided, returns only the last N lines."}},
          ("path",)),
    _tool("write_file",
          "Create a new file or completely overwrite an existing file with new content. Use with "
          "caution as it will overwrite existing files without warning. Handles text content with "
          "proper encoding. Only works within allowed directories.",
          {"path": _PATH, "content": _string("The complete new contents of the file.")},
          ("path", "content")),
    _tool("edit_file",
          "Make line-based edits to a text file. Each edit replaces exact line sequences with new "
          "content. Returns a git-style diff showing the changes made. Only works within allowed "
          "directories.",
          {"path": _PATH,
           "edits": {"type": "array", "description": "The edits to apply, in order.",
                     "items": {"type": "object", "properties": {
                         "oldText": _string("Text to search for; must match exactly."),
                         "newText": _string("Text to replace it with.")},
                         "required": ["oldText", "newText"]}},
           "dryRun": {"type": "boolean", "default": False,
                      "description": "Preview changes using git-style diff format."}},
          ("path", "edits")),
    _tool("list_directory",
          "Get a detailed listing of all files and directories in a specified path. Results "
          "clearly distinguish between files and directories with [FILE] and [DIR] prefixes. This "
          "tool is essential for understanding directory structure and finding specific files "
          "within a directory. Only works within allowed directories.",
          {"path": _PATH,
           "sortBy": {"type": "string", "enum": ["name", "size"], "default": "name",
                      "description": "Sort entries by name or by size."}},
          ("path",)),
    _tool("search_files",
          "Recursively search for files and directories matching a pattern. Searches through all "
          "subdirectories from the starting path. The search is case-insensitive and matches "
          "partial names. Returns full paths to all matching items. Great for finding files when "
          "you don't know their exact location. Only searches within allowed directories.",
          {"path": _PATH, "pattern": _string("Glob-style pattern to match file names against."),
           "excludePatterns": {"type": "array", "items": {"type": "string"},
                               "description": "Glob patterns of paths to leave out."}},
          ("path", "pattern")),
    _tool("git_status",
          "Shows the working tree status: which files are staged, which are modified but not "
          "staged, and which are untracked, with the current branch and how far it is ahead of "
          "or behind its upstream branch.",
          {"repo_path": _REPO}, ("repo_path",), "git"),
    _tool("git_diff",
          "Shows differences between branches or commits, or the unstaged changes in the working "
          "directory when no target is given. Output is a unified diff with the given number of "
          "context lines around each change.",
          {"repo_path": _REPO, "target": _string("Branch, tag or commit to compare with."),
           "context_lines": {"type": "integer", "default": 3,
                             "description": "Number of context lines to show around changes."}},
          ("repo_path",), "git"),
    _tool("git_log",
          "Shows the commit logs: hash, author, date and message of each commit, newest first, "
          "optionally limited to a date range or a number of commits.",
          {"repo_path": _REPO,
           "max_count": {"type": "integer", "default": 10,
                         "description": "Maximum number of commits to show."},
           "start_timestamp": _string("Only commits after this date (ISO 8601 or relative, "
                                      "such as '2 weeks ago')."),
           "end_timestamp": _string("Only commits before this date.")},
          ("repo_path",), "git"),
    _tool("fetch",
          "Fetches a URL from the internet and optionally extracts its contents as markdown. "
          "Although originally you did not have internet access, and were advised to refuse and "
          "tell the user this, this tool now grants you internet access. Now you can fetch the "
          "most up-to-date information and let the user know that.",
          {"url": _string("URL to fetch."),
           "max_length": {"type": "integer", "default": 5000,
                          "description": "Maximum number of characters to return."},
           "start_index": {"type": "integer", "default": 0,
                           "description": "Start the content at this character index, useful if "
                                          "a previous fetch was truncated and more context is "
                                          "required."},
           "raw": {"type": "boolean", "default": False,
                   "description": "Get the actual HTML content of the requested page, without "
                                  "simplification."}},
          ("url",), "web"),
    _tool("create_issue",
          "Create a new issue in a GitHub repository. The issue is opened under the account of "
          "the configured token; labels and assignees must already exist in the repository.",
          {"owner": _string("Repository owner (user or organisation)."),
           "repo": _string("Repository name."), "title": _string("Issue title."),
           "body": _string("Issue body, in GitHub-flavoured markdown."),
           "labels": {"type": "array", "items": {"type": "string"},
                      "description": "Labels to apply to this issue."},
           "assignees": {"type": "array", "items": {"type": "string"},
                         "description": "Usernames to assign to this issue."}},
          ("owner", "repo", "title"), "gh"),
)


def tools_as_text(tools: tuple[FunctionTool, ...] = TEN_TOOLS) -> str:
    """The definitions as the text gpt-oss reads (harmony's `# Tools` section), for models whose
    prompt format has no place for tools: the same length of shared opening."""
    from fireside.core.chat.harmony_tools import Namespace, tools_section

    return tools_section([Namespace("functions", tools=tools)])

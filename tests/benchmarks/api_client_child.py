"""The API benchmark's client, in a process of its own as a real client is: one line on stdin
(a JSON request body) -> one line on stdout ({"ttft_s", "tokens_per_s", "span_s" (first to last
delta), "deltas", "text", and "prompt_tokens", "completion_tokens", "cached_tokens" when the
body asks for usage})."""

from __future__ import annotations

import json
import sys
import time

import openai


def main() -> None:
    url, key = sys.argv[1], sys.argv[2]
    with openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=600) as client:
        for line in sys.stdin:
            body = json.loads(line)
            t0 = time.perf_counter()
            stamps, text, usage = [], [], {}
            for c in client.chat.completions.create(**body, stream=True):
                if c.usage is not None:  # asked for with stream_options.include_usage
                    details = c.usage.prompt_tokens_details
                    usage = {"prompt_tokens": c.usage.prompt_tokens,
                             "completion_tokens": c.usage.completion_tokens,
                             "cached_tokens": (details.cached_tokens or 0) if details else 0}
                if c.choices and c.choices[0].delta.content:
                    stamps.append(time.perf_counter())
                    text.append(c.choices[0].delta.content)
            rate = ((len(stamps) - 1) / (stamps[-1] - stamps[0])
                    if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0)
            print(json.dumps({"ttft_s": stamps[0] - t0 if stamps else -1.0, "tokens_per_s": rate,
                              "span_s": stamps[-1] - stamps[0] if stamps else 0.0,
                              "deltas": len(stamps), "text": "".join(text), **usage}),
                  flush=True)


if __name__ == "__main__":
    main()

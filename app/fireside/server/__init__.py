"""Fireside's local OpenAI-compatible API: Chat Completions and Responses over HTTP.

A front end of the conversation service like the window and the CLI: it parses requests and
streams events; turns run on the one engine thread (`engine_access`). Starlette on uvicorn, on
its own thread and event loop (`runner`). No Qt here.
"""

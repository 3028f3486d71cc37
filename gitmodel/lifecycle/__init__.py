"""Lifecycle and client communication: changelogs, model cards, lineage (docs/lifecycle.md).

Everything here reads the registry (one ref pass, metadata in one batch) and returns
plain data or Markdown text; nothing prints. Metadata is data a pusher wrote, so every
value that reaches Markdown passes `markdown.text` first.
"""

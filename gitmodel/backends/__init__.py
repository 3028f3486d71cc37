"""Serving backends: llama.cpp (process per model or router), vLLM, Ollama, a command, the reference server.

The contract is in base.py; each kind is one module.
"""

"""RIN (Rhyzomic Intelligence Node): a self-hosted, OpenAI-compatible LLM gateway."""

__version__ = "1.1.0"

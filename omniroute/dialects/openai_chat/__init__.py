"""OpenAI Chat Completions.

The translating codec loads on first use (``CODEC``): the pass-through hot path needs
only ``request`` and ``stream``, and start-up time matters.
"""


def __getattr__(name: str):
    if name == "CODEC":
        from omniroute.dialects.openai_chat.codec import CODEC

        return CODEC
    raise AttributeError(name)


__all__ = ["CODEC"]

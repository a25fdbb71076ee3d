"""OpenAI Chat Completions.

The translating codec loads on first use (``CODEC``): the pass-through hot path needs
only ``request`` and ``stream``, and start-up time matters.
"""


def __getattr__(name: str):
    if name in ("CODEC", "OpenAIChatCodec"):
        from omniroute.dialects.openai_chat.codec import OpenAIChatCodec

        return OpenAIChatCodec() if name == "CODEC" else OpenAIChatCodec
    raise AttributeError(name)


__all__ = ["CODEC", "OpenAIChatCodec"]

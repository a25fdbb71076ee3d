"""OpenAI Chat Completions."""

from omniroute.dialects.openai_chat.codec import OpenAIChatCodec

CODEC = OpenAIChatCodec()

__all__ = ["CODEC", "OpenAIChatCodec"]

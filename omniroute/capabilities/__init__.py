"""Non-chat capabilities (embeddings, image generation): validation and each provider's wire shape."""

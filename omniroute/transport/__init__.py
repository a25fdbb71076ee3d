"""The only network I/O of the gateway: one aiohttp session and the stream framing."""

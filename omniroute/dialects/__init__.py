"""One codec per wire dialect, used for clients and upstreams alike."""

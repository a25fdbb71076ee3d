"""Sync between OmniRoute instances: one pushes its configuration to another or pulls from it.

- ``transit``: sync tokens and the encryption of what travels (keys derived from the token).
- ``store``: the synced tables, deletion marks and the last-writer-wins merge.
- ``snapshot``: a snapshot's secrets sealed for transit and re-encrypted for rest; reload after a merge.
- ``peer``: this instance's identity and remote, and the push and pull calls.

The routes are in ``omniroute/server/api/sync.py``.
"""

"""Subscription sign-in: the providers' OAuth facts, the flows, and fresh tokens for requests."""

from omniroute.oauth.flows import (
    DevicePending,
    Grant,
    OAuthError,
    OAuthFlows,
    OAuthRejected,
    OAuthUnavailable,
)
from omniroute.oauth.providers import PROVIDERS, OAuthProvider, OAuthProviders
from omniroute.oauth.tokens import SignInExpired, TokenManager, connection_values

__all__ = [
    "PROVIDERS", "DevicePending", "Grant", "OAuthError", "OAuthFlows", "OAuthProvider", "OAuthProviders",
    "OAuthRejected", "OAuthUnavailable", "SignInExpired", "TokenManager", "connection_values",
]

"""The provider catalog (data) and the registry built from it at start-up."""

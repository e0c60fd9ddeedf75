"""The platform-free core of assessbot."""

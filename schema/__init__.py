"""mailauth.schema: what mailauth.yaml may say (pydantic models) and how it is read."""

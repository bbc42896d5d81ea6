"""The web layer: the only package that imports the web framework (FastAPI / Starlette)."""

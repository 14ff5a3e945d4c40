"""Application services: one function per use case, called by the thin routers."""

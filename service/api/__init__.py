"""The REST API: FastAPI app, thin routers, dependencies and the one error shape."""

"""The relay: a small streaming chat server that keeps the API key on the server."""

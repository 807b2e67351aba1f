"""The web console: server-rendered pages for agents, calling the services over gRPC
with the signed-in person's own bearer token (it holds no case data)."""

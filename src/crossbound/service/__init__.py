"""The model party over HTTP: OpenAI-compatible endpoints and crossbound collaboration routes.

``crossbound serve`` runs it; :func:`crossbound.service.app.create_app` builds the same app
for tests and embedding. Modules: ``keys`` (API keys, held as hashes), ``generation`` (the
token loop behind every completion), ``errors`` (the error answers), ``artifacts`` (the
artifact store), ``state`` (limits, per-app state, turns, authentication), ``openai_api`` and
``collab`` (routes), ``app`` (the factory, body limits, error handlers), ``serve`` (loading
and running under uvicorn).
Nothing is imported here, so importing a submodule stays cheap.
"""

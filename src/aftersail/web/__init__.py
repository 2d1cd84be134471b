"""The HTTP shell: app factory, shared dependencies, base templates and static files."""

"""The web layer: one router per resource (pages and JSON together) over plain functions, and
the plumbing they share — services, identity, security, errors, schemas. docs/architecture-web.md
has the map."""

"""HTTP routers: pages (HTML + htmx fragments), the JSON API, and media."""

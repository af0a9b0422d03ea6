"""Takes: one prompt fanned out to several video models, compared side by side and voted on."""

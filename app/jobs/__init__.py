"""Background generation of takes: one code path (generate.py), two runners (in-process, arq)."""

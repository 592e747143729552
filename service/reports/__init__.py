"""Shareable reports of an eval: a self-contained HTML page and streamed CSV/JSONL rows."""

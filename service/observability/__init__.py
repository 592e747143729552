"""What operators watch: Prometheus metrics read from the database and Redis at scrape time
(metrics.py), and structured logs that carry the eval and shard they are about (logs.py)."""

"""The monitor service: turn outcomes into accuracy and drift metrics on /metrics."""

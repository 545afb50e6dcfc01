"""Kafka at the edge: the runtime loop every consumer runs, the checkpoint store, clients, topics, the local broker."""

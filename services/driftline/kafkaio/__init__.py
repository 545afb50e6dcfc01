"""Kafka at the edge: the local broker, topic creation and producer/consumer set-up."""

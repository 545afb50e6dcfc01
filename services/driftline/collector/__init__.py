"""The collector service: ingest sensor events over HTTP and MQTT into Kafka."""

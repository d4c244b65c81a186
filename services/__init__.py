"""Shared kernel: settings, contract documents, ZooKeeper store, Kafka helpers, metrics, logging."""

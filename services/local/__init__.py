"""Launchers for real local servers (ZooKeeper, the Kafka-protocol broker).

Used by the integration tests, the benchmarks and the local stack alike, so a
server is started one way everywhere.
"""

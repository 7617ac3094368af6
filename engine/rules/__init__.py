"""The rules engine: YAML rule files compiled to durable_rules, with a reference evaluator."""

"""Relays and outputs controlled through MQTT command topics, with safety rules."""

"""Sensors: config (one union of every driver), registry (config -> driver), scheduler (one task per
sensor), payloads, topics and Home Assistant discovery."""
